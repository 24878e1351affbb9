"""Reading the files people actually have: CSV from Excel on Windows or a Mac, XLSX workbooks, JSON.

`read` turns bytes into a Table (headers, rows with their line numbers, notes on what was assumed) or
raises FileProblem with a message that says what is wrong with the file and how to save it instead.
"""

import csv
import io
import json
import zipfile
from dataclasses import dataclass, field

FORMATS = ("csv", "xlsx", "json")
DELIMITERS = (",", ";", "\t")
DELIMITER_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs"}
EMPTY = "The file is empty. Export the sheet again, or start from the template."


class FileProblem(ValueError):
    """The file as a whole cannot be read; the message says why and what to do."""


@dataclass
class Table:
    format: str
    headers: list[str]
    rows: list[list] = field(default_factory=list)
    # The line (CSV) or row (XLSX) number of each row in the file, as the person sees it; the headers are 1.
    line_numbers: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def format_of(name: str) -> str:
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension in ("csv", "txt", "tsv"):
        return "csv"
    if extension in FORMATS:
        return extension
    if extension == "xls":
        raise FileProblem(
            "Old Excel workbooks (.xls) cannot be read. In Excel, choose File > Save As > Excel Workbook (.xlsx), "
            "or CSV UTF-8, and upload that."
        )
    raise FileProblem(
        f"'{name}' is not a CSV, XLSX or JSON file. Save the spreadsheet as Excel Workbook (.xlsx) or CSV UTF-8."
    )


def read(name: str, content: bytes, *, max_bytes: int) -> Table:
    if len(content) > max_bytes:
        raise FileProblem(
            f"The file is {_size(len(content))}; the limit here is {_size(max_bytes)}. Split it into smaller files, "
            "or load it with the import_data command."
        )
    if not content.strip():
        raise FileProblem(EMPTY)
    kind = format_of(name)
    looks_like_zip = content[:4] == b"PK\x03\x04"
    if kind == "xlsx" and not looks_like_zip:
        raise FileProblem(
            f"'{name}' is named like an Excel workbook but is not one (it looks like text). Rename it to .csv, "
            "or open it in Excel and save it as Excel Workbook (.xlsx)."
        )
    if kind != "xlsx" and looks_like_zip:
        raise FileProblem(
            f"'{name}' is an Excel workbook (or another zip file), not {kind.upper()}. Rename it to .xlsx, or save "
            "it from Excel as CSV UTF-8."
        )
    if kind == "xlsx":
        table = _read_xlsx(content)
    else:
        notes: list[str] = []
        text = _decode(content, notes)
        if not text.strip():
            # Only a byte order mark (an empty sheet saved as CSV UTF-8 or Unicode Text) and blank lines.
            raise FileProblem(EMPTY)
        if kind == "json":
            table = _read_json(text)
        else:
            table = _read_csv(text)
            table.notes[:0] = notes
    if not table.headers or not any(str(header or "").strip() for header in table.headers):
        raise FileProblem("The file has no column headings. Put them in the first row (the template has them).")
    if not table.rows:
        raise FileProblem("The file has column headings but no rows below them; nothing to import.")
    return table


def _size(count: int) -> str:
    return f"{count / 1_000_000:.1f} MB" if count >= 100_000 else f"{count:,} bytes"


def _decode(content: bytes, notes: list[str]) -> str:
    encoding = "UTF-8" if content[:3] == b"\xef\xbb\xbf" else "UTF-16"
    try:
        if encoding == "UTF-8":
            return content[3:].decode("utf-8", errors="strict")
        if content[:2] in (b"\xff\xfe", b"\xfe\xff"):
            notes.append("The file is UTF-16 text (Excel's 'Unicode Text'); it was read as such.")
            return content.decode("utf-16")
    except UnicodeDecodeError:
        # The byte order mark says UTF-8 or UTF-16, and the text after it is not (a damaged or hand-edited file).
        raise FileProblem(
            f"The file starts as {encoding} text but is not {encoding} throughout. Save it again from the "
            "spreadsheet as 'CSV UTF-8 (Comma delimited)'."
        ) from None
    if b"\x00" in content[:4096]:
        raise FileProblem("This is not a text file. Save the spreadsheet as CSV UTF-8 or Excel Workbook (.xlsx).")
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        text = content.decode("cp1252")
    except UnicodeDecodeError:
        raise FileProblem(
            "The file's text encoding could not be read. In Excel, save it as 'CSV UTF-8 (Comma delimited)'."
        ) from None
    notes.append(
        "The file is not UTF-8, so it was read as Windows-1252 (Excel's 'CSV' on Windows). "
        "Check accented names in the preview; saving as 'CSV UTF-8' avoids this."
    )
    return text


def _delimiter(header_line: str) -> str:
    counts = {delimiter: _count_outside_quotes(header_line, delimiter) for delimiter in DELIMITERS}
    best = max(DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def _count_outside_quotes(line: str, delimiter: str) -> int:
    count, quoted = 0, False
    for character in line:
        if character == '"':
            quoted = not quoted
        elif character == delimiter and not quoted:
            count += 1
    return count


def _blank(cells) -> bool:
    return all(cell is None or str(cell).strip() == "" for cell in cells)


def _read_csv(text: str) -> Table:
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), "")
    delimiter = _delimiter(first)
    table = Table(format="csv", headers=[])
    if delimiter != ",":
        table.notes.append(f"Columns are separated by {DELIMITER_NAMES[delimiter]}; the file was read that way.")
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        for cells in reader:
            if _blank(cells):
                continue
            if not table.headers:
                table.headers = [cell.strip() for cell in cells]
            else:
                table.rows.append(cells)
                table.line_numbers.append(reader.line_num)
    except csv.Error as problem:
        raise FileProblem(
            f"The CSV file is malformed ({problem}). Save it again from the spreadsheet program."
        ) from None
    return _trim(table)


def _trim(table: Table) -> Table:
    """Drop empty trailing headings and pad or cut rows to the headings' width; name cells beyond it."""
    while table.headers and str(table.headers[-1] or "").strip() == "":
        table.headers.pop()
    width = len(table.headers)
    for index, cells in enumerate(table.rows):
        extra = [cell for cell in cells[width:] if cell not in (None, "") and str(cell).strip()]
        if extra:
            raise FileProblem(
                f"Line {table.line_numbers[index]} has more cells than there are column headings "
                f"(for example '{str(extra[0]).strip()}'). Give each column a heading, or delete the extra cells."
            )
        table.rows[index] = list(cells[:width]) + [None] * (width - len(cells))
    return table


def _read_xlsx(content: bytes) -> Table:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError):
        raise FileProblem(
            "The workbook could not be opened; it may be damaged or protected. Open it in Excel and save it again "
            "as Excel Workbook (.xlsx), without a password."
        ) from None
    try:
        sheets = workbook.sheetnames
        if not sheets:
            raise FileProblem("The workbook has no sheets.")
        sheet = workbook[sheets[0]]
        table = Table(format="xlsx", headers=[])
        if len(sheets) > 1:
            table.notes.append(f"The workbook has {len(sheets)} sheets; only the first, '{sheets[0]}', was read.")
        for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
            if _blank(cells):
                continue
            if not table.headers:
                table.headers = [str(cell).strip() if cell is not None else "" for cell in cells]
            else:
                table.rows.append(list(cells))
                table.line_numbers.append(number)
    finally:
        workbook.close()
    return _trim(table)


def _read_json(text: str) -> Table:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as problem:
        raise FileProblem(
            f"The JSON is not valid (line {problem.lineno}, column {problem.colno}: {problem.msg})."
        ) from None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise FileProblem('A JSON import is a list of objects, one per row: [{"System name": "...", ...}, ...].')
    headers: dict[str, None] = {}
    for item in data:
        headers.update(dict.fromkeys(item))
    table = Table(format="json", headers=list(headers))
    for number, item in enumerate(data, start=1):
        cells = [item.get(header) for header in table.headers]
        if _blank(cells):
            continue
        table.rows.append(cells)
        # A JSON file has no row numbers a person sees; the object's place in the list stands in, after the
        # header line that spreadsheets have, so numbers read the same in every format.
        table.line_numbers.append(number + 1)
    return table


def estimated_rows(name: str, content: bytes) -> int:
    """About how many rows the file has, cheaply (no parsing): enough to decide whether to import it as a job.

    Lines of text less the heading (UTF-16 text counts its line breaks all the same), objects of a JSON list,
    the sheet's recorded size for XLSX; 0 for anything that cannot be read, which `read` then explains.
    """
    try:
        kind = format_of(name)
    except FileProblem:
        return 0
    if kind == "xlsx":
        from openpyxl import load_workbook

        try:
            workbook = load_workbook(io.BytesIO(content), read_only=True)
            try:
                return max((workbook.worksheets[0].max_row or 0) - 1, 0) if workbook.worksheets else 0
            finally:
                workbook.close()
        except Exception:  # a damaged workbook: `read` says what is wrong with it
            return 0
    if kind == "json":
        return content.count(b"{")
    return max(content.count(b"\n") - 1, 0)
