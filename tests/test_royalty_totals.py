"""overview.royalty_totals prices every (license year, basis year) the dashboard asks in two queries: on varied data
its totals equal, key by key and to the cent, those of the former per-basis-year queries (kept below, only here)
and the pure rules' (licensing.royalty through licensing.standing)."""

import datetime
import random
from dataclasses import astuple
from decimal import Decimal

import pytest
from django.db.models import Case, Count, ExpressionWrapper, F, FilteredRelation, Q, Sum, Value, When
from django.db.models.functions import Coalesce

from licensing import overview, royalty, standing
from licensing.admin.dashboard_page import royalty_years
from licensing.attention import in_service
from licensing.choices import Coverage, LicenseStatus
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

CODES = ["cpt-standard", "cpt-rvu", "cpt-snomed", "ama-hcpcs", "ama-icd10"]


def old_royalty_totals(applications, wanted):
    """overview.royalty_totals as it was until 2026-12-02: two queries per distinct basis year (its sums; the
    rates are applied to them as they still are, by overview.priced_total)."""
    by_basis: dict = {}
    for license_year, rates, basis_year in wanted:
        by_basis.setdefault(basis_year or license_year, []).append((license_year, rates, basis_year))
    found = {}
    for basis, asked in by_basis.items():
        years = sorted({license_year for license_year, _rates, _basis in asked})
        per_file, amounts = old_royalty_sums(applications, basis, years)
        for license_year, rates, basis_year in asked:
            found[license_year, basis_year] = overview.priced_total(
                license_year,
                rates,
                basis,
                {
                    code: (sums[f"users_{license_year}"], sums[f"direct_{license_year}"])
                    for code, sums in per_file.items()
                },
                amounts[f"pass_{license_year}"],
                amounts[f"entities_{license_year}"],
            )
    return found


def old_royalty_sums(applications, basis, years):
    paying = (
        overview.with_users(applications, basis)
        .annotate(year_license=FilteredRelation("licenses", condition=Q(licenses__license_year=basis)))
        .annotate(basis_status=Coalesce(F("year_license__status"), Value("")))
        .exclude(cpt_coverage=Coverage.NO_CPT)
        .exclude(basis_status=LicenseStatus.NOT_REQUIRED)
    )
    counted = paying.filter(year_users__isnull=False)
    serving = {year: in_service(year) for year in years}
    per_file = {
        row.pop("code"): row
        for row in counted.values(code=F("data_files__code"))
        .annotate(
            **{f"users_{year}": Sum("year_users", filter=serving[year], default=0) for year in years},
            **{f"direct_{year}": Count("pk", filter=serving[year] & Q(cpt_coverage=Coverage.DIRECT)) for year in years},
        )
        .order_by()
    }
    pass_through = Case(
        When(cpt_coverage=Coverage.VENDOR, vendor__isnull=False, then=F("vendor__processing_fee_per_user")),
        When(
            cpt_coverage=Coverage.DISTRIBUTOR,
            year_license__distributor__isnull=False,
            then=F("year_license__distributor__processing_fee_per_user"),
        ),
        default=Value(Decimal("0")),
        output_field=overview.MONEY,
    )
    passed = ExpressionWrapper(pass_through * F("year_users"), output_field=overview.MONEY)
    amounts = paying.aggregate(
        **{
            f"pass_{year}": Sum(passed, filter=serving[year] & Q(year_users__isnull=False), output_field=overview.MONEY)
            for year in years
        },
        **{
            f"entities_{year}": Count(
                "organization_id", distinct=True, filter=serving[year] & Q(cpt_coverage=Coverage.DIRECT)
            )
            for year in years
        },
    )
    return per_file, amounts


@pytest.fixture
def varied():
    """Seven organizations of random-ish systems: every coverage, vendors with and without a fee, distributors,
    zero to three data files, service starting and ending on the first and last day of years, counted and proxy
    counts in some years only, licenses of every status (not required among them) in some years only."""
    rng = random.Random(11)  # noqa: S311 (test data, not secrets)
    current = standing.current_license_year()
    vendors = [
        VendorFactory(processing_fee_per_user=Decimal("1.25")),
        VendorFactory(processing_fee_per_user=Decimal("0.00")),
        VendorFactory(processing_fee_per_user=Decimal("0.33"), is_authorized_distributor=False),
    ]
    distributors = [VendorFactory(processing_fee_per_user=Decimal("0.75")), VendorFactory()]
    starts = [None, None, datetime.date(current - 3, 1, 1), datetime.date(current - 2, 12, 31)]
    starts += [datetime.date(current, 1, 1), datetime.date(current + 1, 12, 31), datetime.date(current + 2, 1, 1)]
    ends = [None, None, None, datetime.date(current - 2, 1, 1), datetime.date(current - 1, 12, 31)]
    ends += [datetime.date(current, 12, 31), datetime.date(current + 1, 1, 1), datetime.date(current + 2, 12, 31)]
    years = range(current - 4, current + 2)
    statuses = [*LicenseStatus.values, LicenseStatus.NOT_REQUIRED]
    organizations = [OrganizationFactory() for _ in range(7)]
    for organization in organizations:
        for _ in range(rng.randint(3, 10)):
            coverage = rng.choice(
                [Coverage.DIRECT, Coverage.DIRECT, Coverage.VENDOR, Coverage.DISTRIBUTOR, Coverage.NO_CPT]
            )
            start, end = rng.choice(starts), rng.choice(ends)
            if start and end and end < start:
                end = None
            app = ApplicationFactory(
                organization=organization,
                cpt_coverage=coverage,
                vendor=rng.choice([*vendors, None]),
                data_files=rng.sample(CODES, rng.choice([0, 1, 1, 2, 3])),
                in_service_from=start,
                in_service_to=end,
            )
            for year in years:
                if rng.random() < 0.6:
                    if rng.random() < 0.3:
                        ProxyCountFactory(
                            application=app,
                            license_year=year,
                            metric_value=Decimal(rng.randint(1, 50_000)) / 100,
                            factor=Decimal(rng.randint(1, 9_000)) / 1000,
                        )
                    else:
                        UserCountFactory(
                            application=app,
                            license_year=year,
                            direct_users=rng.choice([None, 0, rng.randint(1, 400)]),
                            program_users=rng.choice([None, rng.randint(0, 50)]),
                            output_users=rng.choice([None, rng.randint(0, 900)]),
                        )
                if rng.random() < 0.55:
                    status = rng.choice(statuses)
                    LicenseFactory(
                        application=app,
                        license_year=year,
                        status=status,
                        route="distributor" if coverage == Coverage.DISTRIBUTOR else "direct",
                        distributor=rng.choice([*distributors, None]) if coverage == Coverage.DISTRIBUTOR else None,
                        licensed_users=rng.randint(0, 500),
                        agreement_number="AMA-1" if status == LicenseStatus.ACTIVE else "",
                        not_required_reason="Test only" if status == LicenseStatus.NOT_REQUIRED else "",
                    )
    return organizations


def dashboard_wanted(shown_years):
    """Every (license year, rates, basis year) the dashboard prices for these years shown."""
    table = standing.rate_table()
    keys = dict.fromkeys(key for shown in shown_years for key in royalty_years(shown))
    wanted = []
    for year, basis_year in keys:
        rates, _problem = standing.rates_for(table, year)
        if rates is not None:
            wanted.append((year, rates, basis_year))
    return wanted


def exact(total):
    # str() of each Decimal, so 0 and 0.00 differ too.
    return tuple(str(value) for value in astuple(total))


def test_every_key_the_dashboard_asks_equals_the_former_queries(varied, django_assert_num_queries):
    current = standing.current_license_year()
    wanted = dashboard_wanted([current - 4, current - 1, current, current + 1])
    assert len({basis or year for year, _rates, basis in wanted}) >= 5
    some = Organization.objects.filter(pk__in=[varied[0].pk, varied[3].pk, varied[5].pk])
    for applications in (Application.objects.all(), Application.objects.filter(organization__in=some)):
        with django_assert_num_queries(2):
            found = overview.royalty_totals(applications, wanted)
        expected = old_royalty_totals(applications, wanted)
        assert found.keys() == expected.keys()
        for key, total in expected.items():
            assert exact(found[key]) == exact(total), key
    # Not vacuous: money, entity fees and not-required licenses are all in the data.
    everything = overview.royalty_totals(Application.objects.all(), wanted)
    assert everything[current, None].applications > 0 and everything[current, None].legal_entities > 0
    assert everything[current + 1, current].applications > 0
    assert Application.objects.filter(licenses__status=LicenseStatus.NOT_REQUIRED).exists()


def test_every_key_equals_the_pure_rules(varied):
    """The same totals from licensing.royalty per application and legal entity: each system's standing in the
    basis year (its count and license), priced at the year's rates if it is in service that year."""
    current = standing.current_license_year()
    table = standing.rate_table()
    wanted = dashboard_wanted([current - 4, current, current + 1])
    found = overview.royalty_totals(Application.objects.all(), wanted)
    applications = list(Application.objects.select_related("vendor").prefetch_related("data_files"))
    for year, rates, basis in wanted:
        by_app = standing.standings(applications, [basis or year], table=table)
        per_org: dict = {}
        for app in applications:
            if app.in_service_during(year):
                item = by_app[app.pk, basis or year]
                per_org.setdefault(app.organization_id, []).append((app, item.users, item.license))
        totals = [royalty.organization_royalty(lines, rates=rates) for lines in per_org.values()]
        total = found[year, basis]
        assert total.total == sum((item.total for item in totals), Decimal("0")), (year, basis)
        assert total.entity_fees == sum((item.entity_fee for item in totals), Decimal("0")), (year, basis)
        assert total.is_estimate == any(item.is_estimate for item in totals), (year, basis)


def test_nothing_asked_takes_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert overview.royalty_totals(Application.objects.all(), []) == {}
