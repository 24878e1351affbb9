"""What an organization looked like at a past moment, rebuilt from history rows only.

The state of a tracked object at moment t is its newest history row with history_date <= t, ties
broken by history_id (simple-history's own as_of/latest_of_each returns duplicates when two rows
share a date: django-simple-history issue #1602), unless that row records a deletion ("-").
Each model costs one query whatever the number of objects.

The royalty and the compliance position are then computed from that state by the rules the live
pages use (licensing.standing, licensing.royalty, licensing.position), with the rate schedules,
vendors and AMA data files also taken as they were at t, so the figures are what the portal would
have shown then.
"""

import datetime
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Case, Exists, OuterRef, Q, Subquery, Value, When
from django.utils import timezone

from licensing import counting, royalty, standing
from licensing.audit import links
from licensing.audit.records import MIGRATION_BASELINE_REASON
from licensing.models import (
    Application,
    BaseMetrics,
    DataFile,
    DataFileRate,
    License,
    Organization,
    RateSchedule,
    UserCount,
    Vendor,
)


def license_year_of(moment: datetime.datetime) -> int:
    """License years are calendar years (AMA annual release): the year the moment falls in, local time."""
    return timezone.localtime(moment).year


def latest_rows(model, moment: datetime.datetime, *, migration_baseline: bool = False):
    """Each object's newest history row at `moment`, objects deleted by then left out.

    Filters added to the result apply after the newest row is chosen, so filtering on a field
    (organization, application, year) keeps the objects whose state at `moment` matches.
    With `migration_baseline`, reference data loaded by a data migration counts as existing
    before its first history row was written (the migration loaded it before history began).
    """
    history_model = model.history.model
    pk_name = model._meta.pk.attname
    known = Q(history_date__lte=moment)
    order = ["-history_date", "-history_id"]
    if migration_baseline:
        known |= Q(history_type="+", history_change_reason=MIGRATION_BASELINE_REASON)
        # The baseline stands in only where no row is dated at or before the moment, whatever date it carries.
        order = [Case(When(history_date__lte=moment, then=Value(1)), default=Value(0)).desc(), *order]
    newest = (
        history_model.objects.filter(known, **{pk_name: OuterRef(pk_name)}).order_by(*order).values("history_id")[:1]
    )
    return history_model.objects.filter(known, history_id=Subquery(newest)).exclude(history_type="-")


def objects_as_of(model, moment: datetime.datetime, *, migration_baseline: bool = False, **filters) -> list:
    """Unsaved model instances holding each object's state at `moment` (one query)."""
    rows = latest_rows(model, moment, migration_baseline=migration_baseline).filter(**filters)
    return [row.instance for row in rows]


def linked_ids(application_rows, field_name: str) -> dict[int, list[int]]:
    """The m2m links recorded with each application history row: {history_id: [target ids]}."""
    recorded = links.recorded_links(
        Application.history.model, [row.history_id for row in application_rows], fields=[field_name]
    )
    return {history_id: links.get(field_name, []) for history_id, links in recorded.items()}


def rate_table_as_of(moment: datetime.datetime, data_files: dict[int, DataFile]) -> royalty.RateTable:
    """The rate schedules and per-file rates as recorded at `moment` (two queries)."""
    schedules = objects_as_of(RateSchedule, moment, migration_baseline=True)
    by_id = {schedule.pk: schedule for schedule in schedules}
    rates = defaultdict(list)
    for rate in objects_as_of(DataFileRate, moment, migration_baseline=True, schedule_id__in=list(by_id)):
        if rate.data_file_id not in data_files:
            continue  # a rate for a file not recorded at that moment has no code to price by
        DataFileRate.data_file.field.set_cached_value(rate, data_files[rate.data_file_id])
        rates[rate.schedule_id].append(rate)
    for schedule in schedules:
        # RateTable reads schedule.rates.all(); the prefetch cache answers it with the rates of that moment.
        schedule._prefetched_objects_cache = {"rates": rates[schedule.pk]}
    return royalty.RateTable(schedules)


@dataclass(frozen=True)
class ApplicationThen:
    """One application as it stood at the moment, with its count and license for that license year."""

    standing: standing.Standing
    in_service: bool
    deleted_since: bool

    @property
    def application(self) -> Application:
        return self.standing.application

    @property
    def count(self) -> UserCount | None:
        return self.standing.count

    @property
    def license(self) -> License | None:
        return self.standing.license

    @property
    def users(self) -> int | None:
        return self.standing.users

    @property
    def basis(self) -> str:
        """How the users were derived (counting.explain), empty without a count."""
        return counting.explain(self.count) if self.count is not None else ""

    @property
    def royalty(self) -> royalty.ApplicationRoyalty | None:
        # Only applications in service that year owe a royalty (standing.organization_years applies the same rule).
        return self.standing.royalty if self.in_service else None

    @property
    def position(self):
        return self.standing.position if self.in_service else None


@dataclass(frozen=True)
class OrganizationThen:
    """An organization at a moment: its applications, counts, licenses, royalty and position, from history."""

    organization: Organization
    recorded: Organization | None
    moment: datetime.datetime
    license_year: int
    applications: list[ApplicationThen]
    base_metrics: BaseMetrics | None
    rates: royalty.YearRates | None
    rates_problem: str
    royalty: royalty.OrganizationRoyalty | None

    @property
    def anything_recorded(self) -> bool:
        return self.recorded is not None or bool(self.applications)

    @property
    def in_service(self) -> list[ApplicationThen]:
        return [item for item in self.applications if item.in_service]


def organization_as_of(organization: Organization, moment: datetime.datetime) -> OrganizationThen:
    """Rebuild `organization` at `moment` from history (at most ten queries whatever its size).

    Applications are those whose newest row at `moment` names the organization; counts and
    licenses those of the license year of `moment` whose newest row names one of them.
    """
    if timezone.is_naive(moment):
        raise ValueError("The moment needs a time zone, e.g. timezone.make_aware(moment).")
    year = license_year_of(moment)
    application_history = Application.history.model
    deleted_later = application_history.objects.filter(id=OuterRef("id"), history_type="-", history_date__gt=moment)
    application_rows = list(
        latest_rows(Application, moment)
        .filter(organization_id=organization.pk)
        .annotate(deleted_later=Exists(deleted_later))
        .order_by("name", "id")
    )
    data_file_links = linked_ids(application_rows, "data_files")
    applications = {row.id: row.instance for row in application_rows}
    # Counts and licenses follow their application's state at the moment, so an application moved between
    # organizations brings its own records along; their stamped organization could be the earlier one.
    ids = list(applications)
    counts = {c.application_id: c for c in objects_as_of(UserCount, moment, application_id__in=ids, license_year=year)}
    licenses = {
        lic.application_id: lic for lic in objects_as_of(License, moment, application_id__in=ids, license_year=year)
    }
    vendor_ids = {app.vendor_id for app in applications.values()} | {lic.distributor_id for lic in licenses.values()}
    vendors = {v.pk: v for v in objects_as_of(Vendor, moment, migration_baseline=True, id__in=vendor_ids - {None})}
    data_files = {f.pk: f for f in objects_as_of(DataFile, moment, migration_baseline=True)}
    rates, rates_problem = standing.rates_for(rate_table_as_of(moment, data_files), year)
    recorded = next(iter(objects_as_of(Organization, moment, id=organization.pk)), None)
    base_metrics = next(
        iter(objects_as_of(BaseMetrics, moment, organization_id=organization.pk, license_year=year)), None
    )

    lines = []
    for row in application_rows:
        application = applications[row.id]
        # The rules read these relations; caching the state at the moment keeps them off the live tables.
        application._prefetched_objects_cache = {
            "data_files": [data_files[i] for i in data_file_links.get(row.history_id, []) if i in data_files]
        }
        Application.vendor.field.set_cached_value(application, vendors.get(application.vendor_id))
        Application.organization.field.set_cached_value(application, recorded or organization)
        count, lic = counts.get(application.pk), licenses.get(application.pk)
        if count is not None:
            UserCount.application.field.set_cached_value(count, application)
        if lic is not None:
            License.application.field.set_cached_value(lic, application)
            License.distributor.field.set_cached_value(lic, vendors.get(lic.distributor_id))
        lines.append(
            ApplicationThen(
                standing=standing.Standing(application, year, count, lic, rates, rates_problem),
                in_service=application.in_service_during(year),
                deleted_since=row.deleted_later,
            )
        )
    total = None
    if rates is not None:
        total = royalty.organization_royalty(
            [(item.application, item.users, item.license) for item in lines if item.in_service], rates=rates
        )
    return OrganizationThen(
        organization=organization,
        recorded=recorded,
        moment=moment,
        license_year=year,
        applications=lines,
        base_metrics=base_metrics,
        rates=rates,
        rates_problem=rates_problem,
        royalty=total,
    )
