"""Every changelist makes the same number of queries at 5 rows as at 200."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from licensing.models import Contact, DataFile, Filing, ProxyFactor, RateSchedule, Vendor
from tests.factories import (
    ApplicationFactory,
    BaseMetricsFactory,
    LicenseFactory,
    OrganizationFactory,
    UserCountFactory,
    UserFactory,
    VendorFactory,
    member,
)

ORGANIZATION_CHANGELISTS = [
    "organization", "contact", "basemetrics", "application", "usercount", "license", "membership", "filing",
]
REFERENCE_CHANGELISTS = ["vendor", "datafile", "proxyfactor", "rateschedule"]
# Queries a changelist may make: session, user, permissions, the count, the page, and per-page bulk loads.
BUDGET = 16


def populate(parent, rows: int) -> None:
    """`rows` rows in every changelist, all under `parent` so an officer of `parent` sees them."""
    categories = ["billing_rcm", "ambulatory_ehr", "chargemaster", "coding"]
    for i in range(rows):
        organization = OrganizationFactory(parent=parent)
        vendor = VendorFactory(processing_fee_per_user=Decimal("1.00"))
        application = ApplicationFactory(
            organization=organization, vendor=vendor, cpt_coverage=["direct", "vendor", "distributor"][i % 3],
            data_files=["cpt-standard", "cpt-rvu"],
        )
        UserCountFactory(application=application, license_year=2026, direct_users=10 + i)
        LicenseFactory(application=application, license_year=2026, licensed_users=10, distributor=vendor)
        BaseMetricsFactory(organization=organization)
        Filing.objects.create(organization=organization, license_year=2026).applications.set([application])
        Contact.objects.create(organization=organization, role="primary", name=f"Pat {i}")
        member(UserFactory(), organization, "auditor")
        DataFile.objects.create(code=f"extra-{rows}-{i}", name=f"Extra file {rows}-{i}")
        if i < 30:
            ProxyFactor.objects.get_or_create(
                category=categories[i % 4], base_metric=["billing_providers", "staffed_beds", "employees"][i % 3],
                defaults={"factor": Decimal("2"), "source": "test"},
            )
    taken = set(RateSchedule.objects.values_list("license_year", flat=True))
    free_years = [year for year in range(2000, 2101) if year not in taken]
    for year in free_years[:rows]:
        RateSchedule.objects.create(license_year=year, source="test")


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

    populate(system, 5)
    small = {model: queries_and_rows(client, model) for model in models}

    populate(system, 195)
    large = {model: queries_and_rows(client, model) for model in models}

    for model in models:
        (few_queries, few_rows), (many_queries, many_rows) = small[model], large[model]
        assert many_rows > few_rows, f"{model}: the larger run must show more rows"
        assert many_queries == few_queries, f"{model}: {few_queries} queries at {few_rows} rows, {many_queries} at {many_rows}"
        assert many_queries <= BUDGET, f"{model}: {many_queries} queries, budget {BUDGET}"
    # The officer's list really shows the 200 organizations under the system (plus the system itself).
    assert large["application"][1] == 200


def test_reference_rows_in_large_run(client, system):
    """Rate schedules are bounded by the year range (2000-2100), so their large run stops at 101 rows."""
    client.force_login(UserFactory(username="root", is_superuser=True))
    populate(system, 200)
    assert rows_shown(client, "rateschedule") == 101
    assert rows_shown(client, "vendor") == Vendor.objects.count() == 200
