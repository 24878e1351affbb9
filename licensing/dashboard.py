"""Selectors for the dashboard: each figure is declared once, with the records it counts and the list behind it.

A figure's `select` narrows a scoped queryset of its model; the dashboard counts it and the changelist filter
named by `param` applies the very same `select`, so the number on the dashboard is the number of rows on
the list. Positions come from licensing.overview (the rules as SQL), due dates from licensing.attention.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import QuerySet

from licensing import attention, overview
from licensing.choices import Position
from licensing.models import Application, EvidenceFile, Filing, License, UserCount

Select = Callable[[QuerySet, datetime.date, int], QuerySet]


@dataclass(frozen=True)
class Figure:
    key: str
    title: str
    model: type
    select: Select
    # The changelist filter that lists exactly these records: its parameter and value.
    param: str = "attention"
    # Why the figure matters, in one line under it.
    help: str = ""
    # Whether a non-zero figure needs action (shown as a warning) or is for information.
    warns: bool = True
    # Counted against today's date (ending, expired, unanswered, stale), whatever year is shown.
    as_of_today: bool = False


def _position(wanted: str) -> Select:
    return lambda applications, _today, year: overview.filter_position(applications, year, wanted)


def _ending(days: int) -> Select:
    return lambda licenses, today, _year: attention.licenses_ending(licenses, today=today, within_days=days)


FIGURES: list[Figure] = [
    Figure(
        Position.UNLICENSED,
        "Applications needing a license",
        Application,
        _position(Position.UNLICENSED),
        param="position",
        help="They use CPT, their users are counted, and no license is in force for the year.",
    ),
    Figure(
        Position.UNDER_LICENSED,
        "Under-licensed applications",
        Application,
        _position(Position.UNDER_LICENSED),
        param="position",
        help="More users than licensed: the shortfall must be trued up at the per-user rate.",
    ),
    Figure(
        Position.NOT_COUNTED,
        "Applications whose users are not counted",
        Application,
        _position(Position.NOT_COUNTED),
        param="position",
        help="Count the users, or apply the User Proxy Model, for the year.",
    ),
    *[
        Figure(
            f"ending_{days}",
            f"Licenses ending within {days} days",
            License,
            _ending(days),
            help="Active licenses whose term ends soon: prepare the renewal.",
            as_of_today=True,
        )
        for days in attention.ENDING_THRESHOLDS
    ],
    Figure(
        "expired",
        "Expired licenses not renewed",
        License,
        lambda licenses, today, year: attention.licenses_expired(licenses, today=today, license_year=year),
        help="Ended, with no license of a later year in effect for the application.",
        as_of_today=True,
    ),
    Figure(
        "draft",
        "Filings in draft",
        Filing,
        lambda filings, _today, year: attention.filings_draft(filings, license_year=year),
        help="Prepared but not yet submitted to the AMA.",
        warns=False,
    ),
    Figure(
        "unanswered",
        f"Filings unanswered for more than {attention.UNANSWERED_FILING_DAYS} days",
        Filing,
        lambda filings, today, _year: attention.filings_unanswered(filings, today=today),
        help="Submitted to the AMA with no answer yet: follow up.",
        as_of_today=True,
    ),
    Figure(
        "vendor_lapsing",
        "Vendor coverage lapsing",
        Application,
        lambda applications, _today, year: attention.vendor_coverage_lapsing(applications, license_year=year),
        help="The vendor's AMA distribution agreement ends before or during the year.",
    ),
    Figure(
        "stale",
        "User counts older than 12 months",
        UserCount,
        # A closed year is not recounted: only the current year's (and later years') counts can be stale.
        lambda counts, today, year: (
            attention.counts_stale(counts, today=today, license_year=year) if year >= today.year else counts.none()
        ),
        help="Recount: the AMA checks reported figures against industry data.",
        as_of_today=True,
    ),
    Figure(
        "evidence_overdue",
        "Evidence past its review date",
        EvidenceFile,
        lambda files, today, _year: files.filter(review_on__lt=today),
        help="Look at the file again (a vendor's letter may have expired), then set its next review date.",
        as_of_today=True,
    ),
]


def figures_for(model: type, param: str) -> list[Figure]:
    """The figures a changelist filter of `model` with parameter `param` offers."""
    return [figure for figure in FIGURES if figure.model is model and figure.param == param]


def figure(model: type, param: str, value: str) -> Figure | None:
    return next((item for item in figures_for(model, param) if item.key == value), None)
