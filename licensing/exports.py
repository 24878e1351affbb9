"""Downloads of records as CSV, XLSX or JSON through their import resource, so a file exported here imports
back unchanged; every cell passes licensing.audit.exports.safe_cell against formula injection.

Rows are read in chunks (`iterator`), so CSV and JSON stream in constant memory; an XLSX is written by
openpyxl's write-only mode, which keeps rows on disk until the file is finished.
"""

import datetime
import json
from decimal import Decimal

from django.http import HttpResponse, StreamingHttpResponse

from licensing.audit.exports import XLSX_TYPE, csv_response, safe_cell, xlsx_response

CHUNK = 2000
FORMATS = ("csv", "xlsx", "json")


def lines(resource, queryset):
    for obj in resource.export_queryset(queryset).iterator(chunk_size=CHUNK):
        yield resource.values_of(obj)


def response(resource, queryset, *, file_format: str, file_stem: str):
    header = resource.headers()
    if file_format == "xlsx":
        widths = [max(12, min(40, len(title) + 2)) for title in header]
        return xlsx_response(
            f"{file_stem}.xlsx",
            sheet_name=resource.title[:31],
            header=header,
            lines=lines(resource, queryset),
            widths=widths,
        )
    if file_format == "json":
        return _json_response(f"{file_stem}.json", header, lines(resource, queryset))
    return csv_response(f"{file_stem}.csv", header, lines(resource, queryset))


def _plain(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return safe_cell(value)


def json_chunks(header, rows):
    yield "["
    for index, line in enumerate(rows):
        item = {title: _plain(value) for title, value in zip(header, line, strict=True)}
        yield ("," if index else "") + "\n" + json.dumps(item, ensure_ascii=False)
    yield "\n]\n"


def _json_response(filename, header, rows):
    response = StreamingHttpResponse(json_chunks(header, rows), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def template_response(resource, *, file_format: str, file_stem: str):
    """An empty file to fill in: the headers, one example row and (XLSX) a sheet explaining every column."""
    header, example = resource.headers(), [safe_cell(value) for value in resource.example_row()]
    if file_format == "csv":
        return csv_response(f"{file_stem}.csv", header, [example], stream=False)
    if file_format == "json":
        return HttpResponse("".join(json_chunks(header, [example])), content_type="application/json")
    return HttpResponse(
        _template_workbook(resource, header, example),
        content_type=XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{file_stem}.xlsx"'},
    )


def column_guide(resource) -> list[list[str]]:
    """Column, required, what it holds, allowed values: the template's second sheet and the import page's table."""
    guide = []
    for column in resource.columns:
        widget = column.field.widget
        allowed = getattr(widget, "allowed", "")
        if not allowed:
            allowed = {
                "Integer": "A whole number, e.g. 1250 (1,250 also reads).",
                "Number": "A number, e.g. 18.50 ($ and thousands separators also read).",
                "Date": "A date: an Excel date, 2026-01-31 or 01/31/2026.",
                "YesNo": "Yes or No (empty means No).",
                "Digits": "Digits; hyphens and spaces are dropped.",
            }.get(type(widget).__name__, "")
        if column.m2m:
            allowed = allowed or "Several values separated by semicolons."
        required = "Yes (finds the row)" if column.required else ""
        guide.append([column.title, required, column.help, allowed])
    return guide


def _template_workbook(resource, header, example) -> bytes:
    import io

    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = resource.title[:31]
    sheet.append(header)
    sheet.append(example)
    bold = Font(bold=True)
    for cell in sheet[1]:
        cell.font = bold
    sheet.freeze_panes = "A2"
    guide = workbook.create_sheet("Columns")
    guide.append(["Column", "Required", "What it holds", "Allowed values"])
    for cell in guide[1]:
        cell.font = bold
    for line in column_guide(resource):
        guide.append([safe_cell(value) for value in line])
    for letter, width in zip("ABCD", (28, 18, 70, 60), strict=True):
        guide.column_dimensions[letter].width = width
    for row in guide.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    content = io.BytesIO()
    workbook.save(content)
    return content.getvalue()
