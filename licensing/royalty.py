"""What CPT costs: royalty of an application and of an organization for a license year.

Rates are data (RateSchedule / DataFileRate). The formula is the AMA's for both the Counting
Users Model and the User Proxy Model: an entity fee per legal entity plus a per-user rate for
each data file (AMA, "Internal Use License Agreement Royalty Rates for 2024, 2025 and 2026").
Vendors that cover CPT under their distribution license pass the per-user royalty on, plus
their processing fee (e.g. Fusion Web Clinic 2021: $17 + $1 = $18 per provider).
Money is Decimal, rounded half-up to cents. Pure functions: the rate table is loaded by
licensing.standing.rate_table().
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError

from licensing.choices import Coverage, LicenseStatus, RateBasis

if TYPE_CHECKING:
    from licensing.models import Application, DataFile, License, RateSchedule

CENTS = Decimal("0.01")
ZERO = Decimal("0.00")

# The one wording of estimates (docs/rules.md, "Estimates"), so pages, exports and the PDF cannot drift apart:
# pages and the PDF print an amount that rests on a projected rate or an estimated entity fee followed by
# ESTIMATE_MARK; CSV exports keep amounts as numbers and say ESTIMATE or PUBLISHED in a column beside each.
ESTIMATE_MARK = "(est.)"
ESTIMATE = "estimate"
PUBLISHED = "published"


def money(amount: Decimal | int | str) -> Decimal:
    return Decimal(amount).quantize(CENTS, rounding=ROUND_HALF_UP)


def dollars(amount: Decimal | None, *, estimate: bool = False) -> str:
    """An amount as pages and the PDF print it: "$1,234.50", or "$1,234.50 (est.)" when it rests on an estimate."""
    if amount is None:
        return "-"
    text = f"${amount:,.2f}"
    return f"{text} {ESTIMATE_MARK}" if estimate else text


def basis_label(estimate: bool) -> str:
    """What an export's basis column says beside an amount: "estimate" or "published"."""
    return ESTIMATE if estimate else PUBLISHED


class RatesUnavailable(Exception):
    """No schedule covers the year and none precedes it to project from."""


@dataclass(frozen=True)
class YearRates:
    """The rates that apply to one license year, published or projected."""

    license_year: int
    basis_year: int
    is_estimate: bool
    entity_fee: Decimal | None
    entity_fee_estimated: bool
    per_user: dict[str, Decimal]
    flat_fee: dict[str, Decimal]
    source: str

    @property
    def label(self) -> str:
        if not self.is_estimate:
            return f"{self.license_year} published rates"
        if self.basis_year == self.license_year:
            return f"{self.license_year} estimated rates"
        return f"{self.license_year} estimate, projected from {self.basis_year}"

    def per_user_for(self, codes: Iterable[str]) -> Decimal:
        return sum((self.per_user[code] for code in codes if code in self.per_user), ZERO)

    def flat_fees_for(self, codes: Iterable[str]) -> Decimal:
        return sum((self.flat_fee.get(code, ZERO) for code in codes if code in self.per_user), ZERO)

    def unpriced(self, codes: Iterable[str]) -> list[str]:
        return [code for code in codes if code not in self.per_user]


def project(schedule_rates: YearRates, license_year: int, step: Decimal) -> YearRates:
    """Rates for a later year with no schedule: each per-user rate rises by `step` a year.

    Vendors expect +$0.50 a year (ShareNote, Ensora FAQs); the AMA kept 2026 equal to 2025, so
    the step is editable per schedule and every projected figure is labelled an estimate.
    """
    years = license_year - schedule_rates.license_year
    return YearRates(
        license_year=license_year,
        basis_year=schedule_rates.license_year,
        is_estimate=True,
        entity_fee=schedule_rates.entity_fee,
        entity_fee_estimated=True,
        per_user={code: money(rate + step * years) for code, rate in schedule_rates.per_user.items()},
        flat_fee=dict(schedule_rates.flat_fee),
        source=f"Projected from {schedule_rates.license_year}: +${step} per user per year. {schedule_rates.source}",
    )


class RateTable:
    """Every rate schedule, asked per year; licensing.standing.rate_table() loads it in two queries."""

    def __init__(self, schedules: Iterable[RateSchedule]) -> None:
        self._by_year: dict[int, YearRates] = {}
        self._steps: dict[int, Decimal] = {}
        for schedule in schedules:
            self._steps[schedule.license_year] = schedule.projection_step
            self._by_year[schedule.license_year] = YearRates(
                license_year=schedule.license_year,
                basis_year=schedule.license_year,
                is_estimate=schedule.basis == RateBasis.ESTIMATED,
                entity_fee=schedule.entity_fee,
                entity_fee_estimated=schedule.entity_fee_estimated or schedule.basis == RateBasis.ESTIMATED,
                per_user={rate.data_file.code: rate.per_user for rate in schedule.rates.all()},
                flat_fee={rate.data_file.code: rate.flat_fee for rate in schedule.rates.all() if rate.flat_fee},
                source=schedule.source,
            )

    def for_year(self, license_year: int) -> YearRates:
        if license_year in self._by_year:
            return self._by_year[license_year]
        earlier = [year for year in self._by_year if year < license_year]
        if not earlier:
            raise RatesUnavailable(
                f"No rate schedule covers {license_year}. Add one under Rate schedules, with its source."
            )
        basis = max(earlier)
        return project(self._by_year[basis], license_year, self._steps[basis])


@dataclass(frozen=True)
class ApplicationRoyalty:
    """The yearly royalty of one application, with everything needed to explain it."""

    license_year: int
    coverage: str
    users: int | None
    per_user: Decimal
    flat_fees: Decimal
    amount: Decimal | None
    is_estimate: bool
    unpriced_files: tuple[str, ...] = ()
    note: str = ""
    licensed_directly: bool = False

    @property
    def pays_entity_fee(self) -> bool:
        return self.licensed_directly


def check_data_files(cpt_coverage: str | None, data_files: Sequence[DataFile] | None) -> None:
    """The royalty is priced per AMA data file, so a system that uses CPT must say which files it uses."""
    if cpt_coverage != Coverage.NO_CPT and not data_files:
        raise ValidationError({"data_files": "Tick the AMA data files this system uses (at least CPT Standard)."})


def data_file_codes(application: Application) -> list[str]:
    # `.all()` so a prefetch made by a list page is used instead of a query per row.
    return [data_file.code for data_file in application.data_files.all()]


def price_per_user(application: Application, rates: YearRates, *, license: License | None = None) -> Decimal:
    """What one user costs per year: the AMA per-user rates of the files used, plus any pass-through fee."""
    base = rates.per_user_for(data_file_codes(application))
    if application.cpt_coverage == Coverage.VENDOR and application.vendor is not None:
        return base + application.vendor.processing_fee_per_user
    if application.cpt_coverage == Coverage.DISTRIBUTOR and license is not None and license.distributor is not None:
        return base + license.distributor.processing_fee_per_user
    return base


def _free(application: Application, users: int | None, rates: YearRates, note: str) -> ApplicationRoyalty:
    return ApplicationRoyalty(
        license_year=rates.license_year,
        coverage=application.cpt_coverage,
        users=users,
        per_user=ZERO,
        flat_fees=ZERO,
        amount=ZERO,
        is_estimate=False,
        note=note,
    )


def application_royalty(
    application: Application, *, users: int | None, rates: YearRates, license: License | None = None
) -> ApplicationRoyalty:
    codes = data_file_codes(application)
    if application.cpt_coverage == Coverage.NO_CPT:
        return _free(application, users, rates, "No CPT content")
    if license is not None and license.status == LicenseStatus.NOT_REQUIRED:
        return _free(application, users, rates, "License not required")
    per_user = price_per_user(application, rates, license=license)
    # Flat fees (e.g. the CPT-SNOMED map's) belong to the licensee's own agreement, not to a vendor's pass-through.
    flat_fees = rates.flat_fees_for(codes) if application.cpt_coverage == Coverage.DIRECT else ZERO
    unpriced = tuple(rates.unpriced(codes))
    note = f"No {rates.license_year} rate for: {', '.join(unpriced)}" if unpriced else ""
    if not codes:
        note = "No AMA data files selected"
    amount = None if users is None else money(per_user * users + flat_fees)
    if users is None:
        note = note or "Users not counted"
    return ApplicationRoyalty(
        license_year=rates.license_year,
        coverage=application.cpt_coverage,
        users=users,
        licensed_directly=application.cpt_coverage == Coverage.DIRECT,
        per_user=money(per_user),
        flat_fees=money(flat_fees),
        amount=amount,
        is_estimate=rates.is_estimate,
        unpriced_files=unpriced,
        note=note,
    )


@dataclass(frozen=True)
class OrganizationRoyalty:
    """The royalty of one legal entity for one year: its applications plus the entity fee once."""

    license_year: int
    applications: list[tuple[Application, ApplicationRoyalty]] = field(default_factory=list)
    entity_fee: Decimal = ZERO
    entity_fee_note: str = ""
    is_estimate: bool = False
    entity_fee_is_estimate: bool = False

    @property
    def applications_total(self) -> Decimal:
        return money(sum((royalty.amount or ZERO for _, royalty in self.applications), ZERO))

    @property
    def applications_total_is_estimate(self) -> bool:
        """A sum is an estimate when any amount it adds is."""
        return any(royalty.is_estimate for _, royalty in self.applications if royalty.amount)

    @property
    def total(self) -> Decimal:
        return money(self.applications_total + self.entity_fee)

    @property
    def uncounted(self) -> list[Application]:
        return [
            application
            for application, royalty in self.applications
            if royalty.users is None and royalty.coverage != Coverage.NO_CPT
        ]


def entity_fee(rates: YearRates, *, licenses_directly: bool) -> tuple[Decimal, str]:
    """The AMA entity fee, charged once per legal entity that licenses directly (legacy AMA licensing page)."""
    if not licenses_directly:
        return ZERO, "No direct license, so no entity fee"
    if rates.entity_fee is None:
        return ZERO, f"No entity fee published for {rates.license_year}: the total leaves it out"
    note = "estimated" if rates.entity_fee_estimated else "published"
    return money(rates.entity_fee), f"Entity fee ({note})"


def organization_royalty(
    applications_with_users: Iterable[tuple[Application, int | None, License | None]], *, rates: YearRates
) -> OrganizationRoyalty:
    """Royalty of one legal entity from (application, users, license) triples of its applications in service."""
    lines = [
        (application, application_royalty(application, users=users, rates=rates, license=license))
        for application, users, license in applications_with_users
    ]
    fee, note = entity_fee(rates, licenses_directly=any(royalty.pays_entity_fee for _, royalty in lines))
    return OrganizationRoyalty(
        license_year=rates.license_year,
        applications=lines,
        entity_fee=fee,
        entity_fee_note=note,
        # A total is an estimate when an amount it adds is one: a $0.00 year is not (docs/rules.md).
        is_estimate=any(line.is_estimate for _, line in lines if line.amount)
        or (fee > 0 and rates.entity_fee_estimated),
        entity_fee_is_estimate=fee > 0 and rates.entity_fee_estimated,
    )
