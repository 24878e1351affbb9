"""Which organizations a person may see and change: the one place every queryset is scoped.

Each model declares how it reaches its organization (licensing.ownership); `restrict` turns that into
one SQL filter, and a model that declares nothing gives an empty queryset (fail closed). A membership
at an organization covers it and its affiliates (organizations nest at most three levels, see
Organization.clean), so scoping needs no per-row checks. Officers may change what they see; auditors
only view. Superusers see everything.

`scope(user)` answers "may this person see or change organization X" from two queries, remembered for
the rest of the request (ScopeMiddleware), so a page asks once, not per row; inside a request `restrict`
filters by those remembered ids too (one parameter, the `among` lookup), which lets the database use the
organization index. Outside a request (commands,
jobs) nothing is remembered unless the caller opens `remembered_scopes()`, so a long job never works from
a stale scope; a write that changes who sees what (a membership, an organization's parent) forgets it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import models
from django.db.models import Q

from licensing import ownership
from licensing.choices import MembershipRole

# The person a request carries: signed in, anonymous, or none at all (a command).
Person = AbstractBaseUser | AnonymousUser | None
M = TypeVar("M", bound=models.Model)

VIEW = "view"
CHANGE = "change"
# Scopes read during the current request, by user id (None outside remembered_scopes()).
_remembered: ContextVar[dict[int, Scope] | None] = ContextVar("licensing_remembered_scopes", default=None)


def _member_of(user: Any, action: str) -> models.QuerySet[Any, Any]:
    from licensing.models import Membership

    memberships = Membership.objects.filter(user_id=user.pk)
    if action == CHANGE:
        memberships = memberships.filter(role=MembershipRole.OFFICER)
    return memberships.values("organization_id")


def _covered(declared: ownership.OwnedBy, members: models.QuerySet[Any, Any]) -> Q:
    """Organizations that are a membership's organization, its affiliate, or an affiliate's affiliate."""
    return (
        Q(**{declared.lookup("pk") + "__in": members})
        | Q(**{declared.lookup("parent") + "__in": members})
        | Q(**{declared.lookup("parent__parent") + "__in": members})
    )


def is_active(user: Person) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def sees_everything(user: Person) -> bool:
    return is_active(user) and bool(getattr(user, "is_superuser", False))


def may_place_at_top_level(user: Person, organization: Any) -> bool:
    """Whether `user` may save `organization` with no parent.

    Officers add affiliates of organizations they manage; only an administrator creates a new top level or
    lifts an affiliate to one, since a top-level organization is reachable through no membership until one
    is granted. An officer's own top-level organization stays where it is.
    """
    already_top_level = organization.pk is not None and organization.parent_id is None
    return already_top_level or sees_everything(user)


def is_scoped(model: type[models.Model]) -> bool:
    """Whether rows of `model` belong to organizations (and so are filtered per person)."""
    return ownership.owned_by(model) is not None


def restrict(queryset: models.QuerySet[M], user: Person, action: str = VIEW) -> models.QuerySet[M]:
    """The part of `queryset` that `user` may `action`.

    Reference data is shared: every signed-in person reads it. A model that declares no ownership
    gives nothing to anyone, superusers included, so a forgotten declaration shows as an empty page.
    """
    declared = ownership.declaration(queryset.model)
    if declared is None or not is_active(user):
        return queryset.none()
    if isinstance(declared, ownership.SharedReference) or sees_everything(user):
        return queryset
    if not isinstance(declared, ownership.OwnedBy):
        return queryset.none()
    known = _remembered_scope(user)
    if known is not None:
        # In a request the scope is already read: its ids, sent as one parameter, let the database use the
        # organization index instead of joining memberships into every query (a 1,000-organization dashboard
        # ran about twice as fast on PostgreSQL; docs/benchmarks.md).
        ids = sorted(known.changeable if action == CHANGE else known.viewable)
        return queryset.filter(**{declared.lookup("pk") + "__among": ids})
    return queryset.filter(_covered(declared, _member_of(user, action)))


def _remembered_scope(user: Person) -> Scope | None:
    """The person's scope when a remembered_scopes() block (a request) is open, read now if not yet."""
    if _remembered.get() is None:
        return None
    return scope(user)


@models.IntegerField.register_lookup
class Among(models.Lookup):  # type: ignore[type-arg]
    """`field__among=[ids]`: the value is one of the ids, sent as a single parameter whatever their number
    (PostgreSQL `= ANY(array)`, SQLite `IN (SELECT value FROM json_each(...))`), so a long list neither
    lengthens the statement nor meets SQLite's limit on parameters."""

    lookup_name = "among"
    prepare_rhs = False

    def get_prep_lookup(self) -> Any:
        return [int(value) for value in self.rhs]

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        ids = list(self.rhs)
        # `lhs` is the column Django compiled; the ids are parameters.
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", [*lhs_params, ids]
        if connection.vendor == "sqlite":
            return f"{lhs} IN (SELECT value FROM json_each(%s))", [*lhs_params, json.dumps(ids)]  # noqa: S608  # nosec B608 # compiled column; ids are a parameter
        if not ids:
            return "1 = 0", []
        return f"{lhs} IN ({', '.join(['%s'] * len(ids))})", [*lhs_params, *ids]


def organizations(user: Person, action: str = VIEW) -> models.QuerySet[Any]:
    from licensing.models import Organization

    return restrict(Organization.objects.all(), user, action)


@dataclass(frozen=True)
class Scope:
    """The organizations one person may view and change, read once per request."""

    everything: bool
    viewable: frozenset[int]
    changeable: frozenset[int]

    def allows(self, organization_id: int | None, action: str = VIEW) -> bool:
        if self.everything:
            return True
        return organization_id in (self.changeable if action == CHANGE else self.viewable)


NOBODY = Scope(everything=False, viewable=frozenset(), changeable=frozenset())


def scope(user: Person) -> Scope:
    """What `user` may see and change; read once per request (or per remembered_scopes() block)."""
    if not is_active(user):
        return NOBODY
    if sees_everything(user):
        return Scope(everything=True, viewable=frozenset(), changeable=frozenset())
    remembered = _remembered.get()
    key = int(getattr(user, "pk", 0) or 0)
    if remembered is not None and key in remembered:
        return remembered[key]
    found = _read_scope(user)
    if remembered is not None:
        remembered[key] = found
    return found


def _read_scope(user: Any) -> Scope:
    from licensing.models import Membership, Organization

    roles = dict(Membership.objects.filter(user_id=user.pk).order_by().values_list("organization_id", "role"))
    if not roles:
        return NOBODY
    ids = list(roles)
    # One branch per level, each on its own index: the three conditions OR'd across the self-join made
    # PostgreSQL read every organization on every request (50 ms at 10,000 organizations, under 1 ms so).
    levels = [Q(pk__in=ids), Q(parent__in=ids), Q(parent__parent__in=ids)]
    branches = [
        Organization.objects.filter(level).order_by().values_list("pk", "parent_id", "parent__parent_id")
        for level in levels
    ]
    viewable: set[int] = set()
    changeable: set[int] = set()
    for pk, parent, grandparent in branches[0].union(*branches[1:]):
        viewable.add(pk)
        if MembershipRole.OFFICER in {roles.get(node) for node in (pk, parent, grandparent) if node is not None}:
            changeable.add(pk)
    return Scope(everything=False, viewable=frozenset(viewable), changeable=frozenset(changeable))


@contextmanager
def remembered_scopes() -> Iterator[None]:
    """Within this block each person's scope is read once (a request, a job step, a test)."""
    token = _remembered.set({})
    try:
        yield
    finally:
        _remembered.reset(token)


def forget() -> None:
    """Drop the scopes read so far: a membership or an organization's place in a tree just changed."""
    remembered = _remembered.get()
    if remembered is not None:
        remembered.clear()


class ScopeMiddleware:
    """Remembers each person's scope for one request (settings.MIDDLEWARE)."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        with remembered_scopes():
            return self.get_response(request)


def can(user: Person, obj: models.Model | None, action: str = VIEW) -> bool:
    """Whether `user` may `action` this one object as far as organizations go (model permissions are the
    admin's to check); reference data belongs to no organization, so scoping never stands in its way.

    No query beyond the cached scope when the object's organization is at hand (one step away, or its
    relations already loaded).
    """
    if obj is None:
        return False
    declared = ownership.declaration(obj)
    if declared is None or not is_active(user):
        return False
    if isinstance(declared, ownership.SharedReference):
        return True
    return scope(user).allows(ownership.organization_id_of(obj), action)
