"""The life of a license: guarded status transitions, required fields, dates, and database constraints."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from licensing import services, workflow
from licensing.models import License
from tests.factories import ApplicationFactory, LicenseFactory, UserFactory

pytestmark = pytest.mark.django_db

# A past year, so that moving to "expired" is allowed whatever today's date is.
PAST_YEAR = 2025
STATUSES = [choice.value for choice in License.Status]
ALLOWED = sorted((before, after) for before, targets in workflow.TRANSITIONS.items() for after in targets)
FORBIDDEN = sorted(
    (before, after)
    for before in STATUSES
    for after in STATUSES
    if before != after and after not in workflow.TRANSITIONS[before]
)


def license_in(status: str, **fields) -> License:
    fields.setdefault("license_year", PAST_YEAR)
    fields.setdefault("not_required_reason", "Retired before January 1" if status == "not_required" else "")
    return LicenseFactory(status=status, **fields)


def test_every_status_has_a_transition_entry():
    assert set(workflow.TRANSITIONS) == set(STATUSES)
    assert len(ALLOWED) == 14
    assert workflow.allowed_next("expired") == set()
    assert workflow.allowed_next("unknown") == set()


@pytest.mark.parametrize("before, after", ALLOWED, ids=[f"{b}->{a}" for b, a in ALLOWED])
def test_allowed_transition_goes_through(before, after):
    actor = UserFactory()
    license = license_in(before)
    extra = {"not_required_reason": "Only a lookup table, no CPT"} if after == "not_required" else {}
    services.license_set_status(license=license, status=after, actor=actor, reason=f"{before} to {after}", **extra)
    license.refresh_from_db()
    assert license.status == after
    record = license.history.latest()
    assert (record.status, record.history_user, record.history_change_reason) == (after, actor, f"{before} to {after}")


@pytest.mark.parametrize("before, after", FORBIDDEN, ids=[f"{b}->{a}" for b, a in FORBIDDEN])
def test_forbidden_transition_is_refused_on_status(before, after):
    license = license_in(before)
    with pytest.raises(ValidationError) as caught:
        services.license_set_status(
            license=license, status=after, actor=None, reason="try", not_required_reason="Some reason"
        )
    assert list(caught.value.message_dict) == ["status"]
    assert "cannot become" in caught.value.message_dict["status"][0]
    assert License.objects.get(pk=license.pk).status == before


def test_active_cannot_go_back_to_needed_and_is_told_to_renew():
    license = license_in("active")
    with pytest.raises(ValidationError) as caught:
        services.license_set_status(license=license, status="needed", actor=None, reason="undo")
    assert caught.value.message_dict["status"] == [
        "A license that is active cannot become needed. Allowed next: expired. "
        "For a new year, renew the license instead."
    ]


def test_expired_cannot_become_active_again():
    license = license_in("expired")
    with pytest.raises(ValidationError) as caught:
        services.license_set_status(license=license, status="active", actor=None, reason="revive")
    assert caught.value.message_dict["status"] == [
        "A license that is expired cannot become active. Allowed next: none. For a new year, renew the license instead."
    ]


# Required fields ------------------------------------------------------------------------------


def test_active_needs_agreement_number_and_licensed_users():
    license = license_in("submitted", agreement_number="", licensed_users=None)
    with pytest.raises(ValidationError) as caught:
        services.license_set_status(license=license, status="active", actor=None, reason="signed")
    assert set(caught.value.message_dict) >= {"agreement_number", "licensed_users"}
    assert License.objects.get(pk=license.pk).status == "submitted"


def test_active_with_agreement_and_users_is_accepted():
    license = license_in("submitted", agreement_number="", licensed_users=None)
    services.license_set_status(
        license=license, status="active", actor=None, reason="signed", agreement_number="AMA-123", licensed_users=40
    )
    license.refresh_from_db()
    assert (license.status, license.agreement_number, license.licensed_users) == ("active", "AMA-123", 40)


def test_blank_agreement_number_is_not_an_agreement_number():
    license = license_in("submitted", agreement_number="   ")
    with pytest.raises(ValidationError) as caught:
        services.license_set_status(license=license, status="active", actor=None, reason="signed")
    assert list(caught.value.message_dict) == ["agreement_number"]


def test_not_required_needs_a_reason():
    license = license_in("needed")
    with pytest.raises(ValidationError) as caught:
        services.license_set_status(
            license=license, status="not_required", actor=None, reason="x", not_required_reason=" "
        )
    assert list(caught.value.message_dict) == ["not_required_reason"]


def test_distributor_route_needs_the_distributor_once_submitted():
    license = license_in("drafted", route="distributor", distributor=None)
    with pytest.raises(ValidationError) as caught:
        services.license_set_status(license=license, status="submitted", actor=None, reason="sent")
    assert list(caught.value.message_dict) == ["distributor"]


# Expiry date ----------------------------------------------------------------------------------


def test_expiry_only_after_december_31_of_the_license_year():
    license = LicenseFactory.build(application=ApplicationFactory(), license_year=2026, status="expired")
    with pytest.raises(ValidationError) as caught:
        workflow.check_transition(license, "active", today=datetime.date(2026, 12, 31))
    assert caught.value.message_dict["status"] == ["The license runs until 2026-12-31; it expires only after that."]
    workflow.check_transition(license, "active", today=datetime.date(2027, 1, 1))  # no exception


def test_expiry_follows_an_early_end_date():
    license = LicenseFactory.build(
        application=ApplicationFactory(), license_year=2026, status="expired", ends_on=datetime.date(2026, 6, 30)
    )
    with pytest.raises(ValidationError):
        workflow.check_transition(license, "active", today=datetime.date(2026, 6, 30))
    workflow.check_transition(license, "active", today=datetime.date(2026, 7, 1))


def test_check_license_passes_today_to_the_transition_check():
    license = LicenseFactory(license_year=2026, status="active")
    license.status = "expired"
    with pytest.raises(ValidationError) as caught:
        workflow.check_license(license, today=datetime.date(2026, 11, 1))
    assert list(caught.value.message_dict) == ["status"]
    workflow.check_license(license, today=datetime.date(2027, 1, 2))


def test_a_future_license_cannot_expire_now():
    license = LicenseFactory(license_year=2100, status="active")
    with pytest.raises(ValidationError) as caught:
        services.license_set_status(license=license, status="expired", actor=None, reason="too early")
    assert caught.value.message_dict["status"] == ["The license runs until 2100-12-31; it expires only after that."]


def test_a_license_cannot_be_created_expired_before_its_year_ends():
    # "expired (after December 31 of its year)": entering a license as expired, e.g. by import,
    # must obey the same date rule as moving an active license to expired.
    license = LicenseFactory.build(application=ApplicationFactory(), license_year=2100, status="expired")
    with pytest.raises(ValidationError) as caught:
        license.full_clean()
    assert "status" in caught.value.message_dict


def test_a_past_license_may_be_created_expired():
    license = LicenseFactory.build(application=ApplicationFactory(), license_year=PAST_YEAR, status="expired")
    license.full_clean()  # no exception


# Dates and application ------------------------------------------------------------------------


def test_end_before_start_is_refused():
    license = LicenseFactory.build(
        application=ApplicationFactory(),
        license_year=2026,
        starts_on=datetime.date(2026, 6, 1),
        ends_on=datetime.date(2026, 5, 31),
    )
    with pytest.raises(ValidationError) as caught:
        license.full_clean()
    assert caught.value.message_dict["ends_on"] == ["The license ends before it starts; correct one of the two dates."]


@pytest.mark.parametrize(
    "field, day",
    [("starts_on", datetime.date(2025, 12, 31)), ("ends_on", datetime.date(2027, 1, 1))],
)
def test_dates_outside_the_license_year_are_refused(field, day):
    license = LicenseFactory.build(application=ApplicationFactory(), license_year=2026, **{field: day})
    with pytest.raises(ValidationError) as caught:
        license.full_clean()
    assert caught.value.message_dict[field] == ["A CPT license covers one calendar year; this date must fall in 2026."]


def test_dates_inside_the_license_year_are_accepted_and_set_the_term():
    license = LicenseFactory.build(
        application=ApplicationFactory(),
        license_year=2026,
        starts_on=datetime.date(2026, 3, 1),
        ends_on=datetime.date(2026, 12, 31),
    )
    license.full_clean()
    assert (license.term_start, license.term_end) == (datetime.date(2026, 3, 1), datetime.date(2026, 12, 31))
    default = LicenseFactory.build(license_year=2026)
    assert (default.term_start, default.term_end) == (datetime.date(2026, 1, 1), datetime.date(2026, 12, 31))


def test_a_license_for_an_application_without_cpt_is_refused():
    application = ApplicationFactory(name="Staff rota", cpt_coverage="no_cpt")
    license = LicenseFactory.build(application=application, status="needed")
    with pytest.raises(ValidationError) as caught:
        license.full_clean()
    assert list(caught.value.message_dict) == ["application"]
    assert caught.value.message_dict["application"][0].startswith("Staff rota is recorded as having no CPT content")


def test_negative_licensed_users_are_refused_by_full_clean():
    license = LicenseFactory.build(application=ApplicationFactory(), status="needed", licensed_users=-1)
    with pytest.raises(ValidationError) as caught:
        license.full_clean()
    # Once, from the field's range (licensing.models.ranges), not again from the workflow.
    assert caught.value.message_dict["licensed_users"] == ["Licensed users must be between 0 and 10,000,000."]


# Database constraints -------------------------------------------------------------------------


def test_second_license_for_the_same_application_and_year_is_refused_by_the_database():
    first = LicenseFactory(license_year=2026)
    with pytest.raises(IntegrityError), transaction.atomic():
        LicenseFactory(application=first.application, license_year=2026)
    LicenseFactory(application=first.application, license_year=2027)
    assert License.objects.filter(application=first.application).count() == 2


def test_second_license_for_the_same_application_and_year_is_refused_by_full_clean():
    first = LicenseFactory(license_year=2026)
    duplicate = LicenseFactory.build(application=first.application, license_year=2026, status="needed")
    with pytest.raises(ValidationError) as caught:
        duplicate.full_clean()
    assert "This application already has a license for that year; renew or edit it instead." in caught.value.messages


def test_negative_licensed_users_are_refused_by_the_database():
    application = ApplicationFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        LicenseFactory(application=application, status="needed", licensed_users=-1)
    assert not License.objects.filter(application=application).exists()


def test_active_without_agreement_number_is_refused_by_the_database():
    with pytest.raises(IntegrityError), transaction.atomic():
        LicenseFactory(status="active", agreement_number="")


def test_end_before_start_is_refused_by_the_database():
    with pytest.raises(IntegrityError), transaction.atomic():
        LicenseFactory(starts_on=datetime.date(2026, 6, 1), ends_on=datetime.date(2026, 1, 1))


@pytest.mark.parametrize("year", [1999, 2101])
def test_license_year_out_of_range_is_refused(year):
    application = ApplicationFactory()
    with pytest.raises(ValidationError) as caught:
        LicenseFactory.build(application=application, license_year=year, status="needed").full_clean()
    assert "license_year" in caught.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        LicenseFactory(application=application, license_year=year)
    assert not License.objects.filter(application=application).exists()


def test_distributor_license_needs_an_authorized_distributor(db):
    from django.core.exceptions import ValidationError

    from tests.factories import ApplicationFactory, LicenseFactory, VendorFactory

    reseller = VendorFactory(name="Unlicensed Reseller", is_authorized_distributor=False)
    lic = LicenseFactory.build(
        application=ApplicationFactory(cpt_coverage="distributor"), route="distributor", distributor=reseller
    )
    with pytest.raises(ValidationError) as refused:
        lic.full_clean()
    assert "not recorded as an AMA-authorized distributor" in " ".join(refused.value.message_dict["distributor"])
