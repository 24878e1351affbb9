"""The as-of view: an organization rebuilt from history at a chosen moment, on the admin page and as CSV.

The timeline (fixed moments in 2026, set through simple-history's `_history_date`):
T0 the organization is recorded; T1 three applications with counts and licenses; T2 a recount, a
license drafted, the vendor's fee raised; T3 one application deleted; T4 later edits to the current
rows (users, licenses, the 2026 rate) that must not leak into earlier moments.
"""

import csv
import datetime
import io
import re
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from licensing import services, standing
from licensing.audit import as_of
from licensing.models import Application, DataFile, DataFileRate, License, Organization, UserCount, Vendor
from tests.admin_forms import field_errors, post_admin_form
from tests.factories import (
    ApplicationFactory,
    LicenseFactory,
    OrganizationFactory,
    UserCountFactory,
    UserFactory,
    VendorFactory,
    member,
)

pytestmark = pytest.mark.django_db

UTC = datetime.UTC


def moment(month, day, hour=9, minute=0):
    return datetime.datetime(2026, month, day, hour, minute, tzinfo=UTC)


T0 = moment(1, 5)
T1 = moment(3, 2)
T2 = moment(6, 1)
T3 = moment(9, 1)
T4 = moment(10, 1)
BEFORE_T0 = moment(1, 1)
BETWEEN_T0_T1 = moment(2, 1)
BETWEEN_T1_T2 = moment(3, 3)
BETWEEN_T2_T3 = moment(7, 1)
BETWEEN_T3_T4 = moment(9, 15)
AFTER_T4 = moment(10, 2)


def record(obj, when, reason="Test data", user=None):
    """Save `obj` with its history row dated `when`, as simple-history honours `_history_date`."""
    obj._history_date = when
    return services.record_save(obj, actor=user, reason=reason, validate=False)


def remove(obj, when, user=None):
    obj._history_date = when
    services.record_delete(obj, actor=user, reason="Deleted")


def link_files(application, when, *codes):
    application._history_date = when
    application.data_files.set(DataFile.objects.filter(code__in=codes))


def at_param(when) -> str:
    """The `at` value a browser's datetime-local field sends for `when` (local time, no zone)."""
    return timezone.localtime(when).replace(tzinfo=None).isoformat()


def as_of_url(organization) -> str:
    return f"/admin/licensing/organization/{organization.pk}/as-of/"


@pytest.fixture
def timeline(org_a):
    record(org_a, T0, "Organization recorded")
    vendor = record(
        Vendor(name="Northwind EHR", is_authorized_distributor=True, processing_fee_per_user=Decimal("1.00")), T1
    )
    ehr = record(
        Application(
            organization=org_a, name="Clinic EHR", category="ambulatory_ehr", cpt_coverage="vendor", vendor=vendor
        ),
        T1,
    )
    encoder = record(Application(organization=org_a, name="Old Encoder", category="coding", cpt_coverage="direct"), T1)
    rcm = record(
        Application(organization=org_a, name="Revenue Cycle", category="billing_rcm", cpt_coverage="direct"), T1
    )
    for application in (ehr, encoder, rcm):
        link_files(application, T1, "cpt-standard")
    record(
        UserCount(
            application=ehr,
            license_year=2026,
            method="proxy",
            base_metric="physicians",
            metric_value=Decimal(12),
            factor=Decimal(4),
        ),
        T1,
    )
    encoder_count = record(UserCount(application=encoder, license_year=2026, direct_users=10), T1)
    encoder_license = record(License(application=encoder, license_year=2026, status="needed"), T1)
    rcm_count = record(
        UserCount(application=rcm, license_year=2026, direct_users=30, program_users=8, output_users=2), T1
    )
    rcm_license = record(
        License(
            application=rcm, license_year=2026, status="active", licensed_users=40, agreement_number="AMA-IU-000040"
        ),
        T1,
    )

    rcm_count.direct_users = 40
    record(rcm_count, T2, "Recount: ten more coders")
    encoder_license.status = "drafted"
    record(encoder_license, T2, "Application prepared")
    vendor.processing_fee_per_user = Decimal("2.00")
    record(vendor, T2, "New vendor contract")

    remove(encoder_license, T3)
    remove(encoder_count, T3)
    remove(encoder, T3)

    rcm_count.direct_users = 60
    record(rcm_count, T4, "Recount")
    rcm_license.licensed_users = 70
    record(rcm_license, T4, "More seats")
    rate = DataFileRate.objects.get(schedule__license_year=2026, data_file__code="cpt-standard")
    rate.per_user = Decimal("20.00")
    record(rate, T4, "Rate corrected")
    return SimpleNamespace(organization=org_a, vendor=vendor, ehr=ehr, encoder=encoder, rcm=rcm, rcm_count=rcm_count)


def by_name(snapshot):
    return {item.application.name: item for item in snapshot.applications}


# ---------------------------------------------------------------------------------------------
# licensing.as_of
# ---------------------------------------------------------------------------------------------


def test_nothing_before_the_organization_was_recorded(timeline):
    snapshot = as_of.organization_as_of(timeline.organization, BEFORE_T0)
    assert snapshot.recorded is None and snapshot.applications == []
    assert not snapshot.anything_recorded


def test_organization_without_applications_yet(timeline):
    snapshot = as_of.organization_as_of(timeline.organization, BETWEEN_T0_T1)
    assert snapshot.recorded.name == "Alpha Health"
    assert snapshot.applications == [] and snapshot.anything_recorded
    assert snapshot.royalty.total == Decimal("0.00")


def test_between_t1_and_t2_the_first_values_come_back(timeline):
    snapshot = as_of.organization_as_of(timeline.organization, BETWEEN_T1_T2)
    assert snapshot.license_year == 2026
    assert list(by_name(snapshot)) == ["Clinic EHR", "Old Encoder", "Revenue Cycle"]
    ehr, encoder, rcm = (by_name(snapshot)[name] for name in ["Clinic EHR", "Old Encoder", "Revenue Cycle"])

    assert (ehr.users, ehr.count.method, ehr.basis) == (
        48,
        "proxy",
        "12.00 physicians x 4.000 = 48 users (User Proxy Model)",
    )
    # Vendor coverage: the 2026 rate plus the vendor's fee as it was then ($1.00).
    assert (ehr.royalty.per_user, ehr.royalty.amount) == (Decimal("19.50"), Decimal("936.00"))
    assert ehr.position.label == "Covered by vendor"

    assert (encoder.users, encoder.license.status, encoder.license.licensed_users) == (10, "needed", None)
    assert encoder.royalty.amount == Decimal("185.00")
    assert (encoder.position.label, encoder.position.true_up_cost) == ("Unlicensed", Decimal("185.00"))
    assert encoder.deleted_since

    assert rcm.basis == "30 (a) + 8 (b) + 2 (c) = 40 counted users"
    assert (rcm.users, rcm.license.status, rcm.license.licensed_users) == (40, "active", 40)
    assert (rcm.royalty.amount, rcm.position.label) == (Decimal("740.00"), "Compliant")
    assert not rcm.deleted_since

    total = snapshot.royalty
    assert (total.applications_total, total.entity_fee, total.total) == (
        Decimal("1861.00"),
        Decimal("82.50"),
        Decimal("1943.50"),
    )
    assert total.is_estimate  # the 2026 entity fee is carried over from 2024


def test_between_t2_and_t3_the_changed_values_come_back(timeline):
    snapshot = as_of.organization_as_of(timeline.organization, BETWEEN_T2_T3)
    ehr, encoder, rcm = (by_name(snapshot)[name] for name in ["Clinic EHR", "Old Encoder", "Revenue Cycle"])
    assert (ehr.royalty.per_user, ehr.royalty.amount) == (Decimal("20.50"), Decimal("984.00"))
    assert (encoder.license.status, encoder.position.label) == ("drafted", "Unlicensed")
    assert encoder.position.reason == "License status: application drafted."
    assert (rcm.users, rcm.license.licensed_users, rcm.royalty.amount) == (50, 40, Decimal("925.00"))
    assert (rcm.position.label, rcm.position.shortfall, rcm.position.true_up_cost) == (
        "Under-licensed",
        10,
        Decimal("185.00"),
    )
    assert snapshot.royalty.total == Decimal("2176.50")


def test_after_t3_the_deleted_application_is_gone(timeline):
    snapshot = as_of.organization_as_of(timeline.organization, BETWEEN_T3_T4)
    assert list(by_name(snapshot)) == ["Clinic EHR", "Revenue Cycle"]
    assert by_name(snapshot)["Revenue Cycle"].position.label == "Under-licensed"
    assert snapshot.royalty.total == Decimal("1991.50")


def test_after_t4_the_latest_values_and_rates_apply(timeline):
    snapshot = as_of.organization_as_of(timeline.organization, AFTER_T4)
    rcm = by_name(snapshot)["Revenue Cycle"]
    assert (rcm.users, rcm.license.licensed_users, rcm.position.label) == (70, 70, "Compliant")
    assert rcm.royalty.amount == Decimal("1400.00")  # 70 x the corrected $20.00
    assert by_name(snapshot)["Clinic EHR"].royalty.amount == Decimal("1056.00")  # 48 x ($20.00 + $2.00)


def test_the_latest_moment_agrees_with_the_live_pages(timeline):
    """Rebuilt from history, the present equals what licensing.standing computes from current rows."""
    organization = Organization.objects.get(pk=timeline.organization.pk)
    live = standing.organization_years([organization], 2026)[organization.pk].royalty
    snapshot = as_of.organization_as_of(organization, AFTER_T4)
    assert snapshot.royalty.total == live.total == Decimal("2538.50")
    assert [line.amount for _, line in snapshot.royalty.applications] == [line.amount for _, line in live.applications]


def test_past_values_do_not_read_current_rows(timeline, django_assert_max_num_queries):
    snapshot = as_of.organization_as_of(timeline.organization, BETWEEN_T2_T3)
    # Everything the rules read was cached from history; the current rows are never consulted again.
    with django_assert_max_num_queries(0):
        rows = [
            (i.application.data_files.all(), i.application.vendor, i.royalty, i.position) for i in snapshot.applications
        ]
    ehr_files, ehr_vendor = rows[0][0], rows[0][1]
    assert [f.code for f in ehr_files] == ["cpt-standard"]
    assert ehr_vendor.processing_fee_per_user == Decimal("2.00")
    # Bypasses history on purpose: only the live row changes, and the past must not notice.
    Application.objects.filter(pk=timeline.ehr.pk).update(name="Renamed since")
    assert (
        as_of.organization_as_of(timeline.organization, BETWEEN_T2_T3).applications[0].application.name == "Clinic EHR"
    )


def test_rates_before_their_history_began_come_from_the_migration_baseline(timeline):
    """Reference data loaded by a migration was there before its first history row was written."""
    files = {f.pk: f for f in as_of.objects_as_of(DataFile, moment(1, 1), migration_baseline=True)}
    early = as_of.rate_table_as_of(datetime.datetime(2001, 1, 1, tzinfo=UTC), files).for_year(2026)
    assert early.per_user["cpt-standard"] == Decimal("18.50")
    later = as_of.rate_table_as_of(AFTER_T4, files).for_year(2026)
    assert later.per_user["cpt-standard"] == Decimal("20.00")


def test_rows_sharing_a_date_give_one_object_the_newest_by_history_id(org_a):
    """simple-history's as_of returns duplicates here (django-simple-history issue #1602)."""
    application = record(Application(organization=org_a, name="Same Second", category="coding"), T1)
    link_files(application, T1, "cpt-standard", "cpt-rvu")
    dates = set(Application.history.filter(id=application.pk).values_list("history_date", flat=True))
    assert dates == {T1}
    rows = list(as_of.latest_rows(Application, T1).filter(id=application.pk))
    assert len(rows) == 1 and rows[0].history_type == "~"
    snapshot = as_of.organization_as_of(org_a, T1)
    assert [f.code for f in snapshot.applications[0].application.data_files.all()] == ["cpt-standard", "cpt-rvu"]


def test_an_application_moved_between_organizations_follows_its_state(org_a, org_b):
    application = record(Application(organization=org_a, name="Shared Billing", category="billing_rcm"), T1)
    link_files(application, T1, "cpt-standard")
    record(UserCount(application=application, license_year=2026, direct_users=5), T1)
    application.organization = org_b
    record(application, T2, "Moved to the affiliate")
    assert [i.application.name for i in as_of.organization_as_of(org_a, BETWEEN_T1_T2).applications] == [
        "Shared Billing"
    ]
    assert as_of.organization_as_of(org_a, BETWEEN_T2_T3).applications == []
    moved = as_of.organization_as_of(org_b, BETWEEN_T2_T3).applications
    assert [(i.application.name, i.users) for i in moved] == [("Shared Billing", 5)]


def test_application_out_of_service_is_listed_without_royalty(org_a):
    record(org_a, T0)
    retired = record(
        Application(
            organization=org_a,
            name="Retired PM",
            category="practice_management",
            in_service_to=datetime.date(2025, 12, 31),
        ),
        T1,
    )
    link_files(retired, T1, "cpt-standard")
    record(UserCount(application=retired, license_year=2026, direct_users=5), T1)
    snapshot = as_of.organization_as_of(org_a, BETWEEN_T1_T2)
    (item,) = snapshot.applications
    assert not item.in_service and item.royalty is None and item.position is None
    assert snapshot.royalty.total == Decimal("0.00") and snapshot.in_service == []


def test_a_moment_needs_a_time_zone(org_a):
    with pytest.raises(ValueError, match="time zone"):
        as_of.organization_as_of(org_a, datetime.datetime(2026, 3, 1))  # noqa: DTZ001 (the naive moment under test)


def populate(organization, applications: int) -> None:
    vendor = VendorFactory(processing_fee_per_user=Decimal("1.00"))
    for i in range(applications):
        application = ApplicationFactory(
            organization=organization,
            vendor=vendor,
            cpt_coverage=["direct", "vendor", "distributor"][i % 3],
            data_files=["cpt-standard", "cpt-rvu"],
        )
        UserCountFactory(application=application, license_year=timezone.localdate().year, direct_users=10 + i)
        LicenseFactory(
            application=application, license_year=timezone.localdate().year, licensed_users=10, distributor=vendor
        )


def test_reconstruction_makes_the_same_queries_for_3_and_30_applications(org_a):
    populate(org_a, 3)
    with CaptureQueriesContext(connection) as few:
        assert len(as_of.organization_as_of(org_a, timezone.now()).applications) == 3
    populate(org_a, 27)
    with CaptureQueriesContext(connection) as many:
        snapshot = as_of.organization_as_of(org_a, timezone.now())
        [(i.royalty, i.position) for i in snapshot.applications]
    assert len(snapshot.applications) == 30
    assert len(few) == len(many) == 10


# ---------------------------------------------------------------------------------------------
# The admin page
# ---------------------------------------------------------------------------------------------


def page(client, organization, when=None, **params):
    if when is not None:
        params["at"] = at_param(when)
    return client.get(as_of_url(organization), params)


def page_rows(response) -> dict:
    return {row.name: row for row in response.context["rows"]}


def test_officer_sees_the_page_at_each_moment(officer_client, timeline):
    before = page(officer_client, timeline.organization, BEFORE_T0)
    assert before.status_code == 200
    assert "Nothing existed yet." in before.content.decode()

    empty = page(officer_client, timeline.organization, BETWEEN_T0_T1)
    assert "No applications were recorded" in empty.content.decode()

    first = page(officer_client, timeline.organization, BETWEEN_T1_T2)
    html = first.content.decode()
    assert "As of 2026-03-03 09:00:00 UTC, license year 2026" in html
    assert list(page_rows(first)) == ["Clinic EHR", "Old Encoder", "Revenue Cycle"]
    rcm = page_rows(first)["Revenue Cycle"]
    assert (rcm.item.users, rcm.license_status, rcm.licensed_users, rcm.royalty_text) == (40, "Active", 40, "$740.00")
    assert "Old Encoder <em>(deleted since)</em>" in html
    assert "30 (a) + 8 (b) + 2 (c) = 40 counted users" in html
    assert "$1,943.50" in html and "Entity fee (estimated)" in html

    second = page(officer_client, timeline.organization, BETWEEN_T2_T3)
    rcm = page_rows(second)["Revenue Cycle"]
    assert (rcm.item.users, rcm.item.position.label, rcm.true_up_text) == (50, "Under-licensed", "$185.00")
    assert page_rows(second)["Old Encoder"].license_status == "Application drafted"
    assert '<span class="position position-under_licensed">Under-licensed</span>' in second.content.decode()

    link = re.search(r'href="([^"]+)" id="as-of-csv"', second.content.decode()).group(1).replace("&amp;", "&")
    download = officer_client.get(as_of_url(timeline.organization) + link)
    assert download["Content-Type"] == "text/csv; charset=utf-8"
    csv_names = [row[0] for row in csv.reader(io.StringIO(download.content.decode("utf-8-sig")))][1:4]
    assert csv_names == list(page_rows(second))

    third = page(officer_client, timeline.organization, BETWEEN_T3_T4)
    assert list(page_rows(third)) == ["Clinic EHR", "Revenue Cycle"]
    assert "Old Encoder" not in third.content.decode()


def test_page_names_the_organization_as_it_was_recorded_then(officer_client, timeline):
    organization = timeline.organization
    organization.name = "Alpha Health System"
    record(organization, T4, "Renamed")
    html = page(officer_client, organization, BETWEEN_T1_T2).content.decode()
    assert "Recorded then as <strong>Alpha Health</strong>." in html
    assert "Recorded then as" not in page(officer_client, organization, AFTER_T4).content.decode()


def test_page_defaults_to_now(auditor_client, timeline):
    response = auditor_client.get(as_of_url(timeline.organization))
    assert response.status_code == 200
    assert response.context["form"]["at"].value() is not None
    rcm = page_rows(response)["Revenue Cycle"]
    assert (rcm.item.users, rcm.licensed_users) == (70, 70)


def test_csv_has_the_rows_of_that_moment(auditor_client, timeline):
    response = page(auditor_client, timeline.organization, BETWEEN_T2_T3, format="csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="alpha-health_as-of_2026-07-01T0900.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == [
        "Application",
        "Category",
        "CPT covered by",
        "In service 2026",
        "Users",
        "Method",
        "How the users were derived",
        "License status",
        "Licensed users",
        "Per user",
        "Per user basis",
        "Royalty",
        "Royalty basis",
        "Royalty note",
        "Position",
        "Position detail",
        "True-up cost",
        "True-up cost basis",
        "Deleted since",
    ]
    assert rows[1] == [
        "Clinic EHR",
        "Ambulatory EHR",
        "Vendor's license",
        "yes",
        "48",
        "User Proxy Model",
        "12.00 physicians x 4.000 = 48 users (User Proxy Model)",
        "No license",
        "",
        "20.50",
        "published",
        "984.00",
        "published",
        "",
        "Covered by vendor",
        "Under Northwind EHR's distribution license.",
        "",
        "",
        "no",
    ]
    assert rows[2] == [
        "Old Encoder",
        "Coding / encoder",
        "Own AMA license",
        "yes",
        "10",
        "Counted users",
        "10 (a) + 0 (b) + 0 (c) = 10 counted users",
        "Application drafted",
        "",
        "18.50",
        "published",
        "185.00",
        "published",
        "",
        "Unlicensed",
        "License status: application drafted.",
        "185.00",
        "published",
        "yes",
    ]
    assert rows[3] == [
        "Revenue Cycle",
        "Billing / revenue cycle",
        "Own AMA license",
        "yes",
        "50",
        "Counted users",
        "40 (a) + 8 (b) + 2 (c) = 50 counted users",
        "Active",
        "40",
        "18.50",
        "published",
        "925.00",
        "published",
        "",
        "Under-licensed",
        "10 more users than licensed.",
        "185.00",
        "published",
        "no",
    ]
    blank = [""] * 19
    # Published 2026 rates; the entity fee is carried over from 2024 as an estimate, and so is the total.
    assert rows[4] == ["Applications total", *blank[1:11], "2094.00", "published", "", *blank[14:]]
    assert rows[5] == ["Entity fee", *blank[1:11], "82.50", "estimate", "Entity fee (estimated)", *blank[14:]]
    assert rows[6] == ["Total", *blank[1:11], "2176.50", "estimate", "", *blank[14:]]
    assert len(rows) == 7


def test_csv_before_anything_existed_has_only_its_header(auditor_client, timeline):
    response = page(auditor_client, timeline.organization, BEFORE_T0, format="csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == 1 and rows[0][0] == "Application"


def test_csv_neutralises_spreadsheet_formulas(officer_client, org_a):
    for name in ['=HYPERLINK("http://evil")', "+1+2", "-2+3", "@SUM(A1)", "Plain"]:
        ApplicationFactory(organization=org_a, name=name)
    response = officer_client.get(as_of_url(org_a), {"at": at_param(timezone.now()), "format": "csv"})
    names = [row[0] for row in csv.reader(io.StringIO(response.content.decode("utf-8-sig")))][1:6]
    assert sorted(names) == sorted(["'+1+2", "'-2+3", '\'=HYPERLINK("http://evil")', "'@SUM(A1)", "Plain"])


@pytest.mark.parametrize(
    "bad, message",
    [
        ("not a date", "That is not a date and time. Enter one like 2026-03-01 14:30"),
        ("2026-13-45T10:00", "That is not a date and time."),
        ("2026-02-30", "That is not a date and time."),
        ("0001-01-01T00:00", "Choose a moment between 2000 and 2100, the license years the portal covers."),
    ],
)
def test_a_bad_date_says_so_on_the_page(officer_client, org_a, bad, message):
    for params in [{"at": bad}, {"at": bad, "format": "csv"}]:
        response = officer_client.get(as_of_url(org_a), params)
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/html")
        html = response.content.decode()
        assert '<p class="errornote">' + message in html
        assert "Nothing is shown until the moment is corrected." in html
        assert response.context["snapshot"] is None and "as-of-applications" not in html


def test_other_organizations_are_not_found(officer_client, org_a, org_b):
    ApplicationFactory(organization=org_b, name="Beta Billing")
    assert officer_client.get(as_of_url(org_b)).status_code == 404
    assert officer_client.get(as_of_url(org_b), {"format": "csv"}).status_code == 404
    assert officer_client.get("/admin/licensing/organization/999999/as-of/").status_code == 404


def test_auditor_may_read_but_not_post(auditor_client, org_a):
    assert auditor_client.get(as_of_url(org_a)).status_code == 200
    assert auditor_client.post(as_of_url(org_a)).status_code == 405


def test_people_not_signed_in_go_to_the_login_page(client, org_a):
    response = client.get(as_of_url(org_a))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_parent_membership_covers_affiliates(client, org_a):
    affiliate = OrganizationFactory(parent=org_a, name="Alpha North")
    person = UserFactory(username="parent-auditor")
    member(person, org_a, "auditor")
    client.force_login(person)
    assert client.get(as_of_url(affiliate)).status_code == 200


def test_changes_made_in_the_admin_show_at_the_moments_between_them(officer_client, org_a):
    """A person's edits through the admin, read back at moments between the rows they wrote."""
    year = timezone.localdate().year
    application = ApplicationFactory(organization=org_a, name="Revenue Cycle")
    count = UserCountFactory(application=application, license_year=year, direct_users=40)
    lic = LicenseFactory(
        application=application, license_year=year, status="needed", licensed_users=None, agreement_number=""
    )

    def newest_date(obj):
        return type(obj).history.filter(id=obj.pk).order_by("-history_id").first().history_date

    created = newest_date(lic)
    saved = post_admin_form(
        officer_client,
        f"/admin/licensing/usercount/{count.pk}/change/",
        {"direct_users": 55, "change_reason": "January recount"},
    )
    assert saved.status_code == 302, field_errors(saved)
    recounted = newest_date(count)
    saved = post_admin_form(
        officer_client,
        f"/admin/licensing/license/{lic.pk}/change/",
        {"status": "drafted", "change_reason": "Application prepared"},
    )
    assert saved.status_code == 302, field_errors(saved)
    drafted = newest_date(lic)
    superuser = UserFactory(username="admin", is_superuser=True)
    ids = {License: lic.pk, Application: application.pk}
    for obj in (lic, count, application):
        services.record_delete(obj, actor=superuser, reason="Removed")
    deleted = {model: model.history.filter(id=pk, history_type="-").get().history_date for model, pk in ids.items()}
    assert created < recounted < drafted < deleted[License] < deleted[Application]

    def shown(when):
        response = officer_client.get(as_of_url(org_a), {"at": at_param(when)})
        assert response.status_code == 200
        return [(row.name, row.item.users, row.license_status) for row in response.context["rows"]]

    def between(a, b):
        return a + (b - a) / 2

    assert shown(between(created, recounted)) == [("Revenue Cycle", 40, "Needed")]
    assert shown(between(recounted, drafted)) == [("Revenue Cycle", 55, "Needed")]
    assert shown(between(drafted, deleted[License])) == [("Revenue Cycle", 55, "Application drafted")]
    assert shown(deleted[Application] + datetime.timedelta(microseconds=1)) == []


def test_page_makes_the_same_queries_for_3_and_30_applications(officer_client, org_a, django_assert_max_num_queries):
    populate(org_a, 3)
    with CaptureQueriesContext(connection) as few:
        assert len(officer_client.get(as_of_url(org_a)).context["rows"]) == 3
    populate(org_a, 27)
    with CaptureQueriesContext(connection) as many:
        assert len(officer_client.get(as_of_url(org_a)).context["rows"]) == 30
    assert len(few) == len(many)
    with django_assert_max_num_queries(len(few)):
        officer_client.get(as_of_url(org_a), {"format": "csv"})
