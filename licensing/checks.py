"""System check: every model that can reach an organization declares how, so nothing is scoped by accident.

`manage.py check` (and so `make test`, and every runserver start) fails with licensing.E001 when a model
has a foreign-key path to Organization but no `ownership = OwnedBy(...)` or `SharedReference(...)`.
"""

from collections import deque

from django.apps import apps
from django.core import checks
from django.core.exceptions import FieldDoesNotExist
from django.db import models

from licensing import ownership
from licensing.audit.records import AuditedHistory, is_audited

# Organizations nest three levels deep and records hang at most two relations below one; deeper searches
# only find the same paths again through other tables.
MAX_PATH_LENGTH = 4


def _derived(model) -> bool:
    """Models generated from others (m2m tables, history tables), which follow their source's declaration."""
    return model._meta.auto_created or issubclass(model, AuditedHistory) or hasattr(model, "instance_type")


def path_to_organization(model) -> str | None:
    """The shortest foreign-key path from `model` to Organization ("" for Organization itself), or None."""
    organization = apps.get_model("licensing", "Organization")
    if model is organization:
        return ""
    queue = deque([(model, [])])
    seen = {model}
    while queue:
        current, steps = queue.popleft()
        if len(steps) >= MAX_PATH_LENGTH:
            continue
        for field in current._meta.concrete_fields:
            if not isinstance(field, models.ForeignKey):
                continue
            target = field.related_model
            if target is organization:
                return "__".join([*steps, field.name])
            if target not in seen:
                seen.add(target)
                queue.append((target, [*steps, field.name]))
    return None


def _resolves_to_organization(model, path: str) -> bool:
    node = model
    for step in path.split("__") if path else []:
        try:
            field = node._meta.get_field(step)
        except FieldDoesNotExist:
            return False
        if not isinstance(field, models.ForeignKey):
            return False
        node = field.related_model
    return node is apps.get_model("licensing", "Organization")


def _label_problems(model, declared) -> list[str]:
    names = {field.name for field in model._meta.get_fields()}
    return [name for name in declared.label_fields if name not in names]


def check_model(model) -> list[checks.CheckMessage]:
    label = model._meta.label
    declared = ownership.declaration(model)
    found = path_to_organization(model)
    if declared is None:
        if found is None:
            return []
        hint = (
            f'Add `ownership = OwnedBy("{found}", label="...")` to {model.__name__} (licensing.ownership), '
            "or `ownership = SharedReference(...)` if every organization may read its rows."
        )
        return [
            checks.Error(
                f"{label} reaches Organization through '{found}' but declares no ownership, "
                "so the portal would show its rows to nobody.",
                hint=hint,
                obj=model,
                id="licensing.E001",
            )
        ]
    problems = []
    if isinstance(declared, ownership.SharedReference) and found is not None:
        problems.append(
            checks.Error(
                f"{label} is declared shared reference data but reaches Organization through '{found}', "
                "so every signed-in person would read every organization's rows.",
                hint=f'Declare `ownership = OwnedBy("{found}", label="...")` instead.',
                obj=model,
                id="licensing.E005",
            )
        )
    if isinstance(declared, ownership.OwnedBy) and not _resolves_to_organization(model, declared.path):
        problems.append(
            checks.Error(
                f"{label} declares OwnedBy('{declared.path}'), which does not lead to Organization.",
                hint=f"Use the foreign-key path from {model.__name__} to Organization, "
                f"e.g. '{found or 'organization'}'.",
                obj=model,
                id="licensing.E002",
            )
        )
    missing = _label_problems(model, declared)
    if missing:
        problems.append(
            checks.Error(
                f"{label}'s ownership label names fields it does not have: {', '.join(missing)}.",
                hint="Write the label with the model's field names in braces, e.g. '{name} {license_year}'.",
                obj=model,
                id="licensing.E003",
            )
        )
    if not is_audited(model):
        problems.append(
            checks.Error(
                f"{label} declares ownership but keeps no audited history.",
                hint="Add `history = AuditedHistoricalRecords()` (licensing.audit.records) to the model.",
                obj=model,
                id="licensing.E004",
            )
        )
    return problems


@checks.register(checks.Tags.models)
def check_ownership(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    configs = app_configs or apps.get_app_configs()
    return [
        problem
        for config in configs
        for model in config.get_models()
        if not _derived(model)
        for problem in check_model(model)
    ]
