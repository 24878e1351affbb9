"""Each model declares once, on itself, who owns its rows; every list of "models that have X" is derived from that.

    class UserCount(models.Model):
        ...
        ownership = OwnedBy("application__organization", label="{application} {license_year}", reason_required=True)

    class Vendor(models.Model):
        ...
        ownership = SharedReference(label="{name}", money_fields=["processing_fee_per_user"], officers_may=["add"])

`licensing.access` scopes querysets by the declared path (an undeclared model is invisible), `licensing.roles`
grants permissions from it, the audit package stamps each history row with the owner's organization and
labels trail entries with `label`, the admin asks for a reason where `reason_required`, and the tests
parametrize over `organization_models()`. `licensing.checks` refuses a model that can reach Organization
through foreign keys but declares nothing.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence
from typing import Any

from django.apps import apps
from django.db import models

ATTRIBUTE = "ownership"
# What officers may do with a model's rows when its declaration does not say otherwise.
OFFICER_DEFAULT = ("add", "change", "view")


class Ownership:
    """What every declaration says: how its rows are labelled and which decimal fields hold dollars."""

    def __init__(self, *, label: str, money_fields: Sequence[str], officers_may: Sequence[str]) -> None:
        self.label = label
        self.money_fields = tuple(money_fields)
        # Model permissions officers hold beyond view; auditors always view and nothing else.
        self.officers_may = tuple(officers_may)
        self.model: type[models.Model] | None = None

    def contribute_to_class(self, cls: type[models.Model], name: str) -> None:
        # Django hands class attributes with this method to it while building the model, as it does for fields.
        self.model = cls
        setattr(cls, name, self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self.model.__name__ if self.model else '?'}>"

    @property
    def label_fields(self) -> list[str]:
        """The field names `label` reads, in order: "{application} {license_year}" gives application, license_year."""
        return [name for _, name, _, _ in string.Formatter().parse(self.label) if name]

    @property
    def officer_actions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*self.officers_may, "view"]))


class OwnedBy(Ownership):
    """Rows that belong to one organization, reached through `path` ("" for Organization itself)."""

    def __init__(
        self,
        path: str,
        *,
        label: str,
        reason_required: bool = False,
        money_fields: Sequence[str] = (),
        officers_may: Sequence[str] = OFFICER_DEFAULT,
    ) -> None:
        super().__init__(label=label, money_fields=money_fields, officers_may=officers_may)
        self.path = path
        self.reason_required = reason_required

    def lookup(self, name: str) -> str:
        """The ORM lookup of `name` on the owning organization.

        lookup("parent") is "application__organization__parent" for a model owned through its application.
        """
        return f"{self.path}__{name}" if self.path else name


class SharedReference(Ownership):
    """Reference data every organization reads (rates, factors, vendors, data files); owned by nobody."""

    def __init__(
        self,
        *,
        label: str = "",
        money_fields: Sequence[str] = (),
        officers_may: Sequence[str] = (),
        seeded_by_migration: bool = False,
    ) -> None:
        super().__init__(label=label, money_fields=money_fields, officers_may=officers_may)
        # Rows arrive by data migrations, which write no history; each gets a first version after `migrate`.
        self.seeded_by_migration = seeded_by_migration


def declaration(model: type[models.Model] | models.Model) -> Ownership | None:
    """The model's declaration, or None when it declares nothing (and so is invisible to everyone)."""
    declared = getattr(model, ATTRIBUTE, None)
    return declared if isinstance(declared, Ownership) else None


def owned_by(model: type[models.Model] | models.Model) -> OwnedBy | None:
    declared = declaration(model)
    return declared if isinstance(declared, OwnedBy) else None


def declared_models() -> list[type[models.Model]]:
    """Every model of the project that declares its ownership, in registration order."""
    return [model for model in apps.get_models() if declaration(model) is not None]


def organization_models() -> list[type[models.Model]]:
    return [model for model in declared_models() if isinstance(declaration(model), OwnedBy)]


def reference_models() -> list[type[models.Model]]:
    return [model for model in declared_models() if isinstance(declaration(model), SharedReference)]


def is_money(model: type[models.Model], field_name: str) -> bool:
    declared = declaration(model)
    return declared is not None and field_name in declared.money_fields


def reason_required(model: type[models.Model] | models.Model) -> bool:
    declared = owned_by(model)
    return declared is not None and declared.reason_required


# ---------------------------------------------------------------------------------------------
# The organization of an object, one way for every caller (scoping, history stamping, bulk writes)
# ---------------------------------------------------------------------------------------------


def _steps(declared: OwnedBy) -> list[str]:
    return declared.path.split("__") if declared.path else []


def organization_id_of(obj: models.Model) -> int | None:
    """The id of the organization `obj` belongs to; None for reference data and undeclared models.

    Walks the declared path through the object's relations, loading (and so caching on the object) any
    not loaded yet: one query per missing step the first time, none after, and none for a page that
    loaded them already. The last step is read as a column, never loaded.
    """
    declared = owned_by(obj)
    if declared is None:
        return None
    steps = _steps(declared)
    if not steps:
        return _as_id(obj.pk)
    node: Any = obj
    for step in steps[:-1]:
        if getattr(node, _relation(type(node), step).attname) is None:
            return None
        node = getattr(node, step)
    return _as_id(getattr(node, _relation(type(node), steps[-1]).attname))


def _as_id(value: object) -> int | None:
    # Ids arrive as ints from the database, but a caller may have set "12" on an unsaved object.
    return None if value is None else int(str(value))


def _relation(model: type[models.Model], name: str) -> models.ForeignKey[Any, Any]:
    field = model._meta.get_field(name)
    if not isinstance(field, models.ForeignKey):
        raise TypeError(f"{model.__name__}.{name} is not a foreign key; ownership paths follow foreign keys.")
    return field


def organization_ids(model: type[models.Model], objs: Iterable[models.Model]) -> list[int | None]:
    """organization_id_of for many objects of one model, in one query at most."""
    objs = list(objs)
    declared = owned_by(model)
    if declared is None:
        return [None for _ in objs]
    steps = _steps(declared)
    if not steps:
        return [_as_id(obj.pk) for obj in objs]
    first = _relation(model, steps[0])
    if len(steps) == 1:
        return [_as_id(getattr(obj, first.attname)) for obj in objs]
    related_ids = {getattr(obj, first.attname) for obj in objs} - {None}
    related: type[models.Model] = first.related_model  # type: ignore[assignment]
    owners = dict(related._default_manager.filter(pk__in=related_ids).values_list("pk", "__".join(steps[1:])))
    return [_as_id(owners.get(getattr(obj, first.attname))) for obj in objs]
