"""licensing.overview states counting, position and royalty as SQL for many applications at once: it must
agree with the pure rules (licensing.counting / position / royalty, through licensing.standing) everywhere."""

import datetime
from decimal import Decimal

import pytest

from licensing import demo, overview, standing
from licensing.choices import Coverage, LicenseStatus, Position
from licensing.models import Application, Organization
from tests.factories import (
    ApplicationFactory,
    LicenseFactory,
    OrganizationFactory,
    ProxyCountFactory,
    UserCountFactory,
    VendorFactory,
)

pytestmark = pytest.mark.django_db

YEAR = 2026


def python_positions(applications, license_year):
    """What the pure rules say, for the applications in service that year."""
    in_service = [app for app in applications if app.in_service_during(license_year)]
    by_pair = standing.standings(in_service, [license_year])
    return {
        app.pk: (by_pair[app.pk, license_year].position.position, by_pair[app.pk, license_year].users)
        for app in in_service
    }


def sql_positions(license_year):
    rows = overview.with_positions(Application.objects.all(), license_year).values_list(
        "pk", "year_position", "year_users", "year_shortfall"
    )
    return {pk: (position, users, shortfall) for pk, position, users, shortfall in rows}


def assert_agree(license_year):
    applications = list(Application.objects.select_related("vendor"))
    expected = python_positions(applications, license_year)
    found = sql_positions(license_year)
    by_pair = standing.standings(applications, [license_year])
    for app in applications:
        position, users, shortfall = found[app.pk]
        if app.pk not in expected:
            assert position is None, f"{app} is not in service in {license_year}, yet has position {position}"
            continue
        assert (position, users) == expected[app.pk], f"{app} in {license_year}"
        assert shortfall == by_pair[app.pk, license_year].position.shortfall, f"{app} shortfall in {license_year}"


def python_royalty(license_year):
    table = standing.rate_table()
    years = standing.organization_years(Organization.objects.all(), license_year, table=table)
    totals = [year.royalty for year in years.values()]
    return (
        sum((item.total for item in totals), Decimal("0")),
        sum((item.entity_fee for item in totals), Decimal("0")),
        any(item.is_estimate for item in totals),
    )


def assert_royalty_agrees(license_year):
    rates = standing.rate_table().for_year(license_year)
    found = overview.royalty_total(Application.objects.all(), license_year, rates)
    total, fees, estimate = python_royalty(license_year)
    assert (found.total, found.entity_fees) == (total, fees), license_year
    assert found.is_estimate == estimate, license_year


def test_the_demo_agrees_with_the_rules_in_every_year():
    demo.seed_demo()
    current = standing.current_license_year()
    years = list(range(current - 4, current + 3))
    for license_year in years:
        assert_agree(license_year)
        assert_royalty_agrees(license_year)
    # The demo has something in most positions, so the comparison above covered them.
    counts = overview.position_counts(Application.objects.all(), current)
    assert sum(1 for value, _ in Position.choices if counts[value]) >= 4, counts


@pytest.fixture
def edge_cases():
    """One application per corner of the rules, in one organization."""
    org = OrganizationFactory()
    lapsed = VendorFactory(name="Lapsed Co", distribution_agreement_expires=datetime.date(YEAR - 1, 12, 31))
    lapsing = VendorFactory(name="Lapsing Co", distribution_agreement_expires=datetime.date(YEAR, 1, 1))
    unauthorized = VendorFactory(name="Reseller", is_authorized_distributor=False)
    fee_vendor = VendorFactory(name="Fee Co", processing_fee_per_user=Decimal("1.25"))
    distributor = VendorFactory(name="Optum-like", processing_fee_per_user=Decimal("0.75"))

    def app(name, **fields):
        return ApplicationFactory(organization=org, name=name, **fields)

    # Proxy rounding: 2.2 x 5 is exactly 11 (float arithmetic would say 11.000000000000002, so 12).
    ProxyCountFactory(
        application=app("Proxy exact"), license_year=YEAR, metric_value=Decimal("2.2"), factor=Decimal("5")
    )
    ProxyCountFactory(
        application=app("Proxy up"), license_year=YEAR, metric_value=Decimal("33.33"), factor=Decimal("3")
    )
    ProxyCountFactory(
        application=app("Proxy tiny"), license_year=YEAR, metric_value=Decimal("0.01"), factor=Decimal("0.001")
    )
    under = app("Under", data_files=["cpt-standard", "cpt-snomed"])
    UserCountFactory(application=under, license_year=YEAR, direct_users=30, program_users=5, output_users=None)
    LicenseFactory(application=under, license_year=YEAR, licensed_users=20)
    over = app("Over")
    UserCountFactory(application=over, license_year=YEAR, direct_users=5)
    LicenseFactory(application=over, license_year=YEAR, licensed_users=9)
    exact = app("Exact")
    UserCountFactory(application=exact, license_year=YEAR, direct_users=10)
    LicenseFactory(application=exact, license_year=YEAR, licensed_users=10)
    app("Not counted")
    for status in (LicenseStatus.NEEDED, LicenseStatus.DRAFTED, LicenseStatus.SUBMITTED, LicenseStatus.EXPIRED):
        item = app(f"Status {status}")
        UserCountFactory(application=item, license_year=YEAR, direct_users=7)
        LicenseFactory(application=item, license_year=YEAR, status=status, agreement_number="", licensed_users=7)
    not_required = app("Not required")
    UserCountFactory(application=not_required, license_year=YEAR, direct_users=3)
    LicenseFactory(
        application=not_required,
        license_year=YEAR,
        status=LicenseStatus.NOT_REQUIRED,
        agreement_number="",
        licensed_users=None,
        not_required_reason="Demo only",
    )
    app("No CPT", cpt_coverage=Coverage.NO_CPT, data_files=[])
    for vendor in (lapsed, lapsing, unauthorized, fee_vendor):
        item = app(f"Vendor {vendor.name}", cpt_coverage=Coverage.VENDOR, vendor=vendor)
        UserCountFactory(application=item, license_year=YEAR, direct_users=4)
    app("Vendor none", cpt_coverage=Coverage.VENDOR)
    covered = app("Covered by license status", vendor=fee_vendor)
    UserCountFactory(application=covered, license_year=YEAR, direct_users=2)
    LicenseFactory(
        application=covered,
        license_year=YEAR,
        status=LicenseStatus.COVERED_BY_VENDOR,
        agreement_number="",
        licensed_users=None,
    )
    through = app("Through distributor", cpt_coverage=Coverage.DISTRIBUTOR)
    UserCountFactory(application=through, license_year=YEAR, direct_users=8)
    LicenseFactory(
        application=through, license_year=YEAR, route="distributor", distributor=distributor, licensed_users=8
    )
    # 2024 priced the CPT-SNOMED map with a flat fee, which only a direct licensee pays.
    mapped = app("Flat fee", data_files=["cpt-standard", "cpt-snomed", "cpt-rvu"])
    UserCountFactory(application=mapped, license_year=2024, direct_users=6)
    vendor_mapped = app(
        "Flat fee by vendor", cpt_coverage=Coverage.VENDOR, vendor=fee_vendor, data_files=["cpt-snomed"]
    )
    UserCountFactory(application=vendor_mapped, license_year=2024, direct_users=6)
    retired = app("Retired", in_service_to=datetime.date(YEAR - 1, 6, 30))
    UserCountFactory(application=retired, license_year=YEAR, direct_users=50)
    future = app("Not yet live", in_service_from=datetime.date(YEAR + 1, 2, 1))
    UserCountFactory(application=future, license_year=YEAR, direct_users=50)
    return org


def test_every_corner_of_the_rules_agrees(edge_cases):
    for license_year in (2024, YEAR - 1, YEAR, YEAR + 1):
        assert_agree(license_year)
        assert_royalty_agrees(license_year)
    found = sql_positions(YEAR)
    by_name = {app.name: found[app.pk] for app in Application.objects.all()}
    # Spot checks that the comparison is not vacuous: each rule's answer, stated.
    assert by_name["Proxy exact"][1] == 11
    assert by_name["Proxy up"][1] == 100
    assert by_name["Proxy tiny"][1] == 1
    assert by_name["Under"] == (Position.UNDER_LICENSED, 35, 15)
    assert by_name["Over"][0] == Position.OVER_LICENSED
    assert by_name["Exact"][0] == Position.COMPLIANT
    assert by_name["Not counted"][0] == Position.NOT_COUNTED
    assert by_name["Status expired"][0] == Position.COMPLIANT
    assert by_name["Status submitted"] == (Position.UNLICENSED, 7, 7)
    assert by_name["Not required"][0] == Position.NOT_REQUIRED
    assert by_name["No CPT"][0] == Position.NOT_REQUIRED
    assert by_name["Vendor Lapsed Co"][0] == Position.UNLICENSED
    assert by_name["Vendor Lapsing Co"][0] == Position.COVERED_BY_VENDOR
    assert by_name["Vendor Reseller"][0] == Position.UNLICENSED
    assert by_name["Vendor none"][0] == Position.UNLICENSED
    assert by_name["Covered by license status"][0] == Position.COVERED_BY_VENDOR
    assert by_name["Retired"][0] is None
    assert by_name["Not yet live"][0] is None
    # The 2024 flat fee is in the total for the direct licensee only: 6 x (18.00 + 5.35 + 18.00) + 1,050.00.
    rates = standing.rate_table().for_year(2024)
    flat = overview.royalty_total(Application.objects.filter(name="Flat fee"), 2024, rates)
    assert flat.applications == Decimal("1298.10") and flat.legal_entities == 1
    by_vendor = overview.royalty_total(Application.objects.filter(name="Flat fee by vendor"), 2024, rates)
    assert by_vendor.applications == Decimal("39.60") and by_vendor.legal_entities == 0


def test_filtering_by_position_and_needing_action(edge_cases):
    everything = Application.objects.all()
    needing = set(overview.filter_position(everything, YEAR, overview.NEEDS_ACTION).values_list("name", flat=True))
    expected = {
        name
        for name, (position, _users, _short) in {app.name: sql_positions(YEAR)[app.pk] for app in everything}.items()
        if position in overview.NEEDS_ACTION_POSITIONS
    }
    assert needing == expected and "Under" in needing and "Not counted" in needing and "Over" not in needing
    assert set(overview.filter_position(everything, YEAR, Position.OVER_LICENSED).values_list("name", flat=True)) == {
        "Over"
    }
    counts = overview.position_counts(everything, YEAR)
    assert counts[overview.NEEDS_ACTION] == len(needing)
    assert counts[Position.OVER_LICENSED] == 1


def test_position_counts_take_one_query_at_any_size(django_assert_num_queries):
    org = OrganizationFactory()
    for number in range(3):
        UserCountFactory(application=ApplicationFactory(organization=org), license_year=YEAR, direct_users=number)
    with django_assert_num_queries(1):
        small = overview.position_counts(Application.objects.all(), YEAR)
    for number in range(20):
        UserCountFactory(application=ApplicationFactory(organization=org), license_year=YEAR, direct_users=number)
    with django_assert_num_queries(1):
        large = overview.position_counts(Application.objects.all(), YEAR)
    assert small[Position.UNLICENSED] == 3 and large[Position.UNLICENSED] == 23


def test_the_forecast_agrees_with_the_rules():
    """Next years priced from this year's counts: the SQL total (dashboard) equals the rules' (organization page)."""
    demo.seed_demo()
    current = standing.current_license_year()
    table = standing.rate_table()
    # A system going live the year after next, its users already counted for this year: priced from then on.
    going_live = ApplicationFactory(
        organization=Organization.objects.first(), in_service_from=datetime.date(current + 2, 1, 1)
    )
    UserCountFactory(application=going_live, license_year=current, direct_users=1000)
    organizations = list(Organization.objects.all())
    this_year = standing.organization_years(organizations, current, table=table)
    years = [current + 1, current + 2, current + 3]
    expected = standing.forecast(this_year.values(), years, table=table)
    for year in years:
        found = overview.royalty_total(Application.objects.all(), year, table.for_year(year), basis_year=current)
        assert found.total == expected[year].total, year
        assert found.total > 0
        priced = {application for application, _line in expected[year].applications}
        assert (going_live in priced) == (year >= current + 2), year
    assert going_live not in {item.application for year in this_year.values() for item in year.standings}


def test_chargemaster_posting_and_users_by_category_agree_with_the_rules(edge_cases):
    demo.seed_demo()
    organizations = list(Organization.objects.all())
    for license_year in (YEAR - 1, YEAR, YEAR + 1):
        expected = standing.chargemaster_posting(organizations, license_year)
        found = dict(
            overview.chargemaster_allowed(Organization.objects.all(), license_year).values_list(
                "pk", "may_post_chargemaster"
            )
        )
        assert found == {pk: answer for pk, (answer, _reason) in expected.items()}, license_year
        by_category: dict[str, int] = {}
        applications = list(Application.objects.select_related("vendor"))
        for item in standing.standings(applications, [license_year]).values():
            app = item.application
            if app.in_service_during(license_year) and app.has_cpt and item.users is not None:
                by_category[app.category] = by_category.get(app.category, 0) + item.users
        assert overview.users_by_category(Application.objects.all(), license_year) == by_category, license_year
    assert any(answer for answer, _ in standing.chargemaster_posting(organizations, YEAR).values())
