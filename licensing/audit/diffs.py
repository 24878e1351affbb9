"""History rows as an auditor reads them: which fields changed, old -> new, in words, never raw ids.

Works on a batch of history rows of any tracked models in a fixed number of queries: one for the
previous rows, one per m2m field, one per related model named in the batch.
"""

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import FieldDoesNotExist
from django.db import models

from licensing import ownership
from licensing.audit import links as link_rows

EMPTY = "(empty)"
NOT_RECORDED = "(not recorded)"
CHANGED = "set or reset"
ACTIONS = {"+": "Created", "~": "Changed", "-": "Deleted"}
# A value recorded while the record belonged to an organization outside the reader's scope.
WITHHELD = "(withheld: recorded at an organization outside your access)"


@dataclass(frozen=True)
class FieldChange:
    field: str
    label: str
    old: str
    new: str


def outside_label(model) -> str:
    """How a record outside the reader's scope is named: never by its name or its values."""
    name = str(model._meta.verbose_name)
    return f"{'an' if name[:1] in 'aeiou' else 'a'} {name} outside your access"


def withheld(row, scope) -> bool:
    """Whether this history row was recorded at an organization `scope` (licensing.access.Scope) does not cover;
    with no scope, nothing is withheld (commands, verification)."""
    return _outside(scope, getattr(row, "organization_id", None))


def _outside(scope, organization_id) -> bool:
    return scope is not None and organization_id is not None and not scope.allows(organization_id)


def action_label(row) -> str:
    return ACTIONS.get(row.history_type, row.history_type)


def changed_names(row) -> list[str]:
    return [name for name in (row.changed_fields or "").strip(",").split(",") if name]


def _field_label(model, name: str) -> str:
    field = model._meta.get_field(name)
    return str(field.verbose_name)[:1].upper() + str(field.verbose_name)[1:]


def _format(field, value, names: dict) -> str:
    if value is None or value == "":
        return EMPTY
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(field, models.ForeignKey):
        return names.get((field.related_model, value), f"(removed record #{value})")
    if isinstance(field, models.BooleanField):
        return "Yes" if value else "No"
    if isinstance(field, models.DecimalField):
        amount = Decimal(value)
        # Decimals the model declares as dollars; others (factors, base metric values) print as numbers.
        if ownership.is_money(field.model, field.name):
            return f"${amount:,.2f}"
        return f"{amount.normalize():f}"
    if isinstance(field, models.DateTimeField):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(field, models.DateField):
        return value.isoformat()
    return str(value)


def describe(rows, *, scope=None) -> dict[tuple[type, int], list[FieldChange]]:
    """FieldChanges per (history model, history_id) for every row given.

    With `scope` (the reader's licensing.access.Scope), a related record of an organization outside it is named
    by outside_label, and values recorded while the record itself was outside it are WITHHELD.
    """
    by_model = defaultdict(list)
    for row in rows:
        by_model[type(row)].append(row)
    previous_rows, links, wanted = {}, {}, defaultdict(set)
    for history_model, group in by_model.items():
        model = history_model.instance_type
        previous_ids = [row.previous_history_id for row in group if row.previous_history_id]
        for row in history_model.objects.filter(history_id__in=previous_ids):
            previous_rows[(history_model, row.history_id)] = row
        ids = [row.history_id for row in group] + previous_ids
        links[history_model] = link_rows.recorded_links(history_model, ids)
        for row in group:
            previous = previous_rows.get((history_model, row.previous_history_id))
            for name in changed_names(row):
                field = _concrete_or_none(model, name)
                if isinstance(field, models.ForeignKey):
                    for source in (row, previous):
                        if source is not None and getattr(source, field.attname) is not None:
                            wanted[field.related_model].add(getattr(source, field.attname))
        for field in link_rows.tracked_m2m_fields(history_model):
            for row_links in links[history_model].values():
                wanted[field.related_model].update(row_links.get(field.name, []))
    names = {}
    for related, ids in wanted.items():
        # Names like "Billing system (Alpha Health)" read their required parents; load them in the same query.
        parents = [f.name for f in related._meta.concrete_fields if isinstance(f, models.ForeignKey) and not f.null]
        found = list(related._default_manager.select_related(*parents).filter(pk__in=ids))
        for obj, organization_id in zip(found, ownership.organization_ids(related, found), strict=True):
            names[(related, obj.pk)] = outside_label(related) if _outside(scope, organization_id) else str(obj)
    result = {}
    for history_model, group in by_model.items():
        model = history_model.instance_type
        for row in group:
            previous = previous_rows.get((history_model, row.previous_history_id))
            changes = _row_changes(model, history_model, row, previous, links[history_model], names)
            result[(history_model, row.history_id)] = [
                FieldChange(
                    change.field,
                    change.label,
                    WITHHELD if previous is not None and withheld(previous, scope) else change.old,
                    WITHHELD if withheld(row, scope) else change.new,
                )
                for change in changes
            ]
    return result


def _concrete_or_none(model, name):
    # get_field knows attnames too ("vendor_id"), which is how changed_fields names foreign keys.
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:
        return None


def _row_changes(model, history_model, row, previous, links, names) -> list[FieldChange]:
    if row.history_type == "-":
        return []
    m2m_names = {field.name: field for field in link_rows.tracked_m2m_fields(history_model)}
    changes = []
    for name in changed_names(row):
        field = _concrete_or_none(model, name)
        if field is None:
            continue
        if not hasattr(history_model, field.attname) and name not in m2m_names:
            # Marked as changed, never recorded (a person's password: licensing.audit.people).
            changes.append(FieldChange(field.name, _field_label(model, field.name), NOT_RECORDED, CHANGED))
            continue
        if name in m2m_names:
            old = _m2m_text(field, links.get(previous.history_id, {}).get(name, []) if previous else [], names)
            new = _m2m_text(field, links.get(row.history_id, {}).get(name, []), names)
        else:
            old = _format(field, getattr(previous, field.attname), names) if previous is not None else EMPTY
            new = _format(field, getattr(row, field.attname), names)
        changes.append(FieldChange(field.name, _field_label(model, field.name), old, new))
    return changes


def _m2m_text(field, ids, names) -> str:
    if not ids:
        return EMPTY
    return ", ".join(sorted(names.get((field.related_model, pk), f"(removed record #{pk})") for pk in ids))
