"""Compliance officers enter data in the admin: bad input is refused at the field and nothing is half-saved."""

from decimal import Decimal

import pytest
from django.contrib.staticfiles import finders

from licensing import services, standing
from licensing.models import Application, BaseMetrics, License, Organization, UserCount
from tests.admin_forms import field_errors, inline_errors, post_admin_form
from tests.factories import (
    ApplicationFactory,
    BaseMetricsFactory,
    LicenseFactory,
    OrganizationFactory,
    UserCountFactory,
    VendorFactory,
    data_file,
    record,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def app_a(org_a):
    return ApplicationFactory(organization=org_a, name="Charge Capture", category="billing_rcm")


def add_count(client, application, **fields):
    changes = {"application": application.pk, "license_year": 2026, **fields}
    return post_admin_form(client, "/admin/licensing/usercount/add/", changes)


def test_counted_users_saved_and_shown_with_royalty(officer_client, app_a):
    response = add_count(officer_client, app_a, method="counted", direct_users=12, program_users=3, output_users=5)
    assert response.status_code == 302, field_errors(response)
    count = UserCount.objects.get(application=app_a, license_year=2026)
    assert count.users == 20
    page = officer_client.get(f"/admin/licensing/usercount/{count.pk}/change/").content.decode()
    assert "12 (a) + 3 (b) + 5 (c) = 20 counted users" in page
    assert "$370.00" in page  # 20 users x $18.50 (2026 CPT Standard)
    assert "Unlicensed" in page


def test_negative_users_refused_with_one_message(officer_client, app_a):
    response = add_count(officer_client, app_a, method="counted", direct_users=-3)
    assert field_errors(response)["direct_users"] == ["Users under (a) must be between 0 and 10,000,000."]
    assert response.content.decode().count("must be between 0 and 10,000,000.") == 1
    assert not UserCount.objects.exists()


def test_a_count_mixing_both_methods_is_refused_not_silently_trimmed(officer_client, app_a):
    response = add_count(
        officer_client, app_a, method="counted", direct_users=12, base_metric="physicians", metric_value="3", factor="4"
    )
    errors = field_errors(response)
    assert set(errors) == {"base_metric", "metric_value", "factor"}
    assert "input of the User Proxy Model, but the count's method is Counted users" in errors["factor"][0]
    assert not UserCount.objects.exists()

    response = add_count(officer_client, app_a, method="proxy", base_metric="physicians", metric_value="3",
                         factor="4", direct_users=12)  # fmt: skip
    assert "head count, but the count's method is User Proxy Model" in field_errors(response)["direct_users"][0]
    assert not UserCount.objects.exists()


def test_counted_count_with_nobody_refused(officer_client, app_a):
    response = add_count(officer_client, app_a, method="counted", direct_users=0, program_users="", output_users="")
    assert "at least one person" in " ".join(field_errors(response)["direct_users"])
    assert not UserCount.objects.exists()


def test_proxy_count_without_value_or_factor_refused(officer_client, app_a):
    # Billing systems have no default factor and the organization has no base metrics on file.
    response = add_count(officer_client, app_a, method="proxy", base_metric="staffed_beds", metric_value="", factor="")
    errors = field_errors(response)
    assert "base metric's value" in " ".join(errors["metric_value"])
    assert "proxy factor" in " ".join(errors["factor"])
    assert not UserCount.objects.exists()


def test_proxy_count_takes_defaults_from_reference_data(officer_client, org_a):
    ehr = ApplicationFactory(organization=org_a, category="ambulatory_ehr")
    BaseMetricsFactory(organization=org_a, license_year=2026, physicians=3, source="Medical staff office roster")
    response = add_count(officer_client, ehr, method="proxy", base_metric="physicians", metric_value="", factor="")
    assert response.status_code == 302, field_errors(response)
    count = UserCount.objects.get(application=ehr)
    assert (count.metric_value, count.factor, count.users) == (Decimal("3"), Decimal("4"), 12)
    assert count.metric_source == "Medical staff office roster"


def test_duplicate_count_for_year_refused(officer_client, app_a):
    UserCountFactory(application=app_a, license_year=2026)
    response = add_count(officer_client, app_a, method="counted", direct_users=4)
    assert "already has a user count for that year" in str(response.context["adminform"].form.errors)
    assert UserCount.objects.count() == 1


def add_license(client, application, **fields):
    changes = {"application": application.pk, "license_year": 2026, "route": "direct", **fields}
    return post_admin_form(client, "/admin/licensing/license/add/", changes)


def test_active_license_without_agreement_number_refused(officer_client, app_a):
    response = add_license(officer_client, app_a, status="active", licensed_users=20, agreement_number="")
    assert "agreement number" in " ".join(field_errors(response)["agreement_number"])
    assert not License.objects.exists()


def test_license_ending_before_it_starts_refused(officer_client, app_a):
    response = add_license(officer_client, app_a, status="needed", starts_on="2026-06-01", ends_on="2026-03-01")
    assert "ends before it starts" in " ".join(field_errors(response)["ends_on"])
    assert not License.objects.exists()


def test_license_for_application_without_cpt_refused(officer_client, org_a):
    no_cpt = ApplicationFactory(organization=org_a, cpt_coverage="no_cpt", data_files=[])
    response = add_license(officer_client, no_cpt, status="needed")
    assert "no CPT content" in " ".join(field_errors(response)["application"])
    assert not License.objects.exists()


def test_license_status_only_moves_along_the_workflow(officer_client, app_a):
    lic = LicenseFactory(application=app_a, status="active", licensed_users=5)
    url = f"/admin/licensing/license/{lic.pk}/change/"
    page = officer_client.get(url)
    offered = [value for value, _ in page.context["adminform"].form.fields["status"].choices]
    assert offered == ["active", "expired"]
    response = post_admin_form(officer_client, url, {"status": "needed"})
    assert "status" in field_errors(response)
    lic.refresh_from_db()
    assert lic.status == "active"


def test_renew_action_opens_next_year_as_new_row(officer_client, app_a):
    year = standing.current_license_year()
    lic = LicenseFactory(application=app_a, license_year=year, status="active", licensed_users=30)
    response = officer_client.post(
        "/admin/licensing/license/",
        # The action's confirmation page posts back with the reason (tests/test_renewals.py covers the page).
        {"action": "renew_for_next_year", "_selected_action": [lic.pk], "post": "yes", "reason": "Annual renewal"},
        follow=True,
    )
    assert response.status_code == 200
    renewal = License.objects.get(application=app_a, license_year=year + 1)
    assert (renewal.status, renewal.licensed_users, renewal.renewal_of_id) == ("needed", 30, lic.pk)
    lic.refresh_from_db()
    assert lic.status == "active"
    assert renewal.history.get().history_user.username == "officer-a"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("ein", "12-34567", "9 digits"),
        ("ein", "00-1234567", "starts with 00"),
        ("npi", "1234567890", "check digit"),
        ("npi", "12345", "exactly 10 digits"),
    ],
)
def test_malformed_identifiers_refused(officer_client, org_a, field, value, message):
    affiliate = record(Organization, name="North Clinic", slug="north-clinic", parent=org_a)
    url = f"/admin/licensing/organization/{affiliate.pk}/change/"
    response = post_admin_form(officer_client, url, {field: value})
    assert message in " ".join(field_errors(response)[field])
    affiliate.refresh_from_db()
    assert getattr(affiliate, field) == ""


def test_identifiers_typed_with_hyphens_are_stored_as_digits(officer_client, org_a):
    affiliate = record(Organization, name="North Clinic", slug="north-clinic", parent=org_a)
    url = f"/admin/licensing/organization/{affiliate.pk}/change/"
    response = post_admin_form(officer_client, url, {"ein": "36-1234567", "npi": "1234 5678 93"})
    assert response.status_code == 302, field_errors(response)
    affiliate.refresh_from_db()
    assert (affiliate.ein, affiliate.npi) == ("361234567", "1234567893")


def test_application_with_invalid_inline_count_saves_nothing(officer_client, org_a):
    vendor = VendorFactory(name="Meditech-like Systems")
    response = post_admin_form(
        officer_client,
        "/admin/licensing/application/add/",
        {
            "organization": org_a.pk,
            "name": "Inpatient EHR",
            "category": "inpatient_ehr",
            "vendor": vendor.pk,
            "cpt_coverage": "direct",
            "data_files": [data_file().pk],
            "deployment": "hosted",
        },
        inline_rows={"user_counts": [{"license_year": 2026, "method": "counted", "direct_users": -1}]},
    )
    assert any("between 0 and 10,000,000" in error for error in inline_errors(response)), inline_errors(response)
    assert not Application.objects.filter(name="Inpatient EHR").exists()
    assert not UserCount.objects.exists()


def test_application_with_cpt_needs_data_files(officer_client, org_a):
    response = post_admin_form(
        officer_client,
        "/admin/licensing/application/add/",
        {"organization": org_a.pk, "name": "Coder", "category": "coding", "cpt_coverage": "direct", "data_files": []},
    )
    assert "data files" in " ".join(field_errors(response)["data_files"])
    assert not Application.objects.exists()


def test_application_service_end_before_start_refused(officer_client, app_a):
    url = f"/admin/licensing/application/{app_a.pk}/change/"
    response = post_admin_form(officer_client, url, {"in_service_from": "2024-05-01", "in_service_to": "2023-01-01"})
    assert "before its start" in " ".join(field_errors(response)["in_service_to"])
    app_a.refresh_from_db()
    assert app_a.in_service_to is None


def test_application_page_shows_position_and_true_up(officer_client, app_a):
    UserCountFactory(application=app_a, license_year=2026, direct_users=12)
    LicenseFactory(application=app_a, license_year=2026, licensed_users=10)
    page = officer_client.get(f"/admin/licensing/application/{app_a.pk}/change/").content.decode()
    assert "Under-licensed: 2 more users than licensed." in page
    assert "True-up cost: $37.00" in page


def test_organization_page_shows_royalty_with_entity_fee(officer_client, org_a, app_a):
    UserCountFactory(application=app_a, license_year=2026, direct_users=10)
    page = officer_client.get(f"/admin/licensing/organization/{org_a.pk}/change/").content.decode()
    # 10 users x $18.50 + the $82.50 entity fee carried from 2024 as an estimate.
    assert "$185.00" in page and "$82.50" in page and "$267.50" in page
    assert "Entity fee (estimated)" in page


def test_base_metrics_negative_refused(officer_client, org_a):
    response = post_admin_form(
        officer_client,
        "/admin/licensing/basemetrics/add/",
        {"organization": org_a.pk, "license_year": 2026, "physicians": -2},
    )
    assert "physicians" in field_errors(response)
    assert not BaseMetrics.objects.exists()


# Identifiers, links and page furniture -----------------------------------------------------------


def test_ein_reads_the_same_on_the_form_the_list_and_in_search(officer_client, org_a):
    org_a.ein = "364821907"
    services.record_save(org_a, actor=None, reason="EIN on file")
    form = officer_client.get(f"/admin/licensing/organization/{org_a.pk}/change/").content.decode()
    assert 'value="36-4821907"' in form
    listing = officer_client.get("/admin/licensing/organization/", {"q": "36-4821907"})
    assert list(listing.context["cl"].result_list) == [org_a]
    assert "36-4821907" in listing.content.decode()
    assert list(officer_client.get("/admin/licensing/organization/", {"q": "364821907"}).context["cl"].result_list) == [
        org_a
    ]


def test_saving_the_form_with_the_formatted_ein_changes_nothing(officer_client, org_a):
    org_a.ein = "364821907"
    services.record_save(org_a, actor=None, reason="EIN on file")
    response = post_admin_form(officer_client, f"/admin/licensing/organization/{org_a.pk}/change/", {})
    assert response.status_code == 302, field_errors(response)
    org_a.refresh_from_db()
    assert org_a.ein == "364821907"
    assert "ein" not in org_a.history.latest("history_id").changed_fields


def test_inline_rows_offer_no_view_on_site_link(officer_client, org_a, app_a):
    page = officer_client.get(f"/admin/licensing/organization/{org_a.pk}/change/").content.decode()
    assert "Charge Capture" in page
    assert "View on site" not in page
    assert "View on site" not in officer_client.get(f"/admin/licensing/application/{app_a.pk}/change/").content.decode()


def test_pages_link_a_favicon_that_is_served(client, officer_client):
    page = officer_client.get("/admin/").content.decode()
    assert '<link rel="icon" href="/static/licensing/favicon.svg"' in page
    response = client.get("/favicon.ico")
    assert (response.status_code, response["Location"]) == (301, "/static/licensing/favicon.svg")
    assert finders.find("licensing/favicon.svg")


def test_an_officer_saves_their_own_top_level_organization_but_cannot_make_an_affiliate_top_level(
    officer_client, org_a
):
    response = post_admin_form(
        officer_client, f"/admin/licensing/organization/{org_a.pk}/change/", {"city": "Lakeview"}
    )
    assert response.status_code == 302, field_errors(response)
    affiliate = OrganizationFactory(parent=org_a, name="Alpha South Clinic")
    response = post_admin_form(officer_client, f"/admin/licensing/organization/{affiliate.pk}/change/", {"parent": ""})
    assert field_errors(response)["parent"] == ["Choose the parent organization this entity belongs to."]
    affiliate.refresh_from_db()
    assert affiliate.parent_id == org_a.pk
