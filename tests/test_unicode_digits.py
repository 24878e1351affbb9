"""Digits that are not ASCII: str.isdigit() takes "²" (which int() refuses) and regular expressions' \\d take
"١٢٣" (Arabic-Indic digits). An id typed or forged with them finds nothing, never a 500; an EIN or NPI written
with them is refused, so the AMA's form never prints them."""

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError

from licensing import identifiers
from licensing.management.commands.import_data import find_application
from tests.factories import ApplicationFactory
from tests.test_plausibility import clinic, messages_of, prepare  # noqa: F401 (fixtures and helpers reused)

SUPERSCRIPT_TWO = "\u00b2"
ARABIC_INDIC_NINE_DIGITS = "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669"


@pytest.mark.parametrize("text", [SUPERSCRIPT_TWO, "\u0661\u0662", "", " ", "1" * 19, "-1", "1.0"])
def test_record_id_takes_ascii_digits_only(text):
    assert identifiers.record_id(text) is None


def test_record_id_reads_a_plain_id():
    assert identifiers.record_id(" 42 ") == 42


@pytest.mark.parametrize("validate", [identifiers.validate_ein, identifiers.validate_npi])
def test_identifiers_written_in_other_digits_are_refused(validate):
    with pytest.raises(ValidationError):
        validate(ARABIC_INDIC_NINE_DIGITS + ("\u0660" if validate is identifiers.validate_npi else ""))


@pytest.mark.django_db
def test_a_forged_count_id_on_acknowledgement_finds_nothing(officer_client, clinic, org_a):  # noqa: F811
    filing = prepare(officer_client, org_a)
    response = officer_client.post(
        f"/admin/licensing/filing/{filing.pk}/acknowledge/", {"count": SUPERSCRIPT_TWO, "reason": "x"}, follow=True
    )
    assert response.status_code == 200
    assert any("not part of this application" in message for message in messages_of(response))


@pytest.mark.django_db
def test_a_job_page_with_a_forged_id_is_not_found(officer_client):
    assert officer_client.get(f"/admin/licensing/job/{SUPERSCRIPT_TWO}/change/").status_code == 404


@pytest.mark.django_db
def test_the_import_command_names_no_application_for_a_forged_id(officer, org_a):
    ApplicationFactory(organization=org_a, name="Clinic EHR")
    with pytest.raises(CommandError):
        find_application(officer, SUPERSCRIPT_TWO, None)
