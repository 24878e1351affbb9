"""Compliance position of an application in a license year: is every CPT user licensed?

The AMA licenses each application per user and per annual release (AMA, "CPT licensing for
health care delivery organizations"); a license for fewer users than use CPT leaves a
shortfall that must be trued up at the per-user rate. Pure functions: no queries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from licensing import royalty
from licensing.choices import ApplicationCategory, Coverage, LicenseStatus, Position
from licensing.royalty import YearRates, money

if TYPE_CHECKING:
    from licensing.models import Application, License, Vendor

# License statuses under which the organization held the license during its year.
IN_FORCE = {LicenseStatus.ACTIVE, LicenseStatus.EXPIRED}

NEEDS_ACTION = {Position.UNDER_LICENSED, Position.UNLICENSED, Position.NOT_COUNTED}


@dataclass(frozen=True)
class ComplianceStatus:
    position: Position
    users: int | None = None
    licensed_users: int | None = None
    shortfall: int = 0
    excess: int = 0
    true_up_cost: Decimal = royalty.ZERO
    reason: str = ""

    @property
    def label(self) -> str:
        return self.position.label

    @property
    def needs_action(self) -> bool:
        return self.position in NEEDS_ACTION

    def __str__(self) -> str:
        return f"{self.label}: {self.reason}" if self.reason else self.label


def vendor_can_cover(vendor: Vendor | None, license_year: int) -> tuple[bool, str]:
    """A vendor covers CPT only as an AMA-authorized distributor with an agreement in force that year."""
    if vendor is None:
        return False, "No vendor recorded for a vendor-covered application."
    if not vendor.is_authorized_distributor:
        return False, f"{vendor} is not an AMA-authorized distributor, so its license cannot cover CPT."
    expires = vendor.distribution_agreement_expires
    if expires is not None and expires.year < license_year:
        return False, f"{vendor}'s distribution agreement expired on {expires:%Y-%m-%d}."
    return True, f"Under {vendor}'s distribution license."


def application_position(
    application: Application, *, users: int | None, license: License | None, rates: YearRates | None
) -> ComplianceStatus:
    """Where one application stands for the year of `rates`, given its users and its license (or None)."""
    if not application.has_cpt:
        return ComplianceStatus(Position.NOT_REQUIRED, reason="No CPT content.")
    if license is not None and license.status == LicenseStatus.NOT_REQUIRED:
        return ComplianceStatus(Position.NOT_REQUIRED, users=users, reason=license.not_required_reason)
    vendor_covered = license is not None and license.status == LicenseStatus.COVERED_BY_VENDOR
    if application.cpt_coverage == Coverage.VENDOR or vendor_covered:
        covered, reason = vendor_can_cover(application.vendor, rates.license_year if rates else 0)
        if covered:
            return ComplianceStatus(Position.COVERED_BY_VENDOR, users=users, reason=reason)
        return _unlicensed(application, users, license, rates, reason)
    if users is None:
        return ComplianceStatus(Position.NOT_COUNTED, reason="Count the users or apply the proxy model for this year.")
    if license is None or license.status not in IN_FORCE:
        status = license.get_status_display().lower() if license is not None else "no license recorded"
        return _unlicensed(application, users, license, rates, f"License status: {status}.")
    licensed = license.licensed_users or 0
    unit = royalty.price_per_user(application, rates, license=license) if rates else royalty.ZERO
    if licensed < users:
        shortfall = users - licensed
        return ComplianceStatus(
            Position.UNDER_LICENSED,
            users=users,
            licensed_users=licensed,
            shortfall=shortfall,
            true_up_cost=money(unit * shortfall),
            reason=f"{shortfall} more users than licensed.",
        )
    if licensed > users:
        return ComplianceStatus(
            Position.OVER_LICENSED,
            users=users,
            licensed_users=licensed,
            excess=licensed - users,
            reason=f"{licensed - users} licensed users unused.",
        )
    return ComplianceStatus(Position.COMPLIANT, users=users, licensed_users=licensed)


def _unlicensed(
    application: Application, users: int | None, license: License | None, rates: YearRates | None, reason: str
) -> ComplianceStatus:
    unit = royalty.price_per_user(application, rates, license=license) if rates else royalty.ZERO
    return ComplianceStatus(
        Position.UNLICENSED,
        users=users,
        licensed_users=None,
        shortfall=users or 0,
        true_up_cost=money(unit * (users or 0)),
        reason=reason,
    )


# The systems whose license lets an organization post CPT codes in its chargemaster or price file.
CHARGEMASTER_CATEGORIES = {ApplicationCategory.CHARGEMASTER, ApplicationCategory.BILLING_RCM}


def may_post_chargemaster(chargemaster_licenses: Iterable[License], license_year: int) -> bool:
    """Price transparency: CPT codes may be posted in the chargemaster only while its application
    holds an active license for the current year (AMA HCDO page on the FY2019 IPPS/LTCH rule)."""
    return any(lic.license_year == license_year and lic.status == LicenseStatus.ACTIVE for lic in chargemaster_licenses)


def chargemaster_posting(chargemaster_licenses: Iterable[License], license_year: int) -> tuple[bool, str]:
    """Whether CPT codes may be posted in the chargemaster or machine-readable price file, and why."""
    licenses = list(chargemaster_licenses)
    active = [lic for lic in licenses if lic.license_year == license_year and lic.status == LicenseStatus.ACTIVE]
    if active:
        names = ", ".join(sorted({lic.application.name for lic in active}))
        return True, f"Yes: {names} holds an active {license_year} license."
    return False, (
        f"No: no chargemaster or billing/revenue-cycle system holds an active {license_year} license. "
        "Post CPT codes only once one does (AMA, price transparency under the FY2019 IPPS rule)."
    )
