"""Input that should not be accepted, and changes that must never be lost in silence.

Dates, counts and amounts are refused outside the ranges of licensing/models/ranges.py, in words that name the
field and the range, on the admin forms and in imports, on SQLite as on PostgreSQL; the state is a US state or
territory code. A forged inline row id and inputs of the count method not chosen are refused with a message,
never "changed successfully" with something dropped."""

import datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from licensing import services
from licensing.models import Application, License, Organization, RateSchedule, UserCount, ranges
from tests.admin_forms import field_errors, inline_errors, page_form_data, post_admin_form
from tests.factories import (
    ApplicationFactory,
    BaseMetricsFactory,
    LicenseFactory,
    OrganizationFactory,
    ProxyCountFactory,
    UserCountFactory,
    VendorFactory,
)
from tests.import_support import build_world, problems_of, run

pytestmark = pytest.mark.django_db

NEXT_YEAR_END = f"31 December {timezone.localdate().year + 1}"
IN_SERVICE = f"between 1 January 1970 and {NEXT_YEAR_END}."
PEOPLE = "between 0 and 10,000,000."


def change(client, obj, changes):
    url = reverse(f"admin:licensing_{obj._meta.model_name}_change", args=[obj.pk])
    return post_admin_form(client, url, {"change_reason": "Testing ranges", **changes})


@pytest.fixture
def app_a(org_a):
    return ApplicationFactory(organization=org_a, name="Epic Ambulatory", category="ambulatory_ehr")


# Dates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1800-01-01", "1969-12-31", "9999-12-31", f"{timezone.localdate().year + 2}-01-01"])
@pytest.mark.parametrize(
    ("field", "label"), [("in_service_from", "In service from"), ("in_service_to", "In service to")]
)
def test_in_service_dates_outside_1970_to_next_year_are_refused(officer_client, app_a, field, label, value):
    response = change(officer_client, app_a, {field: value})
    assert field_errors(response)[field] == [f"{label} must be {IN_SERVICE}"]
    app_a.refresh_from_db()
    assert getattr(app_a, field) is None


def test_in_service_dates_at_the_ends_of_the_range_are_accepted(officer_client, app_a):
    last = f"{timezone.localdate().year + 1}-12-31"
    response = change(officer_client, app_a, {"in_service_from": "1970-01-01", "in_service_to": last})
    assert response.status_code == 302, field_errors(response)
    app_a.refresh_from_db()
    assert app_a.in_service_to == datetime.date(timezone.localdate().year + 1, 12, 31)


def test_the_end_of_next_year_is_read_when_a_value_is_checked_not_when_the_migration_was_written(monkeypatch):
    validators = Application._meta.get_field("in_service_to").validators
    assert any(getattr(v, "high", None) is ranges.end_of_next_year for v in validators)
    monkeypatch.setattr(ranges.timezone, "localdate", lambda: datetime.date(2040, 6, 1))
    application = ApplicationFactory.build(
        organization=OrganizationFactory(), in_service_to=datetime.date(2041, 12, 31)
    )
    application.full_clean()
    application.in_service_to = datetime.date(2042, 1, 1)
    with pytest.raises(Exception, match="In service to must be between 1 January 1970 and 31 December 2041."):
        application.full_clean()


def test_license_dates_stay_within_their_license_year(officer_client, app_a):
    # The license year's own rule (licensing.workflow) is the range: narrower than any calendar span.
    license = LicenseFactory(application=app_a, status="needed", licensed_users=None, agreement_number="")
    response = change(officer_client, license, {"starts_on": "1800-01-01", "ends_on": "9999-12-31"})
    assert field_errors(response) == {
        "starts_on": ["A CPT license covers one calendar year; this date must fall in 2026."],
        "ends_on": ["A CPT license covers one calendar year; this date must fall in 2026."],
    }


def test_a_count_dated_in_1800_is_refused(officer_client, app_a):
    count = UserCountFactory(application=app_a)
    response = change(officer_client, count, {"counted_on": "1800-01-01"})
    assert field_errors(response)["counted_on"] == [f"Counted on must be {IN_SERVICE}"]


def test_a_distribution_agreement_may_run_ten_years_ahead(admin_client):
    vendor = VendorFactory(is_authorized_distributor=True)
    horizon = timezone.localdate().year + ranges.AGREEMENT_YEARS_AHEAD
    response = change(admin_client, vendor, {"distribution_agreement_expires": f"{horizon + 1}-01-01"})
    assert field_errors(response)["distribution_agreement_expires"] == [
        f"Distribution agreement expires must be between 1 January 1970 and 31 December {horizon}."
    ]
    response = change(admin_client, vendor, {"distribution_agreement_expires": f"{horizon}-12-31"})
    assert response.status_code == 302, field_errors(response)


# Counts and amounts: the same maximum on SQLite and PostgreSQL --------------------------------


@pytest.mark.parametrize("value", [10_000_001, 2**31, 10**12, -1])
def test_licensed_users_beyond_the_maximum_are_refused_the_same_on_every_database(officer_client, app_a, value):
    license = LicenseFactory(application=app_a)
    response = change(officer_client, license, {"licensed_users": value})
    assert field_errors(response)["licensed_users"] == [f"Licensed users must be {PEOPLE}"]
    license.refresh_from_db()
    assert license.licensed_users == 10


def test_ten_million_users_is_the_largest_count_accepted(officer_client, app_a):
    count = UserCountFactory(application=app_a)
    response = change(officer_client, count, {"direct_users": 10_000_000})
    assert response.status_code == 302, field_errors(response)
    response = change(officer_client, count, {"direct_users": 10_000_001, "output_users": 10**12})
    assert field_errors(response) == {
        "direct_users": [f"Users under (a) must be {PEOPLE}"],
        "output_users": [f"Users under (c) must be {PEOPLE}"],
    }


@pytest.mark.parametrize("field", ["physicians", "billing_providers", "staffed_beds", "employees"])
def test_base_metrics_beyond_the_maximum_are_refused(officer_client, org_a, field):
    metrics = BaseMetricsFactory(organization=org_a)
    response = change(officer_client, metrics, {field: 10**12})
    label = field.replace("_", " ").capitalize()
    assert field_errors(response)[field] == [f"{label} must be {PEOPLE}"]


def test_a_proxy_count_whose_estimate_passes_the_maximum_is_refused(officer_client, app_a):
    count = ProxyCountFactory(application=app_a)
    response = change(officer_client, count, {"metric_value": "10000000", "factor": "4"})
    assert field_errors(response)["factor"] == [
        "The estimate comes to 40,000,000 users, more than the 10,000,000 a count may hold: check the base "
        "metric's value and the factor."
    ]
    response = change(officer_client, count, {"metric_value": str(10**12)})
    assert field_errors(response)["metric_value"] == ["Base metric value must be between 0 and 10,000,000."]


def test_money_beyond_its_digits_is_refused_in_dollars(admin_client):
    vendor = VendorFactory()
    response = change(admin_client, vendor, {"processing_fee_per_user": str(10**12)})
    assert field_errors(response)["processing_fee_per_user"] == [
        "Processing fee per user must be between $0.00 and $999,999.99."
    ]
    schedule = RateSchedule.objects.get(license_year=2026)
    response = change(admin_client, schedule, {"entity_fee": "100000000", "projection_step": "-1"})
    assert field_errors(response) == {
        "entity_fee": ["Entity fee must be between $0.00 and $99,999,999.99."],
        "projection_step": ["Yearly increase for projections must be between $0.00 and $9,999.99."],
    }


def test_the_database_refuses_counts_past_the_maximum_that_skip_the_forms(app_a):
    license = LicenseFactory(application=app_a)
    license.licensed_users = 10_000_001
    with pytest.raises(IntegrityError), transaction.atomic():
        services.record_bulk_update([license], License, ["licensed_users"], actor=None, reason="Bypassing forms")


# State ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["ZZ", "FM", "-1", "XX"])
def test_a_state_that_is_not_a_us_state_or_territory_is_refused(officer_client, org_a, value):
    response = change(officer_client, org_a, {"state": value})
    assert "Enter a US state or territory as its two-letter postal code" in field_errors(response)["state"][0]


@pytest.mark.parametrize(("typed", "stored"), [("pr", "PR"), ("AE", "AE"), ("dc", "DC"), ("wy", "WY")])
def test_states_territories_and_military_mail_are_accepted_uppercased(officer_client, org_a, typed, stored):
    response = change(officer_client, org_a, {"state": typed})
    assert response.status_code == 302, field_errors(response)
    assert Organization.objects.get(pk=org_a.pk).state == stored


# Silent loss: forged inline rows ---------------------------------------------------------------


def test_a_forged_inline_row_id_is_refused_not_reported_saved(officer_client, org_a, org_b, app_a):
    count = UserCountFactory(application=app_a, direct_users=5)
    theirs = UserCountFactory(application=ApplicationFactory(organization=org_b), direct_users=7)
    url = reverse("admin:licensing_application_change", args=[app_a.pk])
    data = page_form_data(officer_client.get(url))
    data.update({"user_counts-0-id": str(theirs.pk), "user_counts-0-direct_users": "99", "change_reason": "Recount"})
    response = officer_client.post(url, data)
    assert response.status_code == 200
    assert any("is not one of this record's rows" in error for error in inline_errors(response))
    assert "was changed successfully" not in response.content.decode()
    assert UserCount.objects.get(pk=theirs.pk).direct_users == 7
    assert UserCount.objects.get(pk=count.pk).direct_users == 5


@pytest.mark.parametrize("forged", ["999999", "abc", None])
def test_an_inline_row_id_of_no_record_or_missing_is_refused(officer_client, org_a, forged):
    ApplicationFactory(organization=org_a, name="Billing")
    url = reverse("admin:licensing_organization_change", args=[org_a.pk])
    data = page_form_data(officer_client.get(url))
    data["applications-0-name"] = "Renamed"
    if forged is None:
        del data["applications-0-id"]
    else:
        data["applications-0-id"] = forged
    response = officer_client.post(url, {**data, "change_reason": "Rename"})
    assert any("is not one of this record's rows" in error for error in inline_errors(response))
    assert not Application.objects.filter(name="Renamed").exists()


# Silent loss: inputs of the count method not chosen -------------------------------------------


def test_inputs_of_the_other_method_are_refused_and_kept_on_the_form(officer_client, app_a):
    count = UserCountFactory(application=app_a, direct_users=5)
    response = change(officer_client, count, {"base_metric": "physicians", "metric_value": "7"})
    errors = field_errors(response)
    assert errors["metric_value"] == [
        "This is an input of the User Proxy Model, but the count's method is Counted users: clear it, or choose "
        "User Proxy Model as the method and clear (a), (b) and (c) instead."
    ]
    assert response.context["adminform"].form["metric_value"].value() == "7"
    count.refresh_from_db()
    assert (count.metric_value, count.base_metric) == (None, "")


def test_head_counts_on_a_proxy_count_are_refused_in_the_applications_inline(officer_client, app_a):
    count = ProxyCountFactory(application=app_a)
    url = reverse("admin:licensing_application_change", args=[app_a.pk])
    response = post_admin_form(officer_client, url, {"user_counts-0-direct_users": "12", "change_reason": "Recount"})
    assert any("This is a head count, but the count's method is User Proxy Model" in e for e in inline_errors(response))
    count.refresh_from_db()
    assert (count.direct_users, count.metric_value) == (None, Decimal("1"))


def test_an_import_row_mixing_the_methods_is_refused_not_trimmed(org_a, officer):
    world = build_world(org_a)
    content = (
        b"Organization,System name,License year,Method,(a) access CPT directly,Base metric,Base metric value\r\n"
        b"alpha-health,Epic Ambulatory,2026,Counted users,12,Physicians,12\r\n"
    )
    result = run("user-counts", "counts.csv", content, actor=officer)
    assert "line 2: Base metric value: This is an input of the User Proxy Model" in " ".join(problems_of(result))
    world.epic_count.refresh_from_db()
    assert (world.epic_count.direct_users, world.epic_count.metric_value) == (10, None)


# Imports: numbers no form would take ---------------------------------------------------------


def test_an_import_row_with_infinite_or_astronomic_numbers_is_refused_in_words(org_a, officer):
    build_world(org_a)
    content = (
        b"Organization,System name,License year,Method,(a) access CPT directly,Base metric,Base metric value\r\n"
        b"alpha-health,Epic Ambulatory,2026,Counted users,Infinity,,\r\n"
        b"alpha-health,Cerner Billing,2026,Counted users,1e999999999,,\r\n"
        b"alpha-health,Cerner Billing,2025,User Proxy Model,,Physicians,NaN\r\n"
    )
    result = run("user-counts", "counts.csv", content, actor=officer, dry_run=True)
    problems = problems_of(result)
    for expected in [
        "line 2: (a) access CPT directly: 'Infinity' is not a whole number of any size the portal keeps; write digits.",
        "line 3: (a) access CPT directly: '1e999999999' is not a whole number of any size the portal keeps; write "
        "digits.",
        "line 4: Base metric value: 'NaN' is not a number; write digits with a point, e.g. 18.50.",
    ]:
        assert expected in problems, problems
