"""Selectors: where applications and organizations stand in a license year, read in bulk for pages.

Reads only: it fetches counts, licenses and rates for many applications in a fixed number of
queries, then asks counting, royalty and position (pure rules) for the answers. Everything the
rules need from the database is loaded here, never inside them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet, prefetch_related_objects
from django.utils import timezone

from licensing import counting, position, royalty
from licensing.models import (
    Application,
    BaseMetrics,
    DataFileRate,
    License,
    Organization,
    ProxyFactor,
    RateSchedule,
    UserCount,
)

# How many license years after the current one a forecast prices (from this year's counts).
FORECAST_YEARS = 3


def current_license_year() -> int:
    """License years are calendar years (AMA annual release); the current one is this calendar year."""
    return timezone.localdate().year


def rate_table() -> royalty.RateTable:
    """Every rate schedule with its per-file rates (two queries: the schedules, the rates with their data files)."""
    rates = Prefetch("rates", queryset=DataFileRate.objects.select_related("data_file"))
    return royalty.RateTable(RateSchedule.objects.prefetch_related(rates))


def proxy_defaults(
    *, application: Application, license_year: int, base_metric: str
) -> tuple[Decimal | None, str | None, Decimal | None]:
    """The metric value (with its source) and factor a proxy count takes from reference data, if any.

    Returns (metric_value, metric_source, factor), each None when nothing is on file.
    """
    factor = (
        ProxyFactor.objects.filter(category=application.category, base_metric=base_metric)
        .values_list("factor", flat=True)
        .first()
    )
    metrics = BaseMetrics.objects.filter(organization_id=application.organization_id, license_year=license_year).first()
    value = metrics.value_of(base_metric) if metrics else None
    source = (metrics.source or f"Base metrics {license_year}") if metrics is not None and value is not None else None
    return (Decimal(value) if value is not None else None), source, factor


def plausibility_threshold() -> Decimal:
    return Decimal(getattr(settings, "PLAUSIBILITY_THRESHOLD", counting.DEFAULT_PLAUSIBILITY_THRESHOLD))


def proxy_factors() -> dict[str, dict[str, Decimal]]:
    """The proxy factor table as {application category: {base metric: factor}} (one query)."""
    table: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for category, metric, factor in ProxyFactor.objects.values_list("category", "base_metric", "factor"):
        table[category][metric] = factor
    return dict(table)


def proxy_comparisons(counts: Iterable[UserCount]) -> dict[int, counting.ProxyComparison]:
    """Each counted count's comparison with the User Proxy Model, by count id; counts without one are left out.

    Two queries whatever the number of counts (the factor table, then the base metrics of their organizations and
    years); each count's application must be loaded with it (select_related("application")).
    """
    counted = [count for count in counts if count.method == counting.COUNTED and count.pk is not None]
    if not counted:
        return {}
    factors = proxy_factors()
    counted = [count for count in counted if count.application.category in factors]
    if not counted:
        return {}
    organizations = {count.application.organization_id for count in counted}
    years = {count.license_year for count in counted}
    metrics = {
        (row.organization_id, row.license_year): row
        for row in BaseMetrics.objects.filter(organization_id__in=organizations, license_year__in=years)
    }
    threshold = plausibility_threshold()
    result: dict[int, counting.ProxyComparison] = {}
    for count in counted:
        row = metrics.get((count.application.organization_id, count.license_year))
        if row is None:
            continue
        values = {metric: row.value_of(metric) for metric in factors[count.application.category]}
        comparison = counting.plausibility(
            count, metrics=values, factors=factors[count.application.category], threshold=threshold
        )
        if comparison is not None:
            result[count.pk] = comparison
    return result


@dataclass(frozen=True)
class Implausible:
    """A count far below the User Proxy Model's estimate, with whether its warning was acknowledged."""

    count: UserCount
    comparison: counting.ProxyComparison

    @property
    def acknowledged(self) -> bool:
        return counting.acknowledged(self.count, self.comparison)


def implausible_counts(counts: QuerySet[UserCount]) -> list[Implausible]:
    """The counts of `counts` (already scoped and narrowed) far below the proxy estimate: three queries."""
    rows = list(
        counts.filter(method=counting.COUNTED, application__category__in=ProxyFactor.objects.values("category"))
        .select_related("application__organization", "plausibility_acknowledged_by")
        .order_by("application__organization__name", "application__name", "license_year", "pk")
    )
    comparisons = proxy_comparisons(rows)
    return [
        Implausible(count, comparisons[count.pk])
        for count in rows
        if count.pk in comparisons and comparisons[count.pk].implausible
    ]


@dataclass(frozen=True)
class Standing:
    """One application in one license year: its count, license, royalty and compliance position."""

    application: Application
    license_year: int
    count: UserCount | None
    license: License | None
    rates: royalty.YearRates | None
    rates_problem: str = ""

    @property
    def users(self) -> int | None:
        return counting.users(self.count)

    @property
    def royalty(self) -> royalty.ApplicationRoyalty | None:
        if self.rates is None:
            return None
        return royalty.application_royalty(self.application, users=self.users, rates=self.rates, license=self.license)

    @property
    def position(self) -> position.ComplianceStatus:
        return position.application_position(self.application, users=self.users, license=self.license, rates=self.rates)


def rates_for(table: royalty.RateTable, license_year: int) -> tuple[royalty.YearRates | None, str]:
    try:
        return table.for_year(license_year), ""
    except royalty.RatesUnavailable as problem:
        return None, str(problem)


def standings(
    applications: Iterable[Application], license_years: Iterable[int], *, table: royalty.RateTable | None = None
) -> dict[tuple[int, int], Standing]:
    """Standing per (application id, year) for every pair; about five queries whatever the number."""
    applications = list(applications)
    license_years = sorted(set(license_years))
    if not applications or not license_years:
        return {}
    prefetch_related_objects(applications, "data_files")
    table = table or rate_table()
    ids = [application.pk for application in applications]
    counts = {
        (count.application_id, count.license_year): count
        for count in UserCount.objects.filter(application_id__in=ids, license_year__in=license_years)
    }
    licenses = {
        (lic.application_id, lic.license_year): lic
        for lic in License.objects.filter(application_id__in=ids, license_year__in=license_years).select_related(
            "distributor"
        )
    }
    result = {}
    for license_year in license_years:
        rates, problem = rates_for(table, license_year)
        for application in applications:
            key = (application.pk, license_year)
            result[key] = Standing(application, license_year, counts.get(key), licenses.get(key), rates, problem)
    return result


@dataclass(frozen=True)
class OrganizationYear:
    """One legal entity in one license year: the standing of each application in service and the royalty.

    `upcoming`: applications not in service that year but in one of the FORECAST_YEARS after it, with that
    year's counts and licenses, so a forecast prices a system from the year it goes into service."""

    standings: list[Standing]
    royalty: royalty.OrganizationRoyalty | None
    upcoming: list[Standing] = field(default_factory=list)

    @property
    def needing_action(self) -> list[Standing]:
        return [item for item in self.standings if item.position.needs_action]


def organization_years(
    organizations: Iterable[Organization], license_year: int, *, table: royalty.RateTable | None = None
) -> dict[int, OrganizationYear]:
    """OrganizationYear per organization id, from its own applications in service that year, and those going
    into service in the forecast years after it (fixed queries)."""
    organizations = list(organizations)
    prefetch_related_objects(organizations, "applications__vendor")
    later = range(license_year + 1, license_year + 1 + FORECAST_YEARS)
    applications = [
        app
        for org in organizations
        for app in org.applications.all()
        if any(app.in_service_during(year) for year in (license_year, *later))
    ]
    table = table or rate_table()
    rates, _ = rates_for(table, license_year)
    by_app = standings(applications, [license_year], table=table)
    per_org: dict[int, list[Standing]] = defaultdict(list)
    upcoming: dict[int, list[Standing]] = defaultdict(list)
    for application in applications:
        serving = application.in_service_during(license_year)
        (per_org if serving else upcoming)[application.organization_id].append(by_app[(application.pk, license_year)])
    result = {}
    for organization in organizations:
        items = per_org.get(organization.pk, [])
        total = None
        if rates is not None:
            total = royalty.organization_royalty([(i.application, i.users, i.license) for i in items], rates=rates)
        result[organization.pk] = OrganizationYear(items, total, upcoming.get(organization.pk, []))
    return result


def with_affiliates(organization: Organization) -> list[Organization]:
    """The organization and every affiliate below it (two levels at most), the organization first (one query)."""
    family = Organization.objects.filter(
        Q(pk=organization.pk) | Q(parent_id=organization.pk) | Q(parent__parent_id=organization.pk)
    )
    return sorted(family, key=lambda org: (org.pk != organization.pk, org.parent_id != organization.pk, org.name))


@dataclass(frozen=True)
class RollUp:
    """An organization and its affiliates in one license year: each legal entity's standing, and the total."""

    license_year: int
    entities: list[tuple[Organization, OrganizationYear]]
    chargemaster: dict[int, tuple[bool, str]]

    @property
    def total(self) -> Decimal:
        return royalty.money(sum((year.royalty.total for _, year in self.entities if year.royalty), royalty.ZERO))

    @property
    def entity_fees(self) -> Decimal:
        return royalty.money(sum((year.royalty.entity_fee for _, year in self.entities if year.royalty), royalty.ZERO))

    @property
    def is_estimate(self) -> bool:
        return any(year.royalty.is_estimate for _, year in self.entities if year.royalty and year.royalty.total)

    @property
    def needing_action(self) -> list[Standing]:
        return [item for _, year in self.entities for item in year.needing_action]


def roll_up(organizations: list[Organization], license_year: int, *, table: royalty.RateTable | None = None) -> RollUp:
    """Each organization's year (its own applications in service, the entity fee once if it licenses directly),
    and whether it may post CPT codes in its chargemaster; a fixed number of queries."""
    years = organization_years(organizations, license_year, table=table)
    return RollUp(
        license_year=license_year,
        entities=[(org, years[org.pk]) for org in organizations],
        chargemaster=chargemaster_posting(organizations, license_year),
    )


def chargemaster_posting(organizations: Iterable[Organization], license_year: int) -> dict[int, tuple[bool, str]]:
    """Per organization id: whether it may post CPT codes in its chargemaster that year, and why (one query)."""
    ids = [org.pk for org in organizations]
    licenses = defaultdict(list)
    for lic in License.objects.filter(
        application__organization_id__in=ids,
        application__category__in=sorted(position.CHARGEMASTER_CATEGORIES),
        license_year=license_year,
    ).select_related("application"):
        licenses[lic.application.organization_id].append(lic)
    return {pk: position.chargemaster_posting(licenses.get(pk, []), license_year) for pk in ids}


def forecast(
    years_of_entities: Iterable[OrganizationYear], license_years: Iterable[int], *, table: royalty.RateTable
) -> dict[int, royalty.OrganizationRoyalty | None]:
    """The royalty of later license years from these entities' standings (their counts and licenses), at
    each year's published or projected rates, per year (summed over the entities; no query).

    Returns for each year the entities' royalties added up as one OrganizationRoyalty-like total, or None
    when no rate schedule covers it. Systems not in service in a year are left out of that year; systems going
    into service later are priced from that year on (as the dashboard's SQL forecast does).
    """
    entities = list(years_of_entities)
    result: dict[int, royalty.OrganizationRoyalty | None] = {}
    for license_year in license_years:
        rates, _problem = rates_for(table, license_year)
        if rates is None:
            result[license_year] = None
            continue
        parts = [
            royalty.organization_royalty(
                [
                    (item.application, item.users, item.license)
                    for item in (*entity.standings, *entity.upcoming)
                    if item.application.in_service_during(license_year)
                ],
                rates=rates,
            )
            for entity in entities
        ]
        result[license_year] = royalty.OrganizationRoyalty(
            license_year=license_year,
            applications=[line for part in parts for line in part.applications],
            entity_fee=royalty.money(sum((part.entity_fee for part in parts), royalty.ZERO)),
            entity_fee_note="Entity fees of the legal entities that license directly",
            is_estimate=True,
        )
    return result
