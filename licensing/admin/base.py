"""What every licensing admin shares: scoping through licensing.access, saving through the audited write path,
read-only history, and page-level loading."""

from decimal import Decimal
from functools import cached_property

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import models
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.functional import lazy
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from licensing import access, ownership, royalty, services, standing, versions
from licensing.admin import versions as form_versions
from licensing.admin.transfers import TransfersMixin
from licensing.admin.widgets import (
    SafeAutocompleteSelect,
    SafeAutocompleteSelectMultiple,
    SafeModelMultipleChoiceField,
    SharedAutocompleteSelect,
    name_fields,
    share_choices,
    within_storage,
)
from licensing.audit import diffs
from licensing.shown_year import shown_year

this_year = standing.current_license_year
# Column headings name the year they show (?year=, or the current one), evaluated per request.
with_year = lazy(lambda text: f"{text} {shown_year()}", str)

NOT_FOUND = "No such record, or it belongs to an organization you do not have access to."


def dollars(amount: Decimal | None, *, estimate: bool = False) -> str:
    # The wording of estimates is licensing.royalty's, shared with the exports and the PDF.
    return royalty.dollars(amount, estimate=estimate)


def position_badge(status) -> str:
    return format_html(
        '<span class="position position-{}" title="{}">{}</span>', status.position, status.reason, status.label
    )


class WrittenByThePortalMixin:
    """Records only the portal writes (imports, reminders sent, jobs): people read them; nobody adds, edits or
    deletes one."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyHistoryMixin:
    """History pages an auditor can read: newest first, who, when, why, and each field as old -> new.

    History is evidence: simple-history's per-version form (which can revert) is closed to everyone.
    """

    history_list_per_page = 100

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        raise PermissionDenied(
            "Past versions cannot be restored or edited. Make a new change instead; history keeps both."
        )

    def history_view(self, request, object_id, extra_context=None):
        history_model = self.model.history.model
        pk_name = self.model._meta.pk.attname
        if not _is_id(self.model, object_id):
            # /organization/abc/history/ is a missing page, as /organization/abc/change/ is.
            raise Http404(NOT_FOUND)
        rows = history_model.objects.filter(**{pk_name: object_id}).order_by("-history_date", "-history_id")
        obj = self.get_queryset(request).filter(pk=object_id).first()
        if obj is None:
            # A deleted record: its history stays readable to those who could see its organization.
            newest = rows.first()
            if newest is None or not self.may_read_deleted(request, newest):
                raise Http404(NOT_FOUND)
            obj = newest.instance
        if not self.has_view_history_or_change_history_permission(request, obj):
            raise PermissionDenied
        page = Paginator(rows, self.history_list_per_page).get_page(request.GET.get("p"))
        reader = access.scope(request.user)
        described = diffs.describe(page.object_list, scope=reader)
        versions = [
            {
                "row": row,
                "action": diffs.action_label(row),
                "changes": described[(history_model, row.history_id)],
                # Who and why are withheld too where the version was recorded at an organization out of scope.
                "withheld": diffs.withheld(row, reader),
            }
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
        if newest_row.organization_id is None:
            return self.has_view_permission(request) and access.is_active(request.user)
        return access.scope(request.user).allows(newest_row.organization_id)


def _is_id(model, value) -> bool:
    try:
        model._meta.pk.to_python(value)
    except ValidationError:
        return False
    return True


REASON_FIELD = "change_reason"
REASON_MISSING = "Say why this changed, e.g. 'January recount' or 'AMA agreement signed'. It is kept in the history."


def reason_from(data, *, default: str) -> str:
    # Pages that read the reason straight from the post (deletions) drop NUL characters, which no database keeps.
    return (data.get(REASON_FIELD) or "").replace("\x00", "").strip() or default


class ReasonForm(forms.ModelForm):
    """Adds 'Reason for this change', stored as the history row's change reason, and the version of the record
    the form was opened at (licensing.admin.versions)."""

    change_reason = forms.CharField(
        label="Reason for this change",
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Shown to auditors in the history. Required when changing user counts and licenses.",
    )
    record_version = form_versions.version_input()

    # Whether every change of an existing record needs a reason, whatever its model declares (people, groups).
    reason_required = False
    # The scope of the person the form is for (licensing.access.Scope); AuditedAdmin.get_form sets it.
    reader: access.Scope | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The form shows (and a browser posts back) only the links the person may see: its initial value agrees.
        self.hidden_links = self._links_out_of_sight()
        for name, hidden in self.hidden_links.items():
            self.initial[name] = [obj for obj in self.initial[name] if obj.pk not in hidden]
        form_versions.prepare(self)
        if self.reason_required and REASON_FIELD in self.fields:
            self.fields[REASON_FIELD].help_text = "Shown to auditors in the history. Required for every change here."

    def clean(self):
        cleaned = super().clean()
        form_versions.clean_version(self)
        required = self.reason_required or ownership.reason_required(self._meta.model)
        needs_reason = self.instance.pk and required and self.has_changed()
        if needs_reason and not cleaned.get(REASON_FIELD, "").strip():
            self.add_error(REASON_FIELD, REASON_MISSING)
        self.keep_links_out_of_sight(cleaned)
        return cleaned

    def _links_out_of_sight(self) -> dict[str, list]:
        """Per many-to-many field, the linked records of organizations outside the reader's scope (no query: the
        initial value holds the linked records already)."""
        found = {}
        for field in self._meta.model._meta.many_to_many if self.reader is not None else []:
            if field.name not in self.fields or ownership.owned_by(field.related_model) is None:
                continue
            linked = [obj for obj in self.initial.get(field.name) or [] if isinstance(obj, models.Model)]
            owners = ownership.organization_ids(field.related_model, linked)
            hidden = [obj.pk for obj, owner in zip(linked, owners, strict=True) if not self.reader.allows(owner)]
            if hidden:
                found[field.name] = hidden
        return found

    def keep_links_out_of_sight(self, cleaned) -> None:
        """A many-to-many field lists only what the person may see; the links it does not list are kept."""
        for name, hidden in self.hidden_links.items():
            if cleaned.get(name) is not None:
                chosen = [obj.pk for obj in cleaned[name]]
                cleaned[name] = self.fields[name].queryset.model._default_manager.filter(pk__in=[*chosen, *hidden])


class ReasonInlineFormSet(forms.BaseInlineFormSet):
    """Inline rows, saved through the audited write path with the parent page's reason.

    The parent admin sets `actor` before saving (ScopedAdmin.save_formset). Rows that render relation
    fields load them once for the whole formset (licensing.admin.widgets).
    """

    actor = None
    # New rows one save may add: a forged TOTAL_FORMS of 10**30 is refused after building this many, not 1,000.
    max_new_rows = 100

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.absolute_max = min(self.absolute_max, len(self.get_queryset()) + self.max_new_rows)

    @cached_property
    def forms(self):
        built = super().forms
        for number, form in enumerate(built, start=1):
            # Each row belongs to the page's record; titles such as "Billing system (Alpha Health)" read it from here.
            self.fk.set_cached_value(form.instance, self.instance)
            name_fields(form, row=number)
        share_choices(built)
        return built

    def clean(self):
        super().clean()
        if any(form.instance._state.adding for form in self.initial_forms):
            # Django skips a row whose id is not one of this record's rows; saying "changed successfully"
            # would hide that the change was not saved.
            raise forms.ValidationError(
                f"A row of {self.model._meta.verbose_name_plural} here is not one of this record's rows: it was "
                "deleted or moved meanwhile, or the page was altered. Nothing was saved; reload the page and make "
                "the change again."
            )
        for form in self.forms:
            if form.instance.pk is not None and not self._should_delete_form(form):
                form_versions.clean_version(form)
        if self.initial_form_count() != len(self.get_queryset()):
            # A forged or stale management form would save existing rows as new ones (or skip some).
            raise forms.ValidationError(
                f"The {self.model._meta.verbose_name_plural} on this page no longer match the records; "
                "reload the page and make the change again. Nothing was saved."
            )
        if not ownership.reason_required(self.model) or (self.data.get(REASON_FIELD) or "").strip():
            return
        if any(form.instance.pk and form.has_changed() for form in self.forms):
            raise forms.ValidationError(
                f"You changed {self.model._meta.verbose_name_plural} here: {REASON_MISSING} "
                "(field at the top of the page)."
            )

    def save_record(self, obj, form, *, reason: str):
        """Hook for inlines whose records have their own service (license status changes)."""
        return services.record_save(
            obj, actor=self.actor, reason=reason, validate=False, expected_version=seen_version(form)
        )

    def save_new(self, form, commit=True):
        obj = form.save(commit=False)
        setattr(obj, self.fk.name, self.instance)
        if commit:
            self.save_record(obj, form, reason=reason_from(self.data, default="Added in the admin"))
            form.save_m2m()
        return obj

    def save_existing(self, form, obj, commit=True):
        obj = form.save(commit=False)
        if commit:
            self.save_record(obj, form, reason=reason_from(self.data, default="Edited in the admin"))
            form.save_m2m()
        return obj

    def delete_existing(self, obj, commit=True):
        if commit:
            services.record_delete(obj, actor=self.actor, reason=reason_from(self.data, default="Deleted in the admin"))


def seen_version(form) -> int | None:
    """The version of the record the person opened the form at (None for a new record)."""
    return getattr(form, "seen_version", None)


class VersionedInlineForm(forms.ModelForm):
    """An inline row that carries the version of its record, as a change form does (ReasonForm)."""

    record_version = form_versions.version_input()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        form_versions.prepare(self)


class AuditedAdmin(TransfersMixin, ReadOnlyHistoryMixin, SimpleHistoryAdmin):
    """Every admin save, inline save and delete goes through licensing.services with who (the signed-in
    person) and why (the reason field, or what the page did); models with a resource get import and export."""

    # Django 6's default, adopted now: an address typed without a scheme is taken as https.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_per_page = 100
    show_full_result_count = False
    # Edits need a reason even where the model declares none (ReasonForm.reason_required).
    reason_required = False
    # Large columns the list shows nothing of (a PDF, a report): left out of its query (PortalChangeList).
    list_deferred: tuple[str, ...] = ()

    def get_form(self, request, obj=None, change=False, **kwargs):
        if self.has_change_permission(request, obj) or (obj is None and self.has_add_permission(request)):
            base = kwargs.get("form", self.form)
            attrs = {"reason_required": self.reason_required, "reader": access.scope(request.user)}
            kwargs["form"] = type(f"{base.__name__}WithReason", (ReasonForm, base), attrs)
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        may_edit = self.has_change_permission(request, obj) if obj else self.has_add_permission(request)
        if may_edit and not any(REASON_FIELD in (options.get("fields") or ()) for _, options in fieldsets):
            fieldsets.append(("Reason for this change", {"fields": [REASON_FIELD]}))
        if may_edit and obj is not None and versions.is_versioned(self.model):
            # Hidden: the version the page was opened at (licensing.admin.versions).
            name, options = fieldsets[-1]
            fieldsets[-1] = (name, {**options, "fields": [*options["fields"], form_versions.VERSION_FIELD]})
        return fieldsets

    def change_reason_of(self, form, change: bool) -> str:
        return reason_from(form.cleaned_data, default="Edited in the admin" if change else "Added in the admin")

    def get_changelist(self, request, **kwargs):
        return PortalChangeList

    def get_changelist_instance(self, request):
        if any("\x00" in value for _, values in request.GET.lists() for value in values):
            # PostgreSQL refuses text holding NUL: the list answers as it does for a filter it does not offer.
            raise IncorrectLookupParameters("A filter or search holds a NUL character.")
        return super().get_changelist_instance(request)

    def get_search_results(self, request, queryset, search_term):
        # No name holds a NUL character, and PostgreSQL refuses text that does (autocomplete terms come here).
        return super().get_search_results(request, queryset, search_term.replace("\x00", ""))

    def response_action(self, request, queryset):
        # A forged selection ("abc", or a number past the database's range) is refused in words, not a 500.
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        if not all(_is_id(self.model, value) and _fits(self.model, value) for value in selected):
            self.message_user(
                request,
                "The selection holds something that is not a record of this list; select the rows again. "
                "Nothing was changed.",
                messages.ERROR,
            )
            return None
        return super().response_action(request, queryset)

    def save_model(self, request, obj, form, change):
        # The form has just run the model's validation (full_clean without the fields it does not show).
        services.record_save(
            obj,
            actor=request.user,
            reason=self.change_reason_of(form, change),
            validate=False,
            expected_version=seen_version(form),
        )

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except services.StaleRecord as stale:
            # A save that slipped in after the form's own check (an inline row saved meanwhile): nothing was
            # written (the page's transaction was rolled back); say what changed and show the record as it is.
            for message in stale.messages:
                self.message_user(request, message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_model(self, request, obj):
        services.record_delete(obj, actor=request.user, reason="Deleted in the admin")

    def save_formset(self, request, form, formset, change):
        formset.actor = request.user
        formset.save()

    def has_delete_permission(self, request, obj=None):
        # Records are corrected or superseded, not deleted; only a superuser may remove a mistaken entry.
        return request.user.is_superuser and super().has_delete_permission(request, obj)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        return within_storage(db_field, super().formfield_for_dbfield(db_field, request, **kwargs))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = SafeAutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **_scoped_choices(db_field, request, kwargs))

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = SafeAutocompleteSelectMultiple(db_field, self.admin_site, using=kwargs.get("using"))
        kwargs.setdefault("form_class", SafeModelMultipleChoiceField)
        return super().formfield_for_manytomany(
            db_field, request, **_scoped_choices(db_field, request, kwargs, action=access.VIEW)
        )


def _fits(model, value) -> bool:
    """Whether an id is within the 64-bit range every database here stores (SQLite overflows past it)."""
    return -(2**63) <= int(model._meta.pk.to_python(value)) < 2**63


def _scoped_choices(db_field, request, kwargs, *, action=access.CHANGE) -> dict:
    """Choices of a relation field: the records the person may `action` (CHANGE for what a record points at)."""
    related = db_field.remote_field.model
    if related._meta.app_label == "licensing":
        kwargs["queryset"] = access.restrict(related._default_manager.all(), request.user, action)
    return kwargs


class PortalChangeList(ChangeList):
    """A changelist that reads none of its admin's `list_deferred` columns (its actions get the same queryset, so
    an action that needs one reads it per record, as it uses it)."""

    def get_queryset(self, request, exclude_parameters=None):
        return super().get_queryset(request, exclude_parameters).defer(*self.model_admin.list_deferred)


class PageChangeList(PortalChangeList):
    """A changelist that lets its admin load what the columns need for the whole page at once."""

    def get_results(self, request):
        super().get_results(request)
        self.model_admin.prepare_page(request, self.result_list)


class ScopedAdmin(AuditedAdmin):
    """Admin for an organization's data: every queryset, choice and object goes through licensing.access."""

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
            raise Http404(NOT_FOUND)
        return obj

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (
            obj is None or access.can(request.user, obj, access.CHANGE)
        )


class ApplicationColumnsMixin:
    """The System and Organization columns of records that belong to one application."""

    @admin.display(description="System", ordering="application__name")
    def system(self, obj):
        return obj.application.name

    @admin.display(description="Organization", ordering="application__organization__name")
    def organization(self, obj):
        return obj.application.organization


class ApplicationYearAdmin(ApplicationColumnsMixin, ScopedAdmin):
    """Admin for records of one application in one license year (counts, licenses): shows their standing."""

    def prepare_page(self, request, objects):
        applications = list({obj.application_id: obj.application for obj in objects}.values())
        by_pair = standing.standings(applications, {obj.license_year for obj in objects})
        for obj in objects:
            obj.standing = by_pair[(obj.application_id, obj.license_year)]

    def standing_of(self, obj) -> standing.Standing:
        if not hasattr(obj, "standing"):
            key = (obj.application_id, obj.license_year)
            obj.standing = standing.standings([obj.application], [obj.license_year])[key]
        return obj.standing

    @admin.display(description="Position")
    def position(self, obj):
        return position_badge(self.standing_of(obj).position) if obj.pk else "-"


class ScopedInline(admin.TabularInline):
    """An inline under a scoped parent: editable only by people who may change the parent; rows saved and
    rendered through ReasonInlineFormSet."""

    extra = 0
    show_change_link = True
    # The rows' own pages are admin pages too; "View on site" would open the page the person is on.
    view_on_site = False
    formset = ReasonInlineFormSet

    def get_formset(self, request, obj=None, **kwargs):
        if versions.is_versioned(self.model):
            kwargs["form"] = type(f"{self.form.__name__}WithVersion", (VersionedInlineForm, self.form), {})
        return super().get_formset(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if versions.is_versioned(self.model) and self.has_change_permission(request, obj):
            # Hidden in each row: the version of its record when the page was opened.
            name, options = fieldsets[-1]
            fieldsets[-1] = (name, {**options, "fields": [*options["fields"], form_versions.VERSION_FIELD]})
        return fieldsets

    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) and (
            obj is None or access.can(request.user, obj, access.CHANGE)
        )

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (
            obj is None or access.can(request.user, obj, access.CHANGE)
        )

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_delete_permission(request, obj)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        return within_storage(db_field, super().formfield_for_dbfield(db_field, request, **kwargs))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = SharedAutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **_scoped_choices(db_field, request, kwargs))


class ReferenceAdmin(AuditedAdmin):
    """Admin for reference data shared by every organization (rates, factors, vendors, data files)."""
