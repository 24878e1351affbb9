"""Identifiers printed on the AMA application: the IRS EIN and the CMS NPI.

Both are stored as bare digits; people may type them with hyphens or spaces.
"""

import re
from collections.abc import Callable

from django import forms
from django.core.exceptions import ValidationError
from django.db import models

_SEPARATORS = re.compile(r"[\s\-]")


def normalize_digits(value: str | None) -> str:
    return _SEPARATORS.sub("", value or "")


def record_id(text) -> int | None:
    """The id a person or a file gave as text, or None: ASCII digits only (str.isdigit() also takes "²", which
    int() refuses) and at most 18 of them, so it fits a 64-bit primary key."""
    text = str(text if text is not None else "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def format_ein(value: str | None) -> str:
    """An EIN as people write it, 12-3456789; anything that is not nine digits is shown as it is."""
    digits = normalize_digits(value)
    return f"{digits[:2]}-{digits[2:]}" if re.fullmatch(r"[0-9]{9}", digits) else (value or "")


def search_digits(term: str) -> str:
    """A search term typed like an identifier (12-3456789, 123 456 7890) as the digits the database stores."""
    return normalize_digits(term) if re.fullmatch(r"[0-9\s\-]+", term or "") and re.search(r"[0-9]", term) else term


def validate_ein(value: str) -> None:
    """An Employer Identification Number is nine digits, written 12-3456789."""
    if not re.fullmatch(r"[0-9]{9}", value or ""):
        raise ValidationError(
            "An EIN has 9 digits, written like 12-3456789. Check the number on the organization's IRS letter.",
            code="invalid_ein",
        )
    if value.startswith("00"):
        raise ValidationError("No EIN starts with 00; check the first two digits.", code="invalid_ein")


def npi_check_digit(first_nine: str) -> int:
    """Luhn check digit over the NPI's first nine digits prefixed with 80840.

    Source: CMS, "Requirements for National Provider Identifier (NPI) and NPI Enumeration",
    check digit section (ISO 7812 prefix 80840 for US health applications).
    """
    total = 0
    # Rightmost payload digit is doubled because the check digit will sit to its right.
    for position, char in enumerate(reversed("80840" + first_nine)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10


def validate_npi(value: str) -> None:
    """A National Provider Identifier is ten digits whose last digit is a Luhn check digit."""
    if not re.fullmatch(r"[0-9]{10}", value or ""):
        raise ValidationError(
            "An NPI has exactly 10 digits. Look it up in the NPPES registry if unsure.", code="invalid_npi"
        )
    if npi_check_digit(value[:9]) != int(value[9]):
        raise ValidationError(
            "This NPI fails its check digit, so at least one digit is mistyped. Compare it with the NPPES registry.",
            code="invalid_npi",
        )


class DigitsFormField(forms.CharField):
    """Shows the stored digits the way people write them and takes them back with or without separators."""

    def __init__(self, *, display: Callable[[str], str] | None = None, **kwargs):
        self.display = display
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return self.display(value) if self.display and value else value

    def to_python(self, value):
        # Digits, so "12-3456789" typed over a stored 123456789 is not a change.
        return normalize_digits(super().to_python(value))


class DigitsField(models.CharField):
    """A CharField that drops hyphens and spaces before validating, so 12-3456789 is stored as 123456789.

    `display` formats the digits for forms (format_ein); it is presentation only, so migrations never see it.
    """

    def __init__(self, *args, display: Callable[[str], str] | None = None, **kwargs):
        self.display = display
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        return normalize_digits(super().to_python(value))

    def formfield(self, **kwargs):
        # Leave room for the separators people type; the model stores digits only.
        kwargs.setdefault("max_length", (self.max_length or 0) + 4)
        kwargs.setdefault("form_class", DigitsFormField)
        kwargs.setdefault("display", self.display)
        return super().formfield(**kwargs)


# USPS codes of the 50 states, the District of Columbia, the five inhabited territories (PR, GU, VI, AS, MP)
# and military mail (AA, AE, AP: military clinics are addressed through them). The freely associated states
# (FM, MH, PW) are not US states or territories and are refused.
US_STATES = frozenset(
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK "
    "OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC PR GU VI AS MP AA AE AP".split()
)


def validate_state(value: str) -> None:
    """A US state or territory as its two-letter postal code, in either case (the model stores it uppercased)."""
    if (value or "").strip().upper() not in US_STATES:
        raise ValidationError(
            "Enter a US state or territory as its two-letter postal code, e.g. IL: one of the 50 states, DC, PR, "
            "GU, VI, AS, MP, or AA, AE, AP for military mail.",
            code="invalid_state",
        )


# Names people write for the countries staff most often work from, as ISO 3166-1 alpha-2 codes; any other
# country is written as its two-letter code.
COUNTRY_NAMES = {
    "united states": "US",
    "united states of america": "US",
    "usa": "US",
    "u.s.": "US",
    "u.s.a.": "US",
    "america": "US",
    "canada": "CA",
    "mexico": "MX",
    "india": "IN",
    "philippines": "PH",
    "united kingdom": "GB",
    "uk": "GB",
    "great britain": "GB",
    "ireland": "IE",
    "germany": "DE",
    "poland": "PL",
    "israel": "IL",
    "pakistan": "PK",
    "costa rica": "CR",
    "colombia": "CO",
}
HOME_COUNTRY = "US"


def country_code(text: str | None) -> str:
    """The ISO 3166-1 alpha-2 code of a country as written in a roster ("USA", "India", "in"); empty is the US.

    Raises ValidationError for a name it does not know, asking for the two-letter code instead.
    """
    cleaned = " ".join(str(text or "").split())
    if cleaned == "":
        return HOME_COUNTRY
    known = COUNTRY_NAMES.get(cleaned.casefold())
    if known is not None:
        return known
    if re.fullmatch(r"[A-Za-z]{2}", cleaned):
        return cleaned.upper()
    raise ValidationError(
        f"'{cleaned}' is not a country the portal recognises; write its two-letter ISO code, e.g. US, IN or PH.",
        code="invalid_country",
    )


def validate_country(value: str) -> None:
    if not re.fullmatch(r"[A-Z]{2}", value or ""):
        raise ValidationError(
            "Write the country as its two-letter ISO code in capitals, e.g. US, IN or PH.", code="invalid_country"
        )
