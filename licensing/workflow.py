"""The life of a license: which status may follow which, and what each status requires.

needed -> drafted -> submitted -> active -> expired (after December 31 of its year);
not required and covered by vendor are side states that return to needed when things change.
A new year is a new license (licensing.services.license_renew), never a status of the old one.
Pure functions: the caller passes the status stored before the change (License.clean reads it).
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.utils import timezone

from licensing.choices import LicenseRoute, LicenseStatus

if TYPE_CHECKING:
    from licensing.models import License

NEEDED = LicenseStatus.NEEDED
DRAFTED = LicenseStatus.DRAFTED
SUBMITTED = LicenseStatus.SUBMITTED
ACTIVE = LicenseStatus.ACTIVE
EXPIRED = LicenseStatus.EXPIRED
NOT_REQUIRED = LicenseStatus.NOT_REQUIRED
COVERED_BY_VENDOR = LicenseStatus.COVERED_BY_VENDOR

TRANSITIONS: dict[str, set[str]] = {
    NEEDED: {DRAFTED, SUBMITTED, NOT_REQUIRED, COVERED_BY_VENDOR},
    DRAFTED: {SUBMITTED, NEEDED, NOT_REQUIRED, COVERED_BY_VENDOR},
    SUBMITTED: {ACTIVE, DRAFTED},
    ACTIVE: {EXPIRED},
    EXPIRED: set(),
    NOT_REQUIRED: {NEEDED},
    COVERED_BY_VENDOR: {NEEDED, EXPIRED},
}


def allowed_next(status: str) -> set[str]:
    return TRANSITIONS.get(status, set())


def check_transition(license: License, previous_status: str | None, *, today: datetime.date | None = None) -> None:
    """Refuse a status change the workflow does not allow, saying what is allowed instead."""
    new = license.status
    # Checked for new rows too: an import must not record as expired a license whose year is still running.
    if new == EXPIRED and previous_status != EXPIRED and (today or timezone.localdate()) <= license.term_end:
        raise ValidationError(
            {"status": f"The license runs until {license.term_end:%Y-%m-%d}; it expires only after that."}
        )
    if previous_status is None or previous_status == new:
        return
    if new not in allowed_next(previous_status):
        choices = ", ".join(sorted(LicenseStatus(s).label.lower() for s in allowed_next(previous_status))) or "none"
        raise ValidationError(
            {
                "status": f"A license that is {LicenseStatus(previous_status).label.lower()} cannot become "
                f"{LicenseStatus(new).label.lower()}. Allowed next: {choices}."
                + (" For a new year, renew the license instead." if previous_status in (ACTIVE, EXPIRED) else "")
            }
        )


def check_license(license: License, *, previous_status: str | None = None, today: datetime.date | None = None) -> None:
    """Everything a license must satisfy before it is saved; messages name the field to fix.

    `previous_status` is the status stored before this change (None for a new license).
    """
    errors: dict[str, str] = {}
    application = license.application if license.application_id else None
    if application is not None and not application.has_cpt:
        errors["application"] = (
            f"{application.name} is recorded as having no CPT content, so it needs no CPT license. "
            "If it does use CPT, change 'how CPT is covered' on the application first."
        )
    if license.status == ACTIVE:
        if not license.agreement_number.strip():
            errors["agreement_number"] = "An active license needs the AMA agreement number from the signed agreement."
        if license.licensed_users is None:
            errors["licensed_users"] = "An active license needs the number of users it covers."
    if license.status == NOT_REQUIRED and not license.not_required_reason.strip():
        errors["not_required_reason"] = "Say why no license is required, e.g. the system was retired before January 1."
    through_someone = license.route in (LicenseRoute.DISTRIBUTOR, LicenseRoute.VENDOR)
    if through_someone and license.distributor_id is None and license.status in (ACTIVE, SUBMITTED):
        errors["distributor"] = "Choose the distributor or vendor this license comes through."
    distributor = license.distributor if license.distributor_id else None
    if (
        license.route == LicenseRoute.DISTRIBUTOR
        and distributor is not None
        and not distributor.is_authorized_distributor
    ):
        errors["distributor"] = (
            f"{license.distributor} is not recorded as an AMA-authorized distributor; only an authorized "
            "distributor can license CPT. Check the vendor's record or choose another route."
        )
    if license.starts_on and license.ends_on and license.ends_on < license.starts_on:
        errors["ends_on"] = "The license ends before it starts; correct one of the two dates."
    elif license.license_year:
        for field in ("starts_on", "ends_on"):
            day = getattr(license, field)
            if day and day.year != license.license_year:
                errors[field] = (
                    f"A CPT license covers one calendar year; this date must fall in {license.license_year}."
                )
    if errors:
        raise ValidationError(errors)
    check_transition(license, previous_status, today=today)
