"""Writes that matter, as actions with an explicit actor: validated, atomic, recorded in history.

Admin actions, management commands and seeds call these; nothing else writes these rules.
"""

from django.contrib.auth.models import Group
from django.db import transaction

from licensing import roles, workflow
from licensing.models import License, Membership


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
