"""Spreadsheet downloads (CSV, XLSX) of audit data, with the one rule that keeps cells from running as formulas."""

import csv
import io
from collections.abc import Iterable, Sequence

from django.http import HttpResponse, StreamingHttpResponse
from django.utils.functional import Promise

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A worksheet holds 1,048,576 rows: the header, the lines, and one line saying the rest was cut.
XLSX_MAX_LINES = 1_048_576 - 2
# Lines per chunk of a CSV stream: large enough to keep the response writes few, small enough for constant memory.
CSV_LINES_PER_CHUNK = 500
# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A byte order mark makes Excel read the file as UTF-8 (names with accents stay intact).
BOM = "\ufeff"


def safe_cell(value):
    """The value, with a leading apostrophe if a spreadsheet would otherwise read it as a formula.

    Text that already starts with apostrophes before such a character gets one more, so that
    unescape_cell gives back exactly the original.
    """
    if isinstance(value, Promise):
        # Translated labels (a model's verbose name) are lazy; spreadsheets take only plain text.
        value = str(value)
    if isinstance(value, str) and value.lstrip("'").startswith(FORMULA_STARTS):
        return "'" + value
    return value


def unescape_cell(text: str) -> str:
    """What safe_cell escaped, as it was: exported files read back unchanged."""
    if text.startswith("'") and text.lstrip("'").startswith(FORMULA_STARTS):
        return text[1:]
    return text


class _Echo:
    """A file-like object whose write returns the text, so csv.writer can feed a stream."""

    def write(self, value):
        return value


def csv_chunks(header: Sequence, lines: Iterable[Sequence]):
    """The CSV text of `header` and `lines`, escaped, in chunks of CSV_LINES_PER_CHUNK lines."""
    writer = csv.writer(_Echo())
    buffer = [BOM + writer.writerow(header)]
    for line in lines:
        buffer.append(writer.writerow([safe_cell(value) for value in line]))
        if len(buffer) >= CSV_LINES_PER_CHUNK:
            yield "".join(buffer)
            buffer = []
    yield "".join(buffer)


def _attachment(response, filename: str):
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def csv_response(filename: str, header: Sequence, lines: Iterable[Sequence], *, stream: bool = True):
    """A CSV download; streamed (constant memory) unless `stream` is False, for short files read whole."""
    chunks = csv_chunks(header, lines)
    content_type = "text/csv; charset=utf-8"
    if stream:
        return _attachment(StreamingHttpResponse(chunks, content_type=content_type), filename)
    return _attachment(HttpResponse("".join(chunks), content_type=content_type), filename)


def xlsx_response(
    filename: str,
    *,
    sheet_name: str,
    header: Sequence[str],
    lines: Iterable[Sequence],
    widths: Sequence[int] = (),
    overflow_note: str = "More lines than a worksheet holds; narrow the filters or export CSV for the rest.",
) -> HttpResponse:
    """An XLSX download with a bold, frozen header row; values keep their types (numbers, dates)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    # Write-only mode streams rows to a temporary file instead of keeping every cell in memory.
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(sheet_name)
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    cells = []
    for title in header:
        cell = WriteOnlyCell(sheet, value=title)
        cell.font = bold
        cells.append(cell)
    sheet.append(cells)
    for written, line in enumerate(lines):
        if written == XLSX_MAX_LINES:
            sheet.append([overflow_note])
            break
        sheet.append([safe_cell(value) for value in line])
    content = io.BytesIO()
    workbook.save(content)
    return _attachment(HttpResponse(content.getvalue(), content_type=XLSX_TYPE), filename)
