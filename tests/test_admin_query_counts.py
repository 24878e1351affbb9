"""No admin page makes a query per row: changelists at 2 and 6 rows, change pages at 1 and 30 (or 6) related rows.

Two sizes are enough to catch a per-row query (it shows as a difference); the budgets catch a page that
grew expensive in a fixed way.
"""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from licensing import services
from licensing.choices import UserKind
from licensing.models import Contact, DataFile, Filing, ProxyFactor, RateSchedule, Vendor
from licensing.models.rosters import Person, RoleMapping, Roster, RosterLine
from tests.factories import (
    ApplicationFactory,
    BaseMetricsFactory,
    LicenseFactory,
    OrganizationFactory,
    UserCountFactory,
    UserFactory,
    VendorFactory,
    member,
    organization_model_names,
    record,
    sample_records,
)

ORGANIZATION_CHANGELISTS = organization_model_names()
REFERENCE_CHANGELISTS = ["vendor", "datafile", "proxyfactor", "rateschedule"]
# Queries a changelist may make: session, user, permissions, the scope (two, read once per request), the count,
# the page, and per-page bulk loads.
BUDGET = 18


def populate(parent, rows: int) -> None:
    """`rows` rows in every changelist, all under `parent` so an officer of `parent` sees them."""
    categories = ["billing_rcm", "ambulatory_ehr", "chargemaster", "coding"]
    for i in range(rows):
        organization = OrganizationFactory(parent=parent)
        vendor = VendorFactory(processing_fee_per_user=Decimal("1.00"))
        application = ApplicationFactory(
            organization=organization,
            vendor=vendor,
            cpt_coverage=["direct", "vendor", "distributor"][i % 3],
            data_files=["cpt-standard", "cpt-rvu"],
        )
        richer = {
            "application": application,
            "usercount": UserCountFactory(application=application, license_year=2026, direct_users=10 + i),
            "license": LicenseFactory(application=application, licensed_users=10, distributor=vendor),
        }
        # Every other organization-owned model from its declared Sample, so a new model's list is counted too.
        made = sample_records(organization, f"Q{organization.pk}", made=richer)
        made["filing"].applications.set([application])
        record(DataFile, code=f"extra-{rows}-{i}", name=f"Extra file {rows}-{i}")
        key = {"category": categories[i % 4], "base_metric": ["billing_providers", "staffed_beds", "employees"][i % 3]}
        if not ProxyFactor.objects.filter(**key).exists():
            record(ProxyFactor, **key, factor=Decimal("2"), source="test")
    taken = set(RateSchedule.objects.values_list("license_year", flat=True))
    free_years = [year for year in range(2000, 2101) if year not in taken]
    for year in free_years[:rows]:
        record(RateSchedule, license_year=year, source="test")


def queries_and_rows(client, model: str) -> tuple[int, int]:
    """Queries made to show every row of a changelist, and how many rows it showed."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/admin/licensing/{model}/", {"all": ""})
    assert response.status_code == 200, (model, response.status_code)
    return len(captured), len(response.context["cl"].result_list)


def rows_shown(client, model: str) -> int:
    return queries_and_rows(client, model)[1]


@pytest.fixture
def system(db):
    return OrganizationFactory(name="Query Health", kind="health_system")


@pytest.mark.parametrize("who", ["superuser", "officer"])
def test_changelist_queries_do_not_grow_with_rows(client, system, who):
    if who == "superuser":
        user = UserFactory(username="root", is_superuser=True)
    else:
        user = UserFactory(username="officer")
        member(user, system, "officer")
    client.force_login(user)
    models = ORGANIZATION_CHANGELISTS + (REFERENCE_CHANGELISTS if who == "superuser" else [])

    populate(system, 2)
    small = {model: queries_and_rows(client, model) for model in models}

    populate(system, 4)
    large = {model: queries_and_rows(client, model) for model in models}

    for model in models:
        (few_queries, few_rows), (many_queries, many_rows) = small[model], large[model]
        assert many_rows > few_rows, f"{model}: the larger run must show more rows"
        assert many_queries == few_queries, (
            f"{model}: {few_queries} queries at {few_rows} rows, {many_queries} at {many_rows}"
        )
        assert many_queries <= BUDGET, f"{model}: {many_queries} queries, budget {BUDGET}"
    # The officer's list really shows the 6 organizations' applications under the system.
    assert large["application"][1] == 6


def test_rate_schedules_are_bounded_by_the_year_range(client, system):
    """Schedules exist for 2000-2100 only, so the list stops at 101 rows however many are asked for."""
    client.force_login(UserFactory(username="root", is_superuser=True))
    taken = set(RateSchedule.objects.values_list("license_year", flat=True))
    for year in sorted(set(range(2000, 2101)) - taken):
        record(RateSchedule, license_year=year, source="test")
    assert rows_shown(client, "rateschedule") == 101 == RateSchedule.objects.count()
    populate(system, 2)
    assert rows_shown(client, "vendor") == Vendor.objects.count() == 2


# ---------------------------------------------------------------------------------------------
# Change pages
# ---------------------------------------------------------------------------------------------

# Queries a change page may make: session, user, permissions, the scope, the object, inlines and their
# bulk loads, autocomplete labels, the standing of the year.
CHANGE_PAGE_BUDGET = 25


def change_page_queries(client, obj) -> int:
    url = f"/admin/licensing/{obj._meta.model_name}/{obj.pk}/change/"
    client.get(url)  # warm per-process caches (content types), as any second visit finds them
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(captured)


def application_with_records(organization, name: str, years) -> object:
    vendor = VendorFactory()
    application = ApplicationFactory(
        organization=organization, name=name, vendor=vendor, cpt_coverage="distributor",
        data_files=["cpt-standard", "cpt-rvu"],
    )  # fmt: skip
    for year in years:
        UserCountFactory(application=application, license_year=year, direct_users=12)
        LicenseFactory(application=application, license_year=year, route="distributor", distributor=vendor)
    return application


@pytest.fixture
def officer_client(client, system):
    person = UserFactory(username="officer")
    member(person, system, "officer")
    client.force_login(person)
    return client


def test_organization_page_queries_do_not_grow_with_its_applications(officer_client, system):
    one = OrganizationFactory(parent=system, name="One System Clinic")
    application_with_records(one, "Billing system", [2026])
    many = OrganizationFactory(parent=system, name="Thirty Systems Hospital")
    for i in range(30):
        application_with_records(many, f"System {i:02d}", [2026])
    for i in range(3):
        BaseMetricsFactory(organization=many, license_year=2024 + i)
        record(Contact, organization=many, role=["primary", "billing", "legal"][i], name=f"Contact {i}")

    few, lots = change_page_queries(officer_client, one), change_page_queries(officer_client, many)

    assert few == lots, f"{few} queries with 1 application, {lots} with 30"
    assert lots <= CHANGE_PAGE_BUDGET


def test_application_page_queries_do_not_grow_with_its_counts_and_licenses(officer_client, system):
    organization = OrganizationFactory(parent=system)
    one = application_with_records(organization, "One year", [2026])
    six = application_with_records(organization, "Six years", range(2021, 2027))
    one.users_at_other_entities.set([system])
    six.users_at_other_entities.set([system, organization])

    assert change_page_queries(officer_client, one) == change_page_queries(officer_client, six)
    assert change_page_queries(officer_client, six) <= CHANGE_PAGE_BUDGET


@pytest.mark.parametrize("model", ["usercount", "license"])
def test_count_and_license_pages_cost_the_same_in_a_small_and_a_large_organization(officer_client, system, model):
    small, large = OrganizationFactory(parent=system), OrganizationFactory(parent=system)
    alone = application_with_records(small, "Alone", [2026])
    crowded = application_with_records(large, "Crowded", range(2021, 2027))
    for i in range(6):
        application_with_records(large, f"Neighbour {i}", [2026])
    related = "user_counts" if model == "usercount" else "licenses"
    first = getattr(alone, related).get(license_year=2026)
    second = getattr(crowded, related).get(license_year=2026)

    assert change_page_queries(officer_client, first) == change_page_queries(officer_client, second)
    assert change_page_queries(officer_client, second) <= CHANGE_PAGE_BUDGET


def test_filing_page_queries_do_not_grow_with_its_applications(officer_client, system):
    def filing_with(count: int):
        organization = OrganizationFactory(parent=system)
        applications = [application_with_records(organization, f"System {i}", [2026]) for i in range(count)]
        filing = record(Filing, organization=organization, license_year=2026)
        filing.applications.set(applications)
        return filing

    few, lots = change_page_queries(officer_client, filing_with(1)), change_page_queries(officer_client, filing_with(6))
    assert few == lots, f"{few} queries with 1 application, {lots} with 6"
    assert lots <= CHANGE_PAGE_BUDGET


def roster_with_lines(organization, name: str, lines: int):
    """A roster of `lines` people (the last one a service account) and its derived count, as an import writes them."""
    application = ApplicationFactory(organization=organization, name=name)
    record(RoleMapping, application=application, role="Physician", kind=UserKind.DIRECT)
    record(RoleMapping, application=application, role="Service", kind=UserKind.NOT_A_USER, explanation="No person")
    people = [
        Person(organization=organization, identifier=f"{name}-{i}", name=f"Person {i}", entity=organization)
        for i in range(lines)
    ]
    roster = Roster(
        application=application,
        license_year=2026,
        taken_on=datetime.date(2026, 1, 15),
        source="Access list",
        file_name="roster.csv",
        file_sha256="0" * 64,
    )
    kinds = [UserKind.DIRECT] * (lines - 1) + [UserKind.NOT_A_USER]
    roster_lines = [
        RosterLine(line=i + 2, person=person, role="Physician" if kind == UserKind.DIRECT else "Service", kind=kind)
        for i, (person, kind) in enumerate(zip(people, kinds, strict=True))
    ]
    count = services.roster_record(
        roster=roster, new_people=people, changed_people=[], lines=roster_lines, actor=None, reason="test"
    )
    return roster, count


def test_roster_pages_cost_the_same_for_2_and_30_lines(officer_client, system):
    small, small_count = roster_with_lines(OrganizationFactory(parent=system), "Small", 2)
    large, large_count = roster_with_lines(OrganizationFactory(parent=system), "Large", 30)
    assert large_count.direct_users == 29 and large_count.excluded_users == 1

    for few, lots in [
        (small, large),
        (small_count, large_count),
        (small.lines.first().person, large.lines.first().person),
        (small.application.role_mappings.first(), large.application.role_mappings.first()),
    ]:
        assert change_page_queries(officer_client, few) == change_page_queries(officer_client, lots), few
        assert change_page_queries(officer_client, lots) <= CHANGE_PAGE_BUDGET, lots

    def lines_page(roster) -> tuple[int, int]:
        url = f"/admin/licensing/rosterline/?roster__exact={roster.pk}"
        with CaptureQueriesContext(connection) as captured:
            response = officer_client.get(url)
        assert response.status_code == 200
        return len(captured), len(response.context["cl"].result_list)

    (few_queries, few_rows), (many_queries, many_rows) = lines_page(small), lines_page(large)
    assert (few_rows, many_rows) == (2, 30)
    assert few_queries == many_queries <= BUDGET
