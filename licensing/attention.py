"""Selectors: the records that need someone's attention, as querysets, for the dashboard, its lists and reminders.

Each takes a queryset the caller has already scoped (licensing.access) and narrows it, so the dashboard's
count, the changelist behind it and a reminder digest are the same rows. Reads only; no rule here is
computed in Python per row.

A license ends on its `ends_on`, or on December 31 of its license year when that is empty (License.term_end).
A license is *replaced* once a later year's license of the same application has taken effect (active, or
since expired, covered by the vendor, or not required); a renewal that is only needed, drafted or submitted
replaces nothing, since the application is not licensed by it yet. An application *outlives* a license when
it stays in service after the license's end; one retired on or before that day needs no renewal.
"""

from __future__ import annotations

import datetime

from django.db.models import Exists, F, OuterRef, Q, QuerySet

from licensing.choices import Coverage, FilingStatus, LicenseStatus
from licensing.models import Application, Filing, License, UserCount

# Reminder thresholds for licenses that are about to end (days before the end date), widest first.
ENDING_THRESHOLDS = (90, 30, 7)
# A count older than this is due for a recount (AMA licenses are annual; counts should be too).
STALE_COUNT_DAYS = 365
# A submitted filing with no answer from the AMA for longer than this should be chased.
UNANSWERED_FILING_DAYS = 30
# Later licenses in these statuses stand in for an ended one (see the module docstring).
IN_EFFECT = (
    LicenseStatus.ACTIVE,
    LicenseStatus.EXPIRED,
    LicenseStatus.COVERED_BY_VENDOR,
    LicenseStatus.NOT_REQUIRED,
)


def in_service(license_year: int, prefix: str = "") -> Q:
    """Applications in service at some point of `license_year` (retired ones are neither counted nor flagged)."""
    return (
        Q(**{f"{prefix}in_service_from__isnull": True}) | Q(**{f"{prefix}in_service_from__year__lte": license_year})
    ) & (Q(**{f"{prefix}in_service_to__isnull": True}) | Q(**{f"{prefix}in_service_to__year__gte": license_year}))


def _ending_between(first: datetime.date, last: datetime.date) -> Q:
    """Licenses whose end date (ends_on, or December 31 of the license year when empty) lies in [first, last]."""
    years = [year for year in range(first.year, last.year + 1) if first <= datetime.date(year, 12, 31) <= last]
    return Q(ends_on__range=(first, last)) | Q(ends_on__isnull=True, license_year__in=years)


def _ended_before(day: datetime.date) -> Q:
    # Without an end date a license ends on December 31 of its year, which is before `day` only in earlier years.
    return Q(ends_on__lt=day) | Q(ends_on__isnull=True, license_year__lt=day.year)


def _application_outlives_license() -> Q:
    """Licenses whose application stays in service after the license's end date (so it needs a successor)."""
    return (
        Q(application__in_service_to__isnull=True)
        | Q(ends_on__isnull=False, application__in_service_to__gt=F("ends_on"))
        | Q(ends_on__isnull=True, application__in_service_to__year__gt=F("license_year"))
    )


def _replaced() -> Exists:
    """A later year's license of the same application has taken effect."""
    return Exists(
        License.objects.filter(
            application_id=OuterRef("application_id"),
            license_year__gt=OuterRef("license_year"),
            status__in=IN_EFFECT,
        )
    )


def licenses_ending(licenses: QuerySet[License], *, today: datetime.date, within_days: int) -> QuerySet[License]:
    """Active licenses that end between today and `within_days` days from now (both days included), whose
    application stays in service after them and which no later license has replaced yet."""
    last = today + datetime.timedelta(days=within_days)
    return licenses.filter(
        _ending_between(today, last), _application_outlives_license(), ~_replaced(), status=LicenseStatus.ACTIVE
    )


def ending_threshold(days_left: int) -> int | None:
    """The tightest of ENDING_THRESHOLDS a license `days_left` days from its end has reached (None: none yet)."""
    reached = [threshold for threshold in ENDING_THRESHOLDS if 0 <= days_left <= threshold]
    return min(reached) if reached else None


def licenses_expired(
    licenses: QuerySet[License], *, today: datetime.date, license_year: int | None = None
) -> QuerySet[License]:
    """Licenses that ended before today, whose application is still in service after them, and that no later
    license has replaced (see the module docstring). A license is still in force on its last day.

    With `license_year`, only licenses of that year or earlier (what the dashboard for that year shows).
    """
    ended = licenses.filter(
        _ended_before(today),
        _application_outlives_license(),
        status__in=[LicenseStatus.ACTIVE, LicenseStatus.EXPIRED],
    )
    if license_year is not None:
        ended = ended.filter(license_year__lte=license_year)
    return ended.filter(~_replaced())


def vendor_coverage_lapsing(applications: QuerySet[Application], *, license_year: int) -> QuerySet[Application]:
    """Applications in service that year whose CPT comes under a vendor's distribution agreement that ends
    before or during the year (AMA: a vendor covers CPT only while its distribution agreement is in force).

    An agreement that ends after December 31 of the year covers the whole year; one without a recorded end is
    not flagged.
    """
    year_end = datetime.date(license_year, 12, 31)
    covered_license = License.objects.filter(
        application_id=OuterRef("pk"), license_year=license_year, status=LicenseStatus.COVERED_BY_VENDOR
    )
    return applications.filter(
        in_service(license_year),
        Q(cpt_coverage=Coverage.VENDOR) | Exists(covered_license),
        vendor__distribution_agreement_expires__lte=year_end,
    )


def count_stale_since(counted_on: datetime.date | None, *, license_year: int) -> datetime.date:
    """The first day a count is stale: the day after it turned 12 months old; an undated count from the start
    of its license year (it cannot be shown to be recent)."""
    if counted_on is None:
        return datetime.date(license_year, 1, 1)
    return counted_on + datetime.timedelta(days=STALE_COUNT_DAYS + 1)


def counts_stale(counts: QuerySet[UserCount], *, today: datetime.date, license_year: int) -> QuerySet[UserCount]:
    """The year's counts of applications in service that year taken more than 12 months (365 days) before
    today, or never dated. A count exactly 365 days old is not stale yet."""
    oldest = today - datetime.timedelta(days=STALE_COUNT_DAYS)
    return counts.filter(
        Q(counted_on__lt=oldest) | Q(counted_on__isnull=True),
        in_service(license_year, "application__"),
        license_year=license_year,
    )


def filings_draft(filings: QuerySet[Filing], *, license_year: int | None = None) -> QuerySet[Filing]:
    drafts = filings.filter(status=FilingStatus.DRAFT)
    return drafts if license_year is None else drafts.filter(license_year=license_year)


def filing_unanswered_since(submitted_on: datetime.date) -> datetime.date:
    """The first day a filing submitted on `submitted_on` counts as unanswered (more than 30 days later)."""
    return submitted_on + datetime.timedelta(days=UNANSWERED_FILING_DAYS + 1)


def filings_unanswered(filings: QuerySet[Filing], *, today: datetime.date) -> QuerySet[Filing]:
    """Filings submitted more than 30 days before today (in the portal's time zone) that the AMA has neither
    accepted nor rejected, and that no correction supersedes (the correction is the one to chase)."""
    oldest = today - datetime.timedelta(days=UNANSWERED_FILING_DAYS)
    return filings.filter(status=FilingStatus.SUBMITTED, submitted_at__date__lt=oldest, superseded_by__isnull=True)
