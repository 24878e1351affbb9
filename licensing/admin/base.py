"""What every licensing admin shares: organization scoping, read-only history, page-level loading."""

from decimal import Decimal

from django import forms
from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import models
from django.http import Http404
from django.template.response import TemplateResponse
from django.utils.functional import lazy
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from licensing import access, changes, standing

this_year = standing.current_license_year
# Column headings name the year they show, evaluated per request so they roll over on January 1.
with_year = lazy(lambda text: f"{text} {this_year()}", str)

# Deleting licensing records in bulk would erase evidence; single deletes stay possible for superusers.
admin.site.disable_action("delete_selected")
# Lists carry many columns; the sidebar would push them off screen.
admin.site.enable_nav_sidebar = False


def dollars(amount: Decimal | None, *, estimate: bool = False) -> str:
    if amount is None:
        return "-"
    text = f"${amount:,.2f}"
    return f"{text} (est.)" if estimate else text


def position_badge(status) -> str:
    return format_html('<span class="position position-{}" title="{}">{}</span>', status.position, status.reason, status.label)


class ReadOnlyHistoryMixin:
    """History pages an auditor can read: newest first, who, when, why, and each field as old -> new.

    History is evidence: simple-history's per-version form (which can revert) is closed to everyone.
    """

    history_list_per_page = 100

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        raise PermissionDenied("Past versions cannot be restored or edited. Make a new change instead; history keeps both.")

    def history_view(self, request, object_id, extra_context=None):
        history_model = self.model.history.model
        pk_name = self.model._meta.pk.attname
        rows = history_model.objects.filter(**{pk_name: object_id}).order_by("-history_date", "-history_id")
        obj = self.get_queryset(request).filter(pk=object_id).first()
        if obj is None:
            # A deleted record: its history stays readable to those who could see its organization.
            newest = rows.first()
            if newest is None or not self.may_read_deleted(request, newest):
                raise Http404("No such record, or it belongs to an organization you do not have access to.")
            obj = newest.instance
        if not self.has_view_history_or_change_history_permission(request, obj):
            raise PermissionDenied
        page = Paginator(rows, self.history_list_per_page).get_page(request.GET.get("p"))
        described = changes.describe(page.object_list)
        versions = [
            {"row": row, "action": changes.action_label(row), "changes": described[(history_model, row.history_id)]}
            for row in page.object_list
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": f"History: {obj}",
            "subtitle": None,
            "opts": self.model._meta,
            "object": obj,
            "versions": versions,
            "page_obj": page,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/licensing/object_history.html", context)

    def may_read_deleted(self, request, newest_row) -> bool:
        if request.user.is_superuser:
            return True
        if newest_row.organization_id is None:
            return self.has_view_permission(request)
        return access.organizations(request.user).filter(pk=newest_row.organization_id).exists()


REASON_FIELD = "change_reason"
# The numbers the royalty rests on: every edit must say why (issue 3, "complete capture").
REASON_REQUIRED = {"usercount", "license"}
REASON_MISSING = "Say why this changed, e.g. 'January recount' or 'AMA agreement signed'. It is kept in the history."


def reason_required(model) -> bool:
    return model._meta.model_name in REASON_REQUIRED


class ReasonForm(forms.ModelForm):
    """Adds 'Reason for this change', stored as the history row's change reason."""

    change_reason = forms.CharField(
        label="Reason for this change",
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Shown to auditors in the history. Required when changing user counts and licenses.",
    )

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and reason_required(self._meta.model) and self.has_changed() and not cleaned.get(REASON_FIELD, "").strip():
            self.add_error(REASON_FIELD, REASON_MISSING)
        return cleaned


class ReasonInlineFormSet(forms.BaseInlineFormSet):
    """Edits of counts and licenses in an inline need the parent page's reason too."""

    def clean(self):
        super().clean()
        if not reason_required(self.model) or (self.data.get(REASON_FIELD) or "").strip():
            return
        if any(form.instance.pk and form.has_changed() for form in self.forms):
            raise forms.ValidationError(
                f"You changed {self.model._meta.verbose_name_plural} here: {REASON_MISSING} (field at the top of the page)."
            )

    def save_new(self, form, commit=True):
        form.instance._change_reason = _reason(self.data, default="Added in the admin")
        return super().save_new(form, commit)

    def save_existing(self, form, obj, commit=True):
        obj._change_reason = _reason(self.data, default="Edited in the admin")
        return super().save_existing(form, obj, commit)


def _reason(data, *, default: str) -> str:
    return (data.get(REASON_FIELD) or "").strip() or default


class ReasonMixin:
    """Every admin save records who (simple-history) and why (this mixin) in the history row."""

    # Django 6's default, adopted now: an address typed without a scheme is taken as https.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_form(self, request, obj=None, change=False, **kwargs):
        if self.has_change_permission(request, obj) or (obj is None and self.has_add_permission(request)):
            kwargs["form"] = type(f"{self.form.__name__}WithReason", (ReasonForm, self.form), {})
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        may_edit = self.has_change_permission(request, obj) if obj else self.has_add_permission(request)
        if may_edit and not any(REASON_FIELD in (options.get("fields") or ()) for _, options in fieldsets):
            fieldsets.append(("Reason for this change", {"fields": [REASON_FIELD]}))
        return fieldsets

    def save_model(self, request, obj, form, change):
        obj._change_reason = _reason(form.cleaned_data, default="Edited in the admin" if change else "Added in the admin")
        super().save_model(request, obj, form, change)

    def delete_model(self, request, obj):
        obj._change_reason = "Deleted in the admin"
        obj._history_user = request.user
        super().delete_model(request, obj)


class PageChangeList(ChangeList):
    """A changelist that lets its admin load what the columns need for the whole page at once."""

    def get_results(self, request):
        super().get_results(request)
        self.model_admin.prepare_page(request, self.result_list)


class ScopedAdmin(ReasonMixin, ReadOnlyHistoryMixin, SimpleHistoryAdmin):
    """Admin for an organization's data: every queryset, choice and object goes through licensing.access."""

    show_full_result_count = False
    list_per_page = 100
    list_max_show_all = 500
    view_on_site = False

    def get_changelist(self, request, **kwargs):
        return PageChangeList

    def prepare_page(self, request, objects) -> None:
        """Hook: load per-page data (counts, licenses, rates) in bulk before the columns render."""

    def get_queryset(self, request):
        return access.restrict(super().get_queryset(request), request.user, access.VIEW)

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            # Out-of-scope and missing objects look the same, so ids of other organizations reveal nothing.
            raise Http404("No such record, or it belongs to an organization you do not have access to.")
        return obj

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (
            obj is None or access.can(request.user, obj, access.CHANGE)
        )

    def has_delete_permission(self, request, obj=None):
        # Records are corrected or superseded, not deleted; only a superuser may remove a mistaken entry.
        return request.user.is_superuser and super().has_delete_permission(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.remote_field.model
        if access.is_scoped(related):
            kwargs["queryset"] = access.restrict(related._default_manager.all(), request.user, access.CHANGE)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        related = db_field.remote_field.model
        if access.is_scoped(related):
            kwargs["queryset"] = access.restrict(related._default_manager.all(), request.user, access.VIEW)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class ApplicationYearAdmin(ScopedAdmin):
    """Admin for records of one application in one license year (counts, licenses): shows their standing."""

    def prepare_page(self, request, objects):
        applications = list({obj.application_id: obj.application for obj in objects}.values())
        by_pair = standing.standings(applications, {obj.license_year for obj in objects})
        for obj in objects:
            obj.standing = by_pair[(obj.application_id, obj.license_year)]

    def standing_of(self, obj) -> standing.Standing:
        if not hasattr(obj, "standing"):
            obj.standing = standing.standings([obj.application], [obj.license_year])[(obj.application_id, obj.license_year)]
        return obj.standing

    @admin.display(description="System", ordering="application__name")
    def system(self, obj):
        return obj.application.name

    @admin.display(description="Organization", ordering="application__organization__name")
    def organization(self, obj):
        return obj.application.organization

    @admin.display(description="Position")
    def position(self, obj):
        return position_badge(self.standing_of(obj).position) if obj.pk else "-"


class ScopedInline(admin.TabularInline):
    """An inline under a scoped parent: editable only by people who may change the parent."""

    extra = 0
    show_change_link = True
    formset = ReasonInlineFormSet

    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) and (obj is None or access.can(request.user, obj, access.CHANGE))

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (
            obj is None or access.can(request.user, obj, access.CHANGE)
        )

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_delete_permission(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.remote_field.model
        if access.is_scoped(related):
            kwargs["queryset"] = access.restrict(related._default_manager.all(), request.user, access.CHANGE)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ReferenceAdmin(ReasonMixin, ReadOnlyHistoryMixin, SimpleHistoryAdmin):
    """Admin for reference data shared by every organization (rates, factors, vendors, data files)."""

    list_per_page = 100
    show_full_result_count = False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_delete_permission(request, obj)
