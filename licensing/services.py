"""Every write, as an action with an explicit actor and reason: validated, atomic, recorded in history.

`record_save`, `record_delete` and the two bulk functions are the audited write path: the admin, commands,
the demo and the tests write tracked records only through them. The named actions below (`license_renew`,
`membership_revoke`, `filing_submit` ...) are the domain's verbs, built on that path.
"""

import hashlib
from collections.abc import Sequence
from typing import TypeVar

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from licensing import access, filings, roles
from licensing.audit import bulk
from licensing.choices import FilingStatus, LicenseStatus, MembershipRole
from licensing.models import Contact, Filing, License, Membership, Organization

# Who made a change: a person, or None for the system (migrations, scheduled jobs), shown as "system".
Actor = AbstractBaseUser | None
Record = TypeVar("Record", bound=models.Model)


def _after_write(model: type[models.Model]) -> None:
    # Memberships and organizations' places in their trees decide who sees what: read scopes anew.
    if issubclass(model, (Membership, Organization)):
        access.forget()


def _require_reason(reason: str) -> str:
    if not reason or not reason.strip():
        raise ValueError("Every recorded change needs a reason; pass reason='...'.")
    return reason.strip()


def record_save(obj: Record, *, actor: Actor, reason: str, validate: bool = True) -> Record:
    """Save `obj`, writing who and why on its history row: the one way a tracked record is saved.

    `validate=False` only where a form has just run the same model validation (admin saves).
    """
    reason = _require_reason(reason)
    with transaction.atomic():
        if validate:
            obj.full_clean()
        obj._history_user = actor  # type: ignore[attr-defined]
        obj._change_reason = reason  # type: ignore[attr-defined]
        obj.save()
    _after_write(type(obj))
    return obj


def record_delete(obj: models.Model, *, actor: Actor, reason: str) -> None:
    """Delete `obj`; its history gets a final "deleted" row naming who and why."""
    reason = _require_reason(reason)
    with transaction.atomic():
        obj._history_user = actor  # type: ignore[attr-defined]
        obj._change_reason = reason  # type: ignore[attr-defined]
        obj.delete()
    _after_write(type(obj))


def record_bulk_create(
    objs: Sequence[Record], model: type[Record], *, actor: Actor, reason: str, **options
) -> list[Record]:
    """Insert many records at once, each with one stamped history row (licensing.audit.bulk.create)."""
    created = bulk.create(objs, model, actor=actor, reason=_require_reason(reason), **options)
    _after_write(model)
    return created


def record_bulk_update(
    objs: Sequence[Record], model: type[Record], fields: list[str], *, actor: Actor, reason: str, **options
) -> list[Record]:
    """Update `fields` of many records at once, each with one stamped history row (licensing.audit.bulk.update)."""
    updated = bulk.update(objs, model, fields, actor=actor, reason=_require_reason(reason), **options)
    _after_write(model)
    return updated


# ---------------------------------------------------------------------------------------------
# Licenses
# ---------------------------------------------------------------------------------------------


@transaction.atomic
def license_renew(*, license: License, actor: Actor, reason: str = "") -> License:
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
        status=LicenseStatus.COVERED_BY_VENDOR
        if license.status == LicenseStatus.COVERED_BY_VENDOR
        else LicenseStatus.NEEDED,
        renewal_of=license,
    )
    return record_save(renewal, actor=actor, reason=reason or f"Renewal of the {license.license_year} license")


def license_set_status(*, license: License, status: str, actor: Actor, reason: str, **fields) -> License:
    """Move a license along its workflow (licensing.workflow), with any fields the new status needs.

    The admin's license pages call this whenever the status changes; the model's validation refuses a
    move the workflow does not allow and names what is allowed instead.
    """
    license.status = status
    for name, value in fields.items():
        setattr(license, name, value)
    return record_save(license, actor=actor, reason=reason)


# ---------------------------------------------------------------------------------------------
# Organizations
# ---------------------------------------------------------------------------------------------


@transaction.atomic
def organization_delete(*, organization: Organization, actor: Actor, reason: str) -> None:
    """Remove an organization entered by mistake, and what the database would delete with it, each with
    the reason: memberships are revoked (their people leave the role groups), then its own records go.

    Applications and filings protect an organization: one that has them cannot be deleted.
    """
    for membership in organization.memberships.select_related("user", "organization"):
        membership_revoke(membership=membership, actor=actor, reason=reason)
    for relation in organization._meta.related_objects:
        if relation.on_delete is models.CASCADE and relation.related_model is not Membership:
            for record in relation.related_model._default_manager.filter(**{relation.field.name: organization}):
                record_delete(record, actor=actor, reason=reason)
    record_delete(organization, actor=actor, reason=reason)


def license_save(*, license: License, changed: Sequence[str], actor: Actor, reason: str) -> License:
    """Save a license edited as a whole (an admin form): a changed status is a workflow move, the rest a plain
    audited save. `changed` names the fields the person changed; the form has validated the license."""
    if license.pk and "status" in changed:
        return license_set_status(license=license, status=license.status, actor=actor, reason=reason)
    return record_save(license, actor=actor, reason=reason, validate=False)


# ---------------------------------------------------------------------------------------------
# Memberships: who may see and change which organizations
# ---------------------------------------------------------------------------------------------


@transaction.atomic
def membership_grant(*, user, organization, role: str, actor: Actor, reason: str = "") -> Membership:
    """Give a person a role at an organization (and its affiliates), with the matching admin permissions."""
    membership = Membership.objects.filter(user=user, organization=organization).first() or Membership(
        user=user, organization=organization
    )
    if membership.pk and membership.role == role:
        membership_sync_groups(user=user)
        return membership
    membership.role = role
    record_save(membership, actor=actor, reason=reason or f"Granted {membership.get_role_display()}")
    membership_sync_groups(user=user)
    return membership


@transaction.atomic
def membership_save(*, membership: Membership, actor: Actor, reason: str) -> Membership:
    """Save a membership edited as a whole (the admin form): both the old and the new person's groups follow."""
    before = Membership.objects.filter(pk=membership.pk).values_list("user_id", flat=True).first()
    record_save(membership, actor=actor, reason=reason, validate=False)
    membership_sync_groups(user=membership.user)
    if before is not None and before != membership.user_id:
        membership_sync_groups(user=type(membership.user)._default_manager.get(pk=before))
    return membership


@transaction.atomic
def membership_revoke(*, membership: Membership, actor: Actor, reason: str = "") -> None:
    """End a person's role at an organization; their groups and admin access follow what remains."""
    user = membership.user
    label = f"{membership.get_role_display()} at {membership.organization} revoked"
    record_delete(membership, actor=actor, reason=reason or label)
    membership_sync_groups(user=user)


def membership_sync_groups(*, user) -> None:
    """Put a person in exactly the role groups their memberships call for, and let them into the admin or out.

    Staff status is taken away only from people whom nothing else lets in: no other group, no permission
    of their own, not a superuser.
    """
    wanted = {
        roles.OFFICER_GROUP if role == MembershipRole.OFFICER else roles.AUDITOR_GROUP
        for role in Membership.objects.filter(user=user).values_list("role", flat=True)
    }
    role_groups = Group.objects.filter(name__in=roles.ROLE_GROUPS)
    user.groups.remove(*[group for group in role_groups if group.name not in wanted])
    user.groups.add(*[group for group in role_groups if group.name in wanted])
    access.forget()
    if wanted and not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    elif not wanted and user.is_staff and not _let_in_otherwise(user):
        user.is_staff = False
        user.save(update_fields=["is_staff"])


def _let_in_otherwise(user) -> bool:
    return (
        user.is_superuser or user.user_permissions.exists() or user.groups.exclude(name__in=roles.ROLE_GROUPS).exists()
    )


# ---------------------------------------------------------------------------------------------
# Filings: the CPT licensing application
# ---------------------------------------------------------------------------------------------


@transaction.atomic
def filing_prepare(*, organization, license_year: int, actor: Actor, reason: str = "") -> Filing:
    """Start a draft application for a year, including every application that needs a direct license."""
    filing = Filing(organization=organization, license_year=license_year)
    contact = (
        organization.contacts.filter(role=Contact.Role.LEGAL).first()
        or organization.contacts.filter(role=Contact.Role.PRIMARY).first()
    )
    if contact is not None:
        filing.signatory_name, filing.signatory_title = contact.name, contact.title
    record_save(filing, actor=actor, reason=reason or f"Application for {license_year} prepared")
    filing.applications.set(filings.default_applications(organization, license_year))
    return filing


def filing_pdf(filing: Filing) -> bytes:
    """The PDF to hand out: the frozen bytes once submitted, a fresh DRAFT rendering before."""
    if filing.is_frozen:
        return bytes(filing.pdf)
    from licensing import pdf

    return pdf.render_application(filings.snapshot(filing), draft=True)


@transaction.atomic
def filing_submit(*, filing: Filing, actor: Actor, reason: str = "") -> Filing:
    """Freeze the filing: store the data snapshot and the PDF bytes with their SHA-256, then mark it submitted."""
    from licensing import pdf

    filing = Filing.objects.select_for_update().get(pk=filing.pk)
    if filing.is_frozen:
        raise ValidationError(
            f"This application was already submitted on {filing.submitted_at:%Y-%m-%d}; start a correction instead."
        )
    problems = filings.submission_problems(filing)
    if problems:
        raise ValidationError(problems)
    now = timezone.now()
    filing.status = FilingStatus.SUBMITTED
    filing.submitted_at, filing.submitted_by = now, actor
    filing.snapshot = filings.snapshot(filing, generated_at=now)
    filing.pdf = pdf.render_application(filing.snapshot, draft=False)
    filing.pdf_sha256 = hashlib.sha256(filing.pdf).hexdigest()
    return record_save(filing, actor=actor, reason=reason or "Submitted to the AMA")


def filing_verify(filing: Filing) -> bool:
    """Whether the stored PDF still has the SHA-256 recorded when it was submitted."""
    return bool(filing.pdf) and hashlib.sha256(bytes(filing.pdf)).hexdigest() == filing.pdf_sha256


@transaction.atomic
def filing_record_outcome(*, filing: Filing, status: str, ama_reference: str, actor: Actor, reason: str = "") -> Filing:
    """Record the AMA's answer to a submitted filing: accepted or rejected, with its reference."""
    if filing.status != FilingStatus.SUBMITTED or status not in (FilingStatus.ACCEPTED, FilingStatus.REJECTED):
        raise ValidationError("Only a submitted application can be marked accepted or rejected.")
    filing.status, filing.ama_reference = status, ama_reference
    return record_save(
        filing, actor=actor, reason=reason or f"AMA {FilingStatus(status).label.lower()} the application"
    )


@transaction.atomic
def filing_correct(*, filing: Filing, actor: Actor, reason: str = "") -> Filing:
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
    record_save(correction, actor=actor, reason=reason or f"Correction of {filing.document_id}")
    correction.applications.set(filing.applications.all())
    return correction
