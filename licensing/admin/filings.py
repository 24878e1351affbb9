from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect, StreamingHttpResponse
from django.urls import path, reverse

from licensing import access, filings, identifiers, job_kinds, services
from licensing.admin.base import ScopedAdmin, this_year
from licensing.admin.evidence import FilingEvidenceInline
from licensing.admin.filters import AttentionFilter, ShownYearFilter
from licensing.admin.organization_pages import OrganizationPage
from licensing.choices import FilingStatus
from licensing.models import Filing, UserCount


class FilingForm(forms.ModelForm):
    class Meta:
        model = Filing
        fields = "__all__"  # noqa: DJ007 (the admin's fieldsets choose what the page shows)
        widgets = {"applications": forms.CheckboxSelectMultiple}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields.get("applications")
        if field is not None and self.instance.organization_id:
            # Only this organization's applications can be part of its application to the AMA, so their
            # names say enough (and reading each one's organization for its full title would cost a query each).
            field.queryset = field.queryset.filter(organization_id=self.instance.organization_id).order_by("name")
            field.label_from_instance = lambda application: application.name

    def clean(self):
        cleaned = super().clean()
        organization, chosen = cleaned.get("organization"), cleaned.get("applications")
        if organization is not None and chosen:
            strangers = [app.name for app in chosen if app.organization_id != organization.pk]
            if strangers:
                self.add_error("applications", f"These belong to another organization: {', '.join(strangers)}.")
        return cleaned


@admin.register(Filing)
class FilingAdmin(ScopedAdmin):
    inlines = [FilingEvidenceInline]
    form = FilingForm
    change_form_template = "admin/licensing/filing/change_form.html"
    list_display = [
        "document",
        "organization",
        "license_year",
        "status",
        "application_total",
        "submitted_at",
        "short_hash",
    ]
    list_select_related = ["organization"]
    # The frozen PDF and the data sent: read by their download and check, never by the list.
    list_deferred = ("pdf", "snapshot")
    list_filter = [ShownYearFilter, AttentionFilter, "license_year", "status"]
    search_fields = ["organization__name", "=ama_reference"]
    ordering = ["-license_year", "organization__name", "-pk"]
    autocomplete_fields = ["organization"]
    readonly_fields = [
        "document", "status", "submitted_at", "submitted_by_name", "pdf_sha256", "supersedes", "readiness",
    ]  # fmt: skip
    actions = ["download_zip"]
    fieldsets = [
        (None, {"fields": ["document", "organization", "license_year", "status", "supersedes"]}),
        ("Applications included", {"fields": ["applications", "readiness"]}),
        (
            "Signatory and attestation",
            {"fields": ["signatory_name", "signatory_title", "attests_accurate", "attests_will_report_changes"]},
        ),
        ("Submission", {"fields": ["submitted_at", "submitted_by_name", "pdf_sha256", "ama_reference"]}),
    ]

    def get_queryset(self, request):
        # A subquery, not a join and GROUP BY: grouping would carry every column, the PDF's bytes included,
        # into each query of the list (its year filter's too).
        included = (
            Filing.applications.through.objects.filter(filing=OuterRef("pk"))
            .order_by()
            .values("filing")
            .annotate(total=Count("pk"))
            .values("total")
        )
        # The frozen PDF's bytes are read by the download alone (services.filing_pdf loads them then), not by the
        # filing's change or history page.
        return super().get_queryset(request).defer("pdf").annotate(application_count=Coalesce(Subquery(included), 0))

    def has_change_permission(self, request, obj=None):
        # What was sent to the AMA stays as sent; a correction is a new filing.
        return super().has_change_permission(request, obj) and (obj is None or not obj.is_frozen)

    def may_act_on(self, request, filing) -> bool:
        return (
            self.has_view_permission(request, filing)
            and access.can(request.user, filing, access.CHANGE)
            and (request.user.has_perm("licensing.change_filing"))
        )

    @admin.display(description="Document")
    def document(self, obj):
        return obj.document_id if obj.pk else "-"

    @admin.display(description="Submitted by")
    def submitted_by_name(self, obj):
        # A name, not a link: officers may not open people's account pages.
        person = obj.submitted_by
        return (person.get_full_name() or person.get_username()) if person else "-"

    @admin.display(description="Applications", ordering="application_count")
    def application_total(self, obj):
        return obj.application_count

    @admin.display(description="PDF SHA-256")
    def short_hash(self, obj):
        return f"{obj.pdf_sha256[:12]}..." if obj.pdf_sha256 else "-"

    @admin.display(description="Ready to submit")
    def readiness(self, obj):
        if not obj.pk:
            return "Save the draft to check it."
        if obj.is_frozen:
            return "Submitted: frozen as sent."
        problems = filings.submission_problems(obj)
        return (
            "Yes: everything the AMA asks for is filled in." if not problems else " ".join(f"- {p}" for p in problems)
        )

    # Object pages ------------------------------------------------------------------------------

    def get_urls(self):
        def view(function):
            return self.admin_site.admin_view(function)

        return [
            path("<int:object_id>/pdf/", view(self.pdf_view), name="licensing_filing_pdf"),
            path("<int:object_id>/submit/", view(self.submit_view), name="licensing_filing_submit"),
            path("<int:object_id>/verify/", view(self.verify_view), name="licensing_filing_verify"),
            path("<int:object_id>/correct/", view(self.correct_view), name="licensing_filing_correct"),
            path("<int:object_id>/outcome/", view(self.outcome_view), name="licensing_filing_outcome"),
            path("<int:object_id>/acknowledge/", view(self.acknowledge_view), name="licensing_filing_acknowledge"),
        ] + super().get_urls()

    def _filing(self, request, object_id) -> Filing:
        filing = self.get_object(request, str(object_id))
        if not self.has_view_permission(request, filing):
            raise PermissionDenied
        return filing

    def _back(self, filing):
        return HttpResponseRedirect(reverse("admin:licensing_filing_change", args=[filing.pk]))

    def pdf_view(self, request, object_id):
        filing = self._filing(request, object_id)
        response = HttpResponse(services.filing_pdf(filing), content_type="application/pdf")
        name = filing.file_name if filing.is_frozen else filing.file_name.replace(".pdf", "_DRAFT.pdf")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    def submit_view(self, request, object_id):
        filing = self._filing(request, object_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.may_act_on(request, filing):
            raise PermissionDenied
        try:
            filing = services.filing_submit(filing=filing, actor=request.user)
        except ValidationError as problems:
            messages.error(request, "Not submitted. Fix these first:")
            for problem in problems.messages:
                messages.error(request, problem)
            return self._back(filing)
        messages.success(request, f"Submitted and frozen. PDF SHA-256: {filing.pdf_sha256}")
        return self._back(filing)

    def verify_view(self, request, object_id):
        filing = self._filing(request, object_id)
        if not filing.is_frozen:
            messages.warning(request, "Drafts are not frozen yet; there is nothing to verify.")
        elif services.filing_verify(filing):
            messages.success(request, f"Match: the stored PDF still has SHA-256 {filing.pdf_sha256}.")
        else:
            messages.error(request, "Mismatch: the stored PDF no longer matches the SHA-256 recorded on submission.")
        return self._back(filing)

    def correct_view(self, request, object_id):
        filing = self._filing(request, object_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not (request.user.has_perm("licensing.add_filing") and access.can(request.user, filing, access.CHANGE)):
            raise PermissionDenied
        try:
            correction = services.filing_correct(filing=filing, actor=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return self._back(filing)
        messages.success(
            request, f"Correction {correction.document_id} started; the submitted application stays as sent."
        )
        return self._back(correction)

    def outcome_view(self, request, object_id):
        filing = self._filing(request, object_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not (request.user.has_perm("licensing.change_filing") and access.can(request.user, filing, access.CHANGE)):
            raise PermissionDenied
        try:
            services.filing_record_outcome(
                filing=filing,
                status=request.POST.get("status", ""),
                ama_reference=request.POST.get("ama_reference", "").strip(),
                actor=request.user,
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        return self._back(filing)

    def acknowledge_view(self, request, object_id):
        """Acknowledge one included count's plausibility warning with a reason (POST: count, reason)."""
        filing = self._filing(request, object_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.may_act_on(request, filing):
            raise PermissionDenied
        if filing.is_frozen:
            messages.error(request, "This application was already submitted; its counts are acknowledged as sent.")
            return self._back(filing)
        count_id = identifiers.record_id(request.POST.get("count", ""))
        count = (
            UserCount.objects.filter(pk=count_id, application__filings=filing, license_year=filing.license_year).first()
            if count_id is not None
            else None
        )
        if count is None or not access.can(request.user, count, access.CHANGE):
            messages.error(request, "Not acknowledged: that user count is not part of this application.")
            return self._back(filing)
        try:
            services.count_acknowledge_plausibility(
                count=count, actor=request.user, reason=request.POST.get("reason", "")
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return self._back(filing)
        messages.success(request, f"Acknowledged for {count}: the reason is kept on the count and in its history.")
        return self._back(filing)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        filing = self.get_object(request, object_id)
        extra = {
            "filing": filing,
            "plausibility": filings.plausibility_warnings(filing) if filing is not None else [],
            "may_act": self.may_act_on(request, filing),
            "FilingStatus": FilingStatus,
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra)

    @admin.action(
        description="Build one ZIP of the selected applications' PDFs (to download when ready)", permissions=["view"]
    )
    def download_zip(self, request, queryset):
        from licensing import pdf

        chosen = list(queryset.select_related("organization").order_by("organization__name", "license_year", "pk"))
        if not chosen:
            self.message_user(request, "None of the selected applications is available to you.", messages.WARNING)
            return None
        # Built by a job into storage (about 0.2 s a PDF); the job's page offers it when ready.
        job = job_kinds.zip_as_job(filings=chosen, actor=request.user)
        if job is not None:
            return HttpResponseRedirect(job.get_absolute_url())
        items = [(self._zip_name(filing), lambda filing=filing: services.filing_pdf(filing)) for filing in chosen]
        response = StreamingHttpResponse(pdf.stream_zip(items), content_type="application/zip")
        response["Content-Disposition"] = 'attachment; filename="CPT-license-applications.zip"'
        return response

    @staticmethod
    def _zip_name(filing) -> str:
        return job_kinds.zip_member_name(filing)


class PrepareForm(forms.Form):
    license_year = forms.TypedChoiceField(label="License year", coerce=int)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        year = this_year()
        self.fields["license_year"].choices = [(y, y) for y in (year, year + 1, year - 1)]


class PreparePage(OrganizationPage):
    """Organization page: "Prepare application for year ..." creates a draft filing and offers its PDF."""

    template_name = "admin/licensing/organization/prepare_filing.html"
    title = "Prepare the CPT license application: {organization}"
    methods = ("GET", "POST")
    action = access.CHANGE
    permission = "licensing.add_filing"
    refusal = "Preparing an application needs an officer's access to this organization."

    def respond(self, request, organization):
        form = PrepareForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            year = form.cleaned_data["license_year"]
            filing = services.filing_prepare(organization=organization, license_year=year, actor=request.user)
            included = filing.applications.count()
            messages.success(
                request,
                f"Draft application {filing.document_id} prepared with {included} application(s) that need a "
                "direct license. Preview the PDF, complete the signatory, then submit.",
            )
            return HttpResponseRedirect(reverse("admin:licensing_filing_change", args=[filing.pk]))
        year = form.cleaned_data["license_year"] if form.is_bound and form.is_valid() else this_year()
        return self.render(
            request,
            organization,
            form=form,
            license_year=year,
            included=filings.default_applications(organization, year),
        )
