"""EIN and NPI: stored as bare digits, typed with hyphens or spaces, validated on full_clean."""

import pytest
from django.core.exceptions import ValidationError

from licensing.identifiers import normalize_digits, npi_check_digit, validate_ein, validate_npi
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


def _cleaned(**fields):
    organization = OrganizationFactory.build(**fields)
    organization.full_clean()
    return organization


# EIN ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["12-3456789", "123456789", "12 3456789", " 12-345 6789 "])
def test_ein_typed_with_separators_is_stored_as_nine_digits(typed):
    assert _cleaned(ein=typed).ein == "123456789"


def test_normalised_ein_is_what_gets_saved():
    organization = _cleaned(ein="12-3456789")
    organization.save()
    organization.refresh_from_db()
    assert organization.ein == "123456789"


@pytest.mark.parametrize(
    "typed, message",
    [
        ("12-345678", "An EIN has 9 digits"),  # 8 digits
        ("12-34567890", "9 digits"),  # 10 digits
        ("AB-1234567", "An EIN has 9 digits"),  # letters
        ("12-34567B9", "An EIN has 9 digits"),
        ("00-1234567", "No EIN starts with 00"),
    ],
)
def test_bad_ein_is_refused_on_the_ein_field(typed, message):
    with pytest.raises(ValidationError) as caught:
        _cleaned(ein=typed)
    assert list(caught.value.message_dict) == ["ein"]
    assert any(message in text for text in caught.value.message_dict["ein"])


def test_validate_ein_codes():
    validate_ein("123456789")  # no exception
    for bad in ("12345678", "1234567890", "12345678X", "001234567", ""):
        with pytest.raises(ValidationError) as caught:
            validate_ein(bad)
        assert caught.value.code == "invalid_ein"


def test_blank_ein_is_allowed():
    assert _cleaned(ein="").ein == ""


# NPI ------------------------------------------------------------------------------------------


def test_npi_check_digit_uses_the_80840_prefix():
    # CMS worked example: 123456789 -> 3. Plain Luhn without the prefix would give 7.
    assert npi_check_digit("123456789") == 3


def test_cms_example_npi_is_valid():
    validate_npi("1234567893")  # no exception
    assert _cleaned(npi="1234567893").npi == "1234567893"


@pytest.mark.parametrize(
    "typed, message",
    [
        ("1234567890", "fails its check digit"),
        ("1234567897", "fails its check digit"),  # valid plain Luhn, invalid with the 80840 prefix
        ("123456789", "exactly 10 digits"),
        ("12345678931", "exactly 10 digits"),
        ("12345678a3", "exactly 10 digits"),
    ],
)
def test_bad_npi_is_refused_on_the_npi_field(typed, message):
    with pytest.raises(ValidationError) as caught:
        _cleaned(npi=typed)
    assert list(caught.value.message_dict) == ["npi"]
    assert any(message in text for text in caught.value.message_dict["npi"])


@pytest.mark.parametrize("typed", ["123-456-7893", "1234 567 893", "123456 7893", "1234567893"])
def test_npi_with_hyphens_or_spaces_is_accepted_and_stored_as_digits(typed):
    assert _cleaned(npi=typed).npi == "1234567893"


def test_validate_npi_codes():
    for bad in ("1234567890", "123456789", ""):
        with pytest.raises(ValidationError) as caught:
            validate_npi(bad)
        assert caught.value.code == "invalid_npi"


def test_normalize_digits():
    assert normalize_digits("12-34 56\t789") == "123456789"
    assert normalize_digits(None) == ""
