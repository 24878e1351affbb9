"""The organization's "Audit trail" page: every change to it and its records, filtered, paged, exported.

The queries are licensing.audit.trail; this page scopes them to one organization the person may view,
reads the filters and renders the page, a CSV stream or an XLSX workbook. It writes nothing.
"""

import datetime

from django import forms
from django.core.paginator import Paginator
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from licensing import access
from licensing.admin.organization_pages import OrganizationPage
from licensing.audit import exports, trail
from licensing.models.years import FIRST_LICENSE_YEAR, LAST_LICENSE_YEAR

EXPORT_FORMATS = {"csv", "xlsx"}
XLSX_COLUMN_WIDTHS = [20, 16, 14, 10, 36, 10, 24, 30, 30, 40, 8]


# The history the portal can hold: dates outside these years are typing mistakes (9999-12-31 would overflow).
FIRST_DAY = datetime.date(FIRST_LICENSE_YEAR, 1, 1)
LAST_DAY = datetime.date(LAST_LICENSE_YEAR, 12, 31)


def _within_the_record(day, which: str):
    if day is not None and not FIRST_DAY <= day <= LAST_DAY:
        raise forms.ValidationError(
            f"The {which} date must lie between {FIRST_DAY:%Y-%m-%d} and {LAST_DAY:%Y-%m-%d}; check the year."
        )
    return day


class TrailFilterForm(forms.Form):
    """The filters of the audit trail page, from the query string; every field may stay empty."""

    since = forms.DateField(
        label="From",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Enter the start date as YYYY-MM-DD, e.g. 2026-01-31."},
    )
    until = forms.DateField(
        label="To",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Enter the end date as YYYY-MM-DD, e.g. 2026-12-31."},
    )
    person = forms.ChoiceField(
        label="Changed by",
        required=False,
        error_messages={
            "invalid_choice": "No one named “%(value)s” appears in this organization's history; "
            "choose a person from the list."
        },
    )
    type = forms.MultipleChoiceField(
        label="Record type",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "invalid_choice": "“%(value)s” is not a kind of record on the audit trail; tick one of the listed kinds."
        },
    )
    field = forms.ChoiceField(
        label="Field",
        required=False,
        error_messages={"invalid_choice": "“%(value)s” is not a field the history records; choose one from the list."},
    )

    data_import = forms.IntegerField(
        label="Import number",
        required=False,
        min_value=1,
        widget=forms.NumberInput(attrs={"size": 6}),
        error_messages={"invalid": "Enter an import's number, e.g. 12 (the Imports page lists them)."},
    )

    def __init__(self, *args, people: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["person"].choices = [("", "Anyone")] + [
            (name, "system (no person)" if name == trail.SYSTEM_PERSON else name) for name in people
        ]
        self.fields["type"].choices = [(record_type.key, record_type.label) for record_type in trail.record_types()]
        self.fields["field"].choices = [("", "Any field"), *trail.field_choices()]

    def clean_since(self):
        return _within_the_record(self.cleaned_data.get("since"), "start")

    def clean_until(self):
        return _within_the_record(self.cleaned_data.get("until"), "end")

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            raise forms.ValidationError("The start date is after the end date; swap them or clear one.")
        return cleaned

    def filters(self) -> trail.Filters:
        data = self.cleaned_data
        return trail.Filters(
            since=data["since"],
            until=data["until"],
            person=data["person"] or None,
            types=tuple(data["type"]),
            field=data["field"] or None,
            data_import=data["data_import"],
        )

    def messages(self) -> list[str]:
        return [message for errors in self.errors.values() for message in errors]


class AuditTrailPage(OrganizationPage):
    """The page for one organization; `?format=csv` or `?format=xlsx` exports what the filters select."""

    template_name = "admin/licensing/organization/audit_trail.html"
    title = "Audit trail: {organization}"
    refusal = "The audit trail needs view access to this organization."

    def respond(self, request, organization):
        form = TrailFilterForm(request.GET, people=trail.people(organization.pk))
        export = request.GET.get("format", "")
        problems = (
            [] if export in EXPORT_FORMATS | {""} else [f"“{export}” is not an export format; choose CSV or XLSX."]
        )
        reader = access.scope(request.user)
        if form.is_valid() and not problems:
            if export == "csv":
                return csv_response(organization, form.filters(), scope=reader)
            if export == "xlsx":
                return xlsx_response(organization, form.filters(), scope=reader)
        problems = form.messages() + problems
        context = {"form": form, "problems": problems}
        if not problems:
            context.update(page_context(organization, form.filters(), request.GET.get("p"), scope=reader))
        return self.render(request, organization, **context)


def page_context(organization, filters: trail.Filters, number, *, scope=None) -> dict:
    paginator = Paginator(trail.Trail(organization.pk, filters), trail.PAGE_SIZE)
    page = paginator.get_page(number)
    entries = trail.entries(list(page.object_list), scope=scope)
    rows = [{"entry": entry, "url": _history_url(entry)} for entry in entries]
    return {
        "page_obj": page,
        "rows": rows,
        "filtered": filters != trail.Filters(),
        "field_label": trail.field_label(filters.field) if filters.field else "",
    }


def _history_url(entry: trail.Entry) -> str:
    # The history page works for deleted records too, and shows every version of the one changed here.
    try:
        opts = entry.record_type.model._meta
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_history", args=[entry.object_id])
    except NoReverseMatch:
        return ""


# ---------------------------------------------------------------------------------------------
# Exports
# ---------------------------------------------------------------------------------------------


def _filename(organization, extension: str) -> str:
    return f"{organization.slug}_audit-trail.{extension}"


def _header() -> list[str]:
    return [f"Date ({timezone.get_current_timezone_name()})", *trail.EXPORT_HEADER[1:]]


def _lines(organization, filters, scope):
    field_name = filters.field_name()
    for entry in trail.all_entries(organization.pk, filters, scope=scope):
        yield from trail.export_lines(entry, field_name=field_name)


def csv_response(organization, filters, *, scope=None):
    lines = ([line[0].strftime("%Y-%m-%d %H:%M:%S"), *line[1:]] for line in _lines(organization, filters, scope))
    return exports.csv_response(_filename(organization, "csv"), _header(), lines)


def xlsx_response(organization, filters, *, scope=None):
    # Excel stores dates without a time zone; the header names the one used.
    lines = ([line[0].replace(tzinfo=None), *line[1:]] for line in _lines(organization, filters, scope))
    return exports.xlsx_response(
        _filename(organization, "xlsx"),
        sheet_name="Audit trail",
        header=_header(),
        lines=lines,
        widths=XLSX_COLUMN_WIDTHS,
        overflow_note="More changes than a worksheet holds; narrow the filters or export CSV for the rest.",
    )
