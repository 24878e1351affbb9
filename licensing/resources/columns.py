"""How each kind of column is read from a spreadsheet cell and written back: lenient with what real files hold
(numbers stored as text, thousands separators, Excel dates, labels instead of codes), strict and plain-spoken
about what it cannot read.

Every widget's `clean` raises CellProblem with a message a compliance officer can act on; `render` returns a
typed value (int, Decimal, date, str) so an XLSX export keeps numbers as numbers.
"""

import datetime
import re
from decimal import Decimal, InvalidOperation

from import_export import widgets

from licensing.audit.exports import unescape_cell

# Excel counts days from 1899-12-30 (its 1900 leap-year bug included); 2958465 is 9999-12-31.
EXCEL_EPOCH = datetime.date(1899, 12, 30)
EXCEL_SERIAL_RANGE = range(1, 2958466)
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y", "%Y/%m/%d", "%d-%b-%Y", "%d %b %Y", "%b %d, %Y", "%B %d, %Y")
TRUE_WORDS = {"yes", "y", "true", "t", "1", "x", "✓"}
FALSE_WORDS = {"no", "n", "false", "f", "0", ""}
# Separators people use between several values in one cell: "CPT Standard; CPT RVUs".
LIST_SEPARATORS = re.compile(r"\s*[;,\n|]\s*")


class CellProblem(ValueError):
    """A cell that cannot be read; the message says what is wrong and how to write it instead.

    `column` names the column at fault when it is not the one being read (a system name is looked up in the
    organization the Organization column names)."""

    def __init__(self, message: str, *, column: str = ""):
        super().__init__(message)
        self.column = column


def text_of(value) -> str:
    """A cell as text: trimmed, with Excel's float form of whole numbers undone (12345.0 -> "12345")."""
    if type(value) is str:
        text = value.strip()
        return unescape_cell(text) if text.startswith("'") else text
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime.datetime):
        value = value.date() if value.time() == datetime.time.min else value
    if isinstance(value, datetime.date):
        return value.isoformat()
    return unescape_cell(str(value).strip())


# Commas only between groups of three digits: "1,250" and "1,250,000.50", never a decimal comma ("2,5").
THOUSANDS = re.compile(r"[-+]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]*)?")


def _number_text(value) -> str:
    # Thousands separators, currency signs and spaces: "1,250", "$1,250.00", " 12 ".
    text = text_of(value).replace("$", "").replace(" ", "").replace("\u00a0", "")
    if "," in text and not THOUSANDS.fullmatch(text):
        raise CellProblem(
            f"'{text_of(value)}' cannot be read as a number: a comma may only separate thousands (1,250). "
            "Write decimals with a point, e.g. 2.5."
        )
    return text.replace(",", "")


class Text(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        return text_of(value)

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else str(value)


class Integer(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        if isinstance(value, bool):
            raise CellProblem(f"{value!r} is not a whole number; write digits only, e.g. 1250.")
        if isinstance(value, int):
            return value
        text = _number_text(value)
        if text == "":
            return None
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise CellProblem(f"'{text_of(value)}' is not a whole number; write digits only, e.g. 1250.") from None
        if not number.is_finite() or number.adjusted() > 18:
            # "Infinity", "NaN", or "1e999999999" (whose digits alone would fill the memory).
            raise CellProblem(f"'{text_of(value)}' is not a whole number of any size the portal keeps; write digits.")
        if number != number.to_integral_value():
            raise CellProblem(f"'{text_of(value)}' is not a whole number; round it, e.g. {number.to_integral_value()}.")
        return int(number)

    def render(self, value, obj=None, **kwargs):
        return value


class Number(widgets.Widget):
    """A decimal amount (a base metric, a factor, a fee): "1,250.50" and "$18.50" read as 1250.50 and 18.50."""

    def clean(self, value, row=None, **kwargs):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return Decimal(str(value))
        text = _number_text(value)
        if text == "":
            return None
        try:
            number = Decimal(text)
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            raise CellProblem(f"'{text_of(value)}' is not a number; write digits with a point, e.g. 18.50.")
        return number

    def render(self, value, obj=None, **kwargs):
        return value


class Date(widgets.Widget):
    """A date as Excel stores it (a date cell, or its serial number, even as text) or written out."""

    def clean(self, value, row=None, **kwargs):
        if isinstance(value, datetime.datetime):
            return value.date()
        if isinstance(value, datetime.date):
            return value
        text = text_of(value)
        if text == "":
            return None
        # Excel's serial numbers of the dates people record here have five digits or more (10000 is 1927-05-18);
        # a shorter number is more likely a year or a typing slip than a date from 1900 to 1927.
        if re.fullmatch(r"[0-9]{5,7}(\.0+)?", text) and int(float(text)) in EXCEL_SERIAL_RANGE:
            return EXCEL_EPOCH + datetime.timedelta(days=int(float(text)))
        if ISO_DATE.fullmatch(text):
            # What the first format reads, without strptime's cost (a tenth of a 50,000-row import's row loop).
            try:
                return datetime.date.fromisoformat(text)
            except ValueError:
                pass
        for date_format in DATE_FORMATS:
            try:
                return datetime.datetime.strptime(text, date_format).date()  # noqa: DTZ007 (a date, no time)
            except ValueError:
                continue
        raise CellProblem(f"'{text}' is not a date; write it as 2026-01-31 (or 01/31/2026).")

    def render(self, value, obj=None, **kwargs):
        return value


class YesNo(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        if isinstance(value, bool):
            return value
        word = text_of(value).casefold()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise CellProblem(f"'{text_of(value)}' is not yes or no; write Yes or No (or leave it empty for No).")

    def render(self, value, obj=None, **kwargs):
        return "Yes" if value else "No"


def _key(text: str) -> str:
    return " ".join(text.replace("_", " ").split()).casefold()


class Choice(widgets.Widget):
    """One of a TextChoices: its label ("Ambulatory EHR") or its stored value ("ambulatory_ehr"), any case."""

    def __init__(self, choices, *, noun: str, blank: bool = False):
        super().__init__()
        self.choices = list(choices)
        self.noun = noun
        self.blank = blank
        self.by_key = {}
        for value, label in self.choices:
            self.by_key[_key(str(label))] = value
            self.by_key[_key(str(value))] = value

    @property
    def allowed(self) -> str:
        return ", ".join(str(label) for _, label in self.choices)

    def clean(self, value, row=None, **kwargs):
        text = text_of(value)
        if text == "":
            return ""
        found = self.by_key.get(_key(text))
        if found is None:
            raise CellProblem(f"'{text}' is not a {self.noun}; use one of: {self.allowed}.")
        return found

    def render(self, value, obj=None, **kwargs):
        labels = dict(self.choices)
        return str(labels.get(value, value or ""))


class Lookup:
    """Records a file may name, read once per import from a queryset the caller has scoped (licensing.access),
    found by any of their natural keys: an organization by its slug or its EIN, a data file by code or name."""

    def __init__(self, queryset, keys):
        self.queryset = queryset
        # keys: functions from a record to one text it may be named by.
        self.keys = keys
        self._by_text = None
        self._by_pk = None

    def _load(self):
        self._by_text, self._by_pk = {}, {}
        for obj in self.queryset:
            self._by_pk[obj.pk] = obj
            for key in self.keys:
                text = key(obj)
                if text:
                    self._by_text.setdefault(_key(str(text)), obj)

    def find(self, text: str):
        if self._by_text is None:
            self._load()
        return self._by_text.get(_key(text))

    def get(self, pk):
        if self._by_pk is None:
            self._load()
        return self._by_pk.get(pk)


class Reference(widgets.Widget):
    """A record named by a natural key (a vendor by name, an organization by EIN or slug), found in a Lookup."""

    def __init__(self, lookup: Lookup, *, render_key, missing: str):
        super().__init__()
        self.lookup = lookup
        # What the export writes for a record, and the preview shows.
        self.render_key = render_key
        self.missing = missing

    def clean(self, value, row=None, **kwargs):
        text = text_of(value)
        if text == "":
            return None
        found = self.lookup.find(text)
        if found is None:
            raise CellProblem(self.missing.format(value=text))
        return found

    def render(self, value, obj=None, **kwargs):
        if value is None:
            return ""
        if isinstance(value, int):
            value = self.lookup.get(value)
            return "" if value is None else self.render_key(value)
        return self.render_key(value)


class References(Reference):
    """Several records in one cell, separated by semicolons: "CPT Standard; CPT RVUs"."""

    def clean(self, value, row=None, **kwargs):
        found, unknown = [], []
        for part in LIST_SEPARATORS.split(text_of(value)):
            if part:
                obj = self.lookup.find(part)
                if obj is None:
                    unknown.append(part)
                else:
                    found.append(obj)
        if unknown:
            raise CellProblem(self.missing.format(value="', '".join(unknown)))
        return found

    def render(self, value, obj=None, **kwargs):
        if value is None:
            return ""
        items = value.all() if hasattr(value, "all") else [self.lookup.get(pk) for pk in value]
        return "; ".join(self.render_key(item) for item in items if item is not None)


class Digits(Text):
    """An identifier of digits (EIN, NPI, ZIP code): separators dropped, and the leading zeros a spreadsheet
    takes off a number put back."""

    def __init__(self, length: int):
        super().__init__()
        self.length = length

    def clean(self, value, row=None, **kwargs):
        was_number = isinstance(value, int | float) and not isinstance(value, bool)
        text = text_of(value)
        digits = re.sub(r"[\s\-.]", "", text)
        if was_number and digits.isascii() and digits.isdigit() and len(digits) < self.length:
            digits = digits.zfill(self.length)
        return digits if digits.isascii() and digits.isdigit() or digits == "" else text


class Upper(Text):
    def clean(self, value, row=None, **kwargs):
        return text_of(value).upper()
