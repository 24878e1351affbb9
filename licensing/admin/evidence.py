"""Evidence files: attached by an officer through the admin form, served only by a view that checks access."""

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.http import content_disposition_header

from licensing import access, evidence, ownership, services
from licensing.admin.base import ReasonInlineFormSet, ScopedAdmin, ScopedInline
from licensing.admin.filters import AttentionFilter, ShownYearFilter
from licensing.models import EvidenceFile


class EvidenceFileForm(forms.ModelForm):
    upload = forms.FileField(label="File", help_text=f"{evidence.ACCEPTED}; told by the file's content, not its name.")

    class Meta:
        model = EvidenceFile
        fields = "__all__"  # noqa: DJ007 (the admin's fieldsets choose what the page shows)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # A stored file is never replaced: attach a new one, so what was kept stays as it was.
            self.fields.pop("upload", None)
        elif "upload" in self.fields:
            self.fields["upload"].help_text += f" At most {settings.EVIDENCE_MAX_UPLOAD_MB} MB."

    def clean_upload(self):
        upload = self.cleaned_data["upload"]
        limit = settings.EVIDENCE_MAX_UPLOAD_MB * 1_000_000
        if upload.size is not None and upload.size > limit:
            raise evidence.too_big(name=upload.name, size=upload.size, max_bytes=limit)
        content = upload.read(limit + 1)
        evidence.check(content, name=upload.name, max_bytes=limit)
        self.upload_content = content
        return upload


def download_link(obj):
    """The evidence's download link (the only way its file is served), or why there is none."""
    if not obj.pk:
        return "-"
    if not obj.file:
        return "Removed by the retention purge; the SHA-256 below is kept."
    url = reverse("admin:licensing_evidencefile_download", args=[obj.pk])
    return format_html('<a href="{}">Download {}</a>', url, obj.original_name)


class EvidenceInlineForm(EvidenceFileForm):
    """An inline row: the upload on new rows only; a stored row shows its file and keeps it."""

    def __init__(self, *args, **kwargs):
        forms.ModelForm.__init__(self, *args, **kwargs)
        upload = self.fields["upload"]
        if self.instance.pk:
            upload.disabled, upload.required, upload.help_text = True, False, "Kept as attached."
        else:
            upload.help_text += f" At most {settings.EVIDENCE_MAX_UPLOAD_MB} MB."

    def clean_upload(self):
        return None if self.instance.pk else super().clean_upload()


class EvidenceInlineFormSet(ReasonInlineFormSet):
    """New rows are stored through services.evidence_attach (checked, hashed), deletions through evidence_delete."""

    def save_record(self, obj, form, *, reason: str):
        if obj.pk is not None:
            return super().save_record(obj, form, reason=reason)
        if obj.organization_id is None:
            # On a count, license or filing the file belongs to that record's organization.
            obj.organization_id = ownership.organization_id_of(self.instance)
        upload = form.cleaned_data["upload"]
        return services.evidence_attach(
            evidence_file=obj, content=form.upload_content, name=upload.name, actor=self.actor, reason=reason
        )

    def delete_existing(self, obj, commit=True):
        if commit:
            services.evidence_delete(evidence_file=obj, actor=self.actor, reason="Deleted in the admin")

    # The person the page is drawn for (EvidenceInline.get_formset): a row they may only read is read-only.
    viewer = None

    @cached_property
    def forms(self):
        built = super().forms
        for form in built:
            # A vendor's page lists the letters of every organization the person sees, and may change only some.
            if form.instance.pk and not access.can(self.viewer, form.instance, access.CHANGE):
                for name, field in form.fields.items():
                    field.disabled = True
                    if isinstance(field, forms.ModelChoiceField) and name != "id" and form.initial.get(name):
                        # An organization the person reads but may not pick: offered as it stands, not changeable.
                        field.queryset = field.queryset.model._default_manager.filter(pk=form.initial[name])
        return built


class EvidenceInline(ScopedInline):
    """The evidence files of one count, license or filing: listed with their download links, new ones uploaded
    through the same checks as the evidence page. Only the files the person may see are listed."""

    model = EvidenceFile
    form = EvidenceInlineForm
    formset = EvidenceInlineFormSet
    verbose_name = "evidence file"
    fields = ["title", "upload", "review_on", "download", "kind", "sha256"]
    readonly_fields = ["download", "kind", "sha256"]

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        return type(formset.__name__, (formset,), {"viewer": request.user})

    def get_queryset(self, request):
        # Scoped here, not by the parent: a vendor is shared, its letters are each organization's own.
        rows = super().get_queryset(request).select_related("organization")
        return access.restrict(rows, request.user, access.VIEW)

    @admin.display(description="File")
    def download(self, obj):
        return download_link(obj)


class UserCountEvidenceInline(EvidenceInline):
    fk_name = "user_count"


class LicenseEvidenceInline(EvidenceInline):
    fk_name = "license"


class FilingEvidenceInline(EvidenceInline):
    fk_name = "filing"


class VendorEvidenceInline(EvidenceInline):
    """A vendor's letters: each row names the organization it belongs to (only the person's own are listed)."""

    fk_name = "vendor"
    fields = ["organization", "title", "upload", "review_on", "download", "kind", "sha256"]


@admin.register(EvidenceFile)
class EvidenceFileAdmin(ScopedAdmin):
    form = EvidenceFileForm
    list_display = ["title", "organization", "attached_to", "kind", "review_on", "uploaded_at"]
    list_select_related = [
        "organization",
        "user_count__application",
        "license__application",
        "vendor",
        "filing",
        "roster__application",
    ]
    list_filter = [ShownYearFilter, AttentionFilter, "kind", "review_on"]
    search_fields = ["title", "original_name", "organization__name"]
    ordering = ["organization__name", "-uploaded_at", "-pk"]
    autocomplete_fields = ["organization", "user_count", "license", "vendor", "filing", "roster"]
    readonly_fields = ["download", "original_name", "kind", "size", "sha256", "uploaded_by_name", "uploaded_at"]
    fieldsets = [
        (None, {"fields": ["organization", "title", "upload", "review_on", "notes"]}),
        (
            "Attached to (one of these)",
            {"fields": ["user_count", "license", "vendor", "filing", "roster"]},
        ),
        ("Stored file", {"fields": ["download", "original_name", "kind", "size", "sha256", "uploaded_by_name"]}),
    ]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None:
            # The file is kept as attached: its page shows it, the upload is only on the add page.
            fieldsets = [
                (name, {**options, "fields": [f for f in options["fields"] if f != "upload"]})
                for name, options in fieldsets
            ]
        return fieldsets

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        upload = form.cleaned_data["upload"]
        services.evidence_attach(
            evidence_file=obj,
            content=form.upload_content,
            name=upload.name,
            actor=request.user,
            reason=self.change_reason_of(form, change),
        )
        return None

    def delete_model(self, request, obj):
        # The stored file goes too, once the deletion commits; the history keeps its SHA-256 and who deleted it.
        services.evidence_delete(evidence_file=obj, actor=request.user, reason="Deleted in the admin")

    @admin.display(description="Attached to")
    def attached_to(self, obj):
        target = obj.target
        return str(target) if target is not None else "-"

    @admin.display(description="Uploaded by")
    def uploaded_by_name(self, obj):
        person = obj.uploaded_by
        return (person.get_full_name() or person.get_username()) if person else "-"

    @admin.display(description="File")
    def download(self, obj):
        return download_link(obj)

    def get_urls(self):
        return [
            path(
                "<int:object_id>/download/",
                self.admin_site.admin_view(self.download_view),
                name="licensing_evidencefile_download",
            ),
        ] + super().get_urls()

    def download_view(self, request, object_id):
        item = self.get_object(request, str(object_id))
        if item is None:
            raise Http404("No such evidence file.")
        if not self.has_view_permission(request, item):
            raise PermissionDenied
        try:
            content = services.evidence_content(item)
        except FileNotFoundError:
            raise Http404("The evidence file is no longer stored.") from None
        except ValidationError as error:
            return HttpResponse(" ".join(error.messages), status=409, content_type="text/plain; charset=utf-8")
        kinds = {kind.code: kind.content_type for kind in evidence.KINDS}
        response = HttpResponse(content, content_type=kinds.get(item.kind, "application/octet-stream"))
        response["Content-Disposition"] = content_disposition_header(True, item.original_name or "evidence")
        response["X-Content-Type-Options"] = "nosniff"
        return response
