"""Which organizations a person may see and change: the one place every queryset is scoped.

A membership at an organization covers it and its affiliates (organizations nest at most
three levels, see Organization.clean), so scoping is one SQL filter with no per-row checks.
Officers may change what they see; auditors only view. Superusers see everything.
"""

from django.db import models
from django.db.models import Q

VIEW = "view"
CHANGE = "change"

# How each organization-owned model reaches its organization.
ORGANIZATION_PATHS = {
    "organization": "",
    "contact": "organization",
    "basemetrics": "organization",
    "membership": "organization",
    "application": "organization",
    "usercount": "application__organization",
    "license": "application__organization",
    "filing": "organization",
}


def _member_of(user, action: str):
    from licensing.models import Membership

    memberships = Membership.objects.filter(user_id=user.pk)
    if action == CHANGE:
        memberships = memberships.filter(role=Membership.Role.OFFICER)
    return memberships.values("organization_id")


def _covered(prefix: str, members) -> Q:
    """Organizations that are a membership's organization, its affiliate, or an affiliate's affiliate."""
    lead = f"{prefix}__" if prefix else ""
    return (
        Q(**{f"{lead}pk__in": members})
        | Q(**{f"{lead}parent__in": members})
        | Q(**{f"{lead}parent__parent__in": members})
    )


def sees_everything(user) -> bool:
    return bool(user and user.is_active and user.is_superuser)


def may_add_top_level_organization(user) -> bool:
    """Officers add affiliates of organizations they manage; only an administrator adds a new top level,
    since a top-level organization is reachable through no membership until one is granted."""
    return sees_everything(user)


def is_scoped(model) -> bool:
    return model._meta.model_name in ORGANIZATION_PATHS


def restrict(queryset: models.QuerySet, user, action: str = VIEW) -> models.QuerySet:
    """The part of `queryset` that `user` may `action`; reference data (rates, vendors) is not scoped."""
    model = queryset.model
    if not is_scoped(model):
        return queryset
    if user is None or not user.is_authenticated or not user.is_active:
        return queryset.none()
    if sees_everything(user):
        return queryset
    return queryset.filter(_covered(ORGANIZATION_PATHS[model._meta.model_name], _member_of(user, action)))


def organizations(user, action: str = VIEW) -> models.QuerySet:
    from licensing.models import Organization

    return restrict(Organization.objects.all(), user, action)


def organization_of(obj):
    """The organization an object belongs to, following ORGANIZATION_PATHS."""
    path = ORGANIZATION_PATHS[obj._meta.model_name]
    for step in path.split("__") if path else []:
        obj = getattr(obj, step)
    return obj


def can(user, obj, action: str = VIEW) -> bool:
    """Whether `user` may `action` this one object (one query)."""
    if obj is None or not is_scoped(type(obj)):
        return True
    organization = organization_of(obj)
    return organizations(user, action).filter(pk=organization.pk).exists()
