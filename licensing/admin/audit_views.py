"""The organization's "Audit trail" page: every change to it and its records, filtered, paged, exported.

The queries are licensing.audit_trail; this page scopes them to one organization the person may view,
reads the filters and renders the page, a CSV stream or an XLSX workbook. It writes nothing.
"""

import csv
import io

from django import forms
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from licensing import audit_trail

EXPORT_FORMATS = {"csv", "xlsx"}
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A worksheet holds 1,048,576 rows: the header, the changes, and one line saying the rest was cut.
XLSX_MAX_LINES = 1_048_576 - 2
# Lines per chunk of the CSV stream: large enough to keep the response writes few, small enough to stay constant memory.
CSV_LINES_PER_CHUNK = 500
XLSX_COLUMN_WIDTHS = [20, 16, 14, 10, 36, 10, 24, 30, 30, 40]


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
        label="Person",
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

    def __init__(self, *args, people: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["person"].choices = [("", "Anyone")] + [
            (name, "system (no person)" if name == audit_trail.SYSTEM_PERSON else name) for name in people
        ]
        self.fields["type"].choices = [(record_type.key, record_type.label) for record_type in audit_trail.RECORD_TYPES]
        self.fields["field"].choices = [("", "Any field"), *audit_trail.field_choices()]

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            raise forms.ValidationError("The start date is after the end date; swap them or clear one.")
        return cleaned

    def filters(self) -> audit_trail.Filters:
        data = self.cleaned_data
        return audit_trail.Filters(
            since=data["since"],
            until=data["until"],
            person=data["person"] or None,
            types=tuple(data["type"]),
            field=data["field"] or None,
        )

    def messages(self) -> list[str]:
        return [message for errors in self.errors.values() for message in errors]


def audit_trail_view(model_admin):
    """The page for one organization; `?format=csv` or `?format=xlsx` exports what the filters select."""

    @require_GET
    def view(request, object_id):
        # get_object 404s for organizations outside the person's scope, so their ids reveal nothing.
        organization = model_admin.get_object(request, str(object_id))
        if not model_admin.has_view_permission(request, organization):
            raise PermissionDenied("The audit trail needs view access to this organization.")
        form = TrailFilterForm(request.GET, people=audit_trail.people(organization.pk))
        export = request.GET.get("format", "")
        problems = (
            [] if export in EXPORT_FORMATS | {""} else [f"“{export}” is not an export format; choose CSV or XLSX."]
        )
        if form.is_valid() and not problems:
            if export == "csv":
                return csv_response(organization, form.filters())
            if export == "xlsx":
                return xlsx_response(organization, form.filters())
        problems = form.messages() + problems
        context = {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.model._meta,
            "original": organization,
            "title": f"Audit trail: {organization}",
            "form": form,
            "problems": problems,
        }
        if not problems:
            context.update(page_context(organization, form.filters(), request.GET.get("p")))
        return TemplateResponse(request, "admin/licensing/organization/audit_trail.html", context)

    return view


def page_context(organization, filters: audit_trail.Filters, number) -> dict:
    paginator = Paginator(audit_trail.Trail(organization.pk, filters), audit_trail.PAGE_SIZE)
    page = paginator.get_page(number)
    rows = [{"entry": entry, "url": _history_url(entry)} for entry in audit_trail.entries(list(page.object_list))]
    return {
        "page_obj": page,
        "rows": rows,
        "filtered": filters != audit_trail.Filters(),
        "field_label": audit_trail.field_label(filters.field) if filters.field else "",
    }


def _history_url(entry: audit_trail.Entry) -> str:
    # The history page works for deleted records too, and shows every version of the one changed here.
    try:
        return reverse(f"admin:licensing_{entry.record_type.key}_history", args=[entry.object_id])
    except NoReverseMatch:
        return ""


# ---------------------------------------------------------------------------------------------
# Exports
# ---------------------------------------------------------------------------------------------


def _filename(organization, extension: str) -> str:
    return f"{organization.slug}_audit-trail.{extension}"


def _header() -> list[str]:
    return [f"Date ({timezone.get_current_timezone_name()})", *audit_trail.EXPORT_HEADER[1:]]


def _lines(organization, filters):
    field_name = filters.field_name()
    for entry in audit_trail.all_entries(organization.pk, filters):
        yield from audit_trail.export_lines(entry, field_name=field_name)


class _Echo:
    """A file-like object whose write returns the text, so csv.writer can feed a stream."""

    def write(self, value):
        return value


def csv_response(organization, filters) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def chunks():
        # A byte order mark makes Excel read the file as UTF-8 (names with accents stay intact).
        buffer = ["\ufeff" + writer.writerow(_header())]
        for line in _lines(organization, filters):
            line[0] = line[0].strftime("%Y-%m-%d %H:%M:%S")
            buffer.append(writer.writerow([audit_trail.safe_cell(value) for value in line]))
            if len(buffer) >= CSV_LINES_PER_CHUNK:
                yield "".join(buffer)
                buffer = []
        yield "".join(buffer)

    response = StreamingHttpResponse(chunks(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename(organization, "csv")}"'
    return response


def xlsx_response(organization, filters) -> HttpResponse:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    # Write-only mode streams rows to a temporary file instead of keeping every cell in memory.
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Audit trail")
    for index, width in enumerate(XLSX_COLUMN_WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for title in _header():
        cell = WriteOnlyCell(sheet, value=title)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for written, line in enumerate(_lines(organization, filters)):
        if written == XLSX_MAX_LINES:
            sheet.append(["More changes than a worksheet holds; narrow the filters or export CSV for the rest."])
            break
        # Excel stores dates without a time zone; the header names the one used.
        line[0] = line[0].replace(tzinfo=None)
        sheet.append([audit_trail.safe_cell(value) for value in line])
    content = io.BytesIO()
    workbook.save(content)
    response = HttpResponse(content.getvalue(), content_type=XLSX_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{_filename(organization, "xlsx")}"'
    return response
