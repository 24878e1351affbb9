"""Tamper evidence: row_hash = SHA-256 over a row's canonical content and the previous row's hash of the same
object, so the versions of each record form a chain (licensing.audit.verification walks it)."""

import datetime
import functools
import hashlib
import json
from decimal import Decimal

from django.db import models
from django.utils import timezone

# How history_date is read for the hash (one instance, not one per row hashed).
_HISTORY_DATE = models.DateTimeField()


def _canonical_value(field, value):
    return None if value is None else _converter(field)(value)


@functools.cache
def _converter(field):
    """How one field's value is written for the hash, decided once per field (it is asked for every value)."""
    if isinstance(field, models.ForeignKey):
        field = field.target_field
    if isinstance(field, models.DecimalField):
        exponent = Decimal(1).scaleb(-field.decimal_places)
        return lambda value: str(Decimal(value).quantize(exponent))
    if isinstance(field, models.DateTimeField):
        # The last value and its text, as one tuple (read and replaced whole, so threads never see half of it):
        # every row of a bulk write has the same history_date.
        last: list[tuple[object, str]] = [(None, "")]

        def moment(value):
            seen, text = last[0]
            if value is seen:
                return text
            moment_ = field.to_python(value)
            text = moment_.astimezone(datetime.UTC).isoformat() if timezone.is_aware(moment_) else moment_.isoformat()
            last[0] = (value, text)
            return text

        return moment
    if isinstance(field, models.DateField):
        return lambda value: field.to_python(value).isoformat()
    if isinstance(field, (models.BooleanField, models.IntegerField, models.BigAutoField, models.AutoField)):
        return field.to_python
    return str


# Tracked fields added after the audit trail began, with the value their migration gave existing rows: that
# value is left out of the hash (any other value is covered). Add an entry with every new tracked field.
ADDED_LATER: dict[tuple[str, str], object] = {
    ("licensing.UserCount", "needs_review"): False,
    # Record versions (licensing.versions): rows written before versions existed were all version 1.
    ("licensing.Organization", "version"): 1,
    ("licensing.Application", "version"): 1,
    ("licensing.UserCount", "version"): 1,
    ("licensing.License", "version"): 1,
    ("licensing.Filing", "version"): 1,
    ("licensing.Job", "result_removed_at"): None,
    # Counts derived from rosters (issue 13): counts hashed before have no roster and nothing excluded.
    ("licensing.UserCount", "roster_id"): None,
    ("licensing.UserCount", "excluded_users"): None,
    ("licensing.DataImport", "parameters"): {},
    # Directory rosters (issue 13, reconciliation): rosters hashed before were application rosters.
    ("licensing.Roster", "is_directory"): False,
    # Plausibility acknowledgements (issue 13): counts hashed before were never acknowledged.
    ("licensing.UserCount", "plausibility_acknowledged_users"): None,
    ("licensing.UserCount", "plausibility_acknowledged_estimate"): None,
    ("licensing.UserCount", "plausibility_reason"): "",
    ("licensing.UserCount", "plausibility_acknowledged_by_id"): None,
    ("licensing.UserCount", "plausibility_acknowledged_at"): None,
    # Retention purges and rosters' source files (issue 13): rows hashed before were never purged, nor a roster's.
    ("licensing.Roster", "people_purged_at"): None,
    ("licensing.EvidenceFile", "roster_id"): None,
}
# Values that are no change of their own: the id never changes, and the version moves with every save.
NOT_CHANGES = ("id", "version")
_ABSENT = object()


def _value_plan(history_model) -> list[tuple[str, object, object]]:
    """Each tracked field of `history_model`: its attribute, its converter, its ADDED_LATER value (or _ABSENT)."""
    plan = _PLANS.get(history_model)
    if plan is None:
        label = history_model.instance_type._meta.label
        plan = [
            (field.attname, _converter(field), ADDED_LATER.get((label, field.attname), _ABSENT))
            for field in history_model.tracked_fields
        ]
        # Kept per model: the lookups it saves are most of the content's cost, for every row hashed.
        _PLANS[history_model] = plan
    return plan


_PLANS: dict[type, list[tuple[str, object, object]]] = {}


def canonical_content(history_row, m2m_ids: dict[str, list[int]]) -> dict:
    """What the hash covers: the tracked values, the m2m links, who, when, why, and the chain link."""
    values = {}
    for attname, convert, later in _value_plan(type(history_row)):
        value = getattr(history_row, attname)
        if value is not None:
            value = convert(value)
        if later is not _ABSENT and value == later:
            # A field added after rows were hashed: its default is left out, so those rows still verify.
            continue
        values[attname] = value
    content = {
        "values": values,
        "m2m": {name: sorted(ids) for name, ids in sorted(m2m_ids.items())},
        "type": history_row.history_type,
        "date": _canonical_value(_HISTORY_DATE, history_row.history_date),
        # The user id is left out: deleting an account nulls it (SET_NULL), which is no tampering.
        "user_name": history_row.history_user_name,
        "reason": history_row.history_change_reason or "",
        "organization_id": history_row.organization_id,
        "previous_hash": history_row.previous_hash,
    }
    # Only rows written by an import carry its id, so the rows hashed before imports existed still verify.
    if history_row.data_import_id is not None:
        content["data_import_id"] = history_row.data_import_id
    # A person's row adds its password marker and organizations (licensing.audit.people), when set.
    content.update(getattr(history_row, "hashed_extras", dict)())
    return content


def row_hash(history_row, m2m_ids: dict[str, list[int]]) -> str:
    return hash_of(canonical_content(history_row, m2m_ids))


def hash_of(content: dict) -> str:
    """The SHA-256 of canonical content (row_hash, for a caller that already has the content)."""
    payload = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def changed_between(previous: dict | None, current: dict) -> list[str]:
    """Names of the tracked values and m2m fields that differ from the previous row (all, for a first row)."""
    # Listing them would only clutter every entry (the id and version are skipped without copying the values).
    values = current["values"]
    if previous is None:
        return [name for name, value in values.items() if name not in NOT_CHANGES and value not in (None, "")] + [
            name for name, ids in current["m2m"].items() if ids
        ]
    before = previous["values"]
    names = [name for name, value in values.items() if name not in NOT_CHANGES and before.get(name) != value]
    names += [name for name, ids in current["m2m"].items() if previous["m2m"].get(name, []) != ids]
    return names
