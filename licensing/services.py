"""Writes that matter, as actions with an explicit actor: validated, atomic, recorded in history.

Admin actions, management commands and seeds call these; nothing else writes these rules.
"""

import hashlib

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from licensing import filings, roles, workflow
from licensing.models import Contact, Filing, License, Membership


def _record(obj, *, actor, reason: str) -> None:
    """Attach who and why to the history row the next save writes."""
    obj._history_user = actor
    obj._change_reason = reason


@transaction.atomic
def license_renew(*, license: License, actor, reason: str = "") -> License:
    """Open next year's license for the same application; the old license stays as it was.

    The AMA licenses each annual release separately, so a renewal is a new license that starts
    as needed and carries over the route, distributor and licensed users as a starting point.
    """
    renewal = License(
        application=license.application,
        license_year=license.license_year + 1,
        route=license.route,
        distributor=license.distributor,
        licensed_users=license.licensed_users,
        status=workflow.COVERED_BY_VENDOR if license.status == workflow.COVERED_BY_VENDOR else workflow.NEEDED,
        renewal_of=license,
    )
    renewal.full_clean()
    _record(renewal, actor=actor, reason=reason or f"Renewal of the {license.license_year} license")
    renewal.save()
    return renewal


@transaction.atomic
def license_set_status(*, license: License, status: str, actor, reason: str, **fields) -> License:
    """Move a license along its workflow, with any fields the new status needs (e.g. agreement number)."""
    license.status = status
    for name, value in fields.items():
        setattr(license, name, value)
    license.full_clean()
    _record(license, actor=actor, reason=reason)
    license.save()
    return license


@transaction.atomic
def membership_grant(*, user, organization, role: str, actor, reason: str = "") -> Membership:
    """Give a person a role at an organization (and its affiliates), with the matching admin permissions."""
    membership = Membership.objects.filter(user=user, organization=organization).first() or Membership(
        user=user, organization=organization
    )
    if membership.pk and membership.role == role:
        membership_sync_groups(user=user)
        return membership
    membership.role = role
    membership.full_clean()
    _record(membership, actor=actor, reason=reason or f"Granted {membership.get_role_display()}")
    membership.save()
    membership_sync_groups(user=user)
    return membership


def membership_sync_groups(*, user) -> None:
    """Put a person in exactly the role groups their memberships call for, and let them into the admin."""
    wanted = {
        roles.OFFICER_GROUP if role == Membership.Role.OFFICER else roles.AUDITOR_GROUP
        for role in Membership.objects.filter(user=user).values_list("role", flat=True)
    }
    role_groups = Group.objects.filter(name__in=[roles.OFFICER_GROUP, roles.AUDITOR_GROUP])
    user.groups.remove(*[group for group in role_groups if group.name not in wanted])
    user.groups.add(*[group for group in role_groups if group.name in wanted])
    if wanted and not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])


# ---------------------------------------------------------------------------------------------
# Filings: the CPT licensing application
# ---------------------------------------------------------------------------------------------


@transaction.atomic
def filing_prepare(*, organization, license_year: int, actor, reason: str = "") -> Filing:
    """Start a draft application for a year, including every application that needs a direct license."""
    filing = Filing(organization=organization, license_year=license_year)
    contact = organization.contacts.filter(role=Contact.Role.LEGAL).first() or organization.contacts.filter(
        role=Contact.Role.PRIMARY
    ).first()
    if contact is not None:
        filing.signatory_name, filing.signatory_title = contact.name, contact.title
    filing.full_clean()
    _record(filing, actor=actor, reason=reason or f"Application for {license_year} prepared")
    filing.save()
    filing.applications.set(filings.default_applications(organization, license_year))
    return filing


def filing_pdf(filing: Filing) -> bytes:
    """The PDF to hand out: the frozen bytes once submitted, a fresh DRAFT rendering before."""
    if filing.is_frozen:
        return bytes(filing.pdf)
    from licensing import pdf

    return pdf.render_application(filings.snapshot(filing), draft=True)


@transaction.atomic
def filing_submit(*, filing: Filing, actor, reason: str = "") -> Filing:
    """Freeze the filing: store the data snapshot and the PDF bytes with their SHA-256, then mark it submitted."""
    from licensing import pdf

    filing = Filing.objects.select_for_update().get(pk=filing.pk)
    if filing.is_frozen:
        raise ValidationError(f"This application was already submitted on {filing.submitted_at:%Y-%m-%d}; start a correction instead.")
    problems = filings.submission_problems(filing)
    if problems:
        raise ValidationError(problems)
    now = timezone.now()
    filing.status = Filing.Status.SUBMITTED
    filing.submitted_at, filing.submitted_by = now, actor
    filing.snapshot = filings.snapshot(filing, generated_at=now)
    filing.pdf = pdf.render_application(filing.snapshot, draft=False)
    filing.pdf_sha256 = hashlib.sha256(filing.pdf).hexdigest()
    filing.full_clean()
    _record(filing, actor=actor, reason=reason or "Submitted to the AMA")
    filing.save()
    return filing


def filing_verify(filing: Filing) -> bool:
    """Whether the stored PDF still has the SHA-256 recorded when it was submitted."""
    return bool(filing.pdf) and hashlib.sha256(bytes(filing.pdf)).hexdigest() == filing.pdf_sha256


@transaction.atomic
def filing_record_outcome(*, filing: Filing, status: str, ama_reference: str, actor, reason: str = "") -> Filing:
    """Record the AMA's answer to a submitted filing: accepted or rejected, with its reference."""
    if filing.status != Filing.Status.SUBMITTED or status not in (Filing.Status.ACCEPTED, Filing.Status.REJECTED):
        raise ValidationError("Only a submitted application can be marked accepted or rejected.")
    filing.status, filing.ama_reference = status, ama_reference
    filing.full_clean()
    _record(filing, actor=actor, reason=reason or f"AMA {Filing.Status(status).label.lower()} the application")
    filing.save()
    return filing


@transaction.atomic
def filing_correct(*, filing: Filing, actor, reason: str = "") -> Filing:
    """Start a new draft that supersedes a submitted filing; the submitted one stays exactly as sent."""
    if not filing.is_frozen:
        raise ValidationError("A draft can be edited directly; corrections are for submitted applications.")
    if Filing.objects.filter(supersedes=filing).exists():
        raise ValidationError("A correction of this application already exists; edit that one.")
    correction = Filing(
        organization=filing.organization,
        license_year=filing.license_year,
        signatory_name=filing.signatory_name,
        signatory_title=filing.signatory_title,
        supersedes=filing,
    )
    correction.full_clean()
    _record(correction, actor=actor, reason=reason or f"Correction of {filing.document_id}")
    correction.save()
    correction.applications.set(filing.applications.all())
    return correction
