"""The audit trail: every history row is stamped with its organization, who, what changed, and a hash chain.

Each historical model (django-simple-history) carries extra audit columns (AuditedHistory). One
function, `stamp`, fills them, whether the row comes from a save (pre_create_historical_record
signal) or from the bulk helpers here, since simple-history's own bulk path sends no signals.

Tamper evidence: row_hash = SHA-256 over the row's canonical content and the previous row's hash
of the same object (a chain per object). licensing.verification walks the chains.
"""

import datetime
import hashlib
import json
from decimal import Decimal

from django.db import models, transaction
from django.db.models.signals import m2m_changed, post_delete, pre_delete
from django.dispatch import receiver
from django.utils import timezone
from simple_history.models import HistoricalRecords
from simple_history.signals import post_create_historical_record, pre_create_historical_record

from licensing import access

# The reason on the first history row of reference data that data migrations loaded.
MIGRATION_BASELINE_REASON = "Reference data loaded by a data migration"


class AuditedHistory(models.Model):
    """Audit columns every historical model adds to what simple-history records."""

    organization_id = models.BigIntegerField(null=True, blank=True, editable=False)
    history_user_name = models.CharField(max_length=150, blank=True, editable=False)
    changed_fields = models.TextField(blank=True, editable=False, help_text="Comma-framed names: ,status,licensed_users,")
    previous_history_id = models.BigIntegerField(null=True, blank=True, editable=False)
    previous_hash = models.CharField(max_length=64, blank=True, editable=False)
    row_hash = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        abstract = True


class AuditedHistoricalRecords(HistoricalRecords):
    """HistoricalRecords with the audit columns and the index the organization audit trail reads by."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("bases", [AuditedHistory])
        super().__init__(*args, **kwargs)

    def finalize(self, sender, **kwargs):
        super().finalize(sender, **kwargs)
        if sender is self.cls:
            sender._audited_history = self

    def create_historical_record(self, instance, history_type, using=None):
        # One transaction around read-previous, stamp and insert, so the chain lock holds until the row exists.
        with transaction.atomic(using=using):
            super().create_historical_record(instance, history_type, using)

    def get_meta_options(self, model):
        options = super().get_meta_options(model)
        short = model._meta.model_name[:14]
        options["indexes"] = [
            # The audit trail pages newest first per organization; the id breaks ties on equal dates.
            models.Index(fields=["organization_id", "-history_date", "-history_id"], name=f"hist_{short}_org_date"),
            # The audit trail's person filter lists who appears in an organization's history.
            models.Index(fields=["organization_id", "history_user_name"], name=f"hist_{short}_org_user"),
        ]
        return options


# ---------------------------------------------------------------------------------------------
# Canonical content and hashing
# ---------------------------------------------------------------------------------------------


def _canonical_value(field, value):
    if value is None:
        return None
    if isinstance(field, models.ForeignKey):
        field = field.target_field
    if isinstance(field, models.DecimalField):
        return str(Decimal(value).quantize(Decimal(1).scaleb(-field.decimal_places)))
    if isinstance(field, models.DateTimeField):
        value = field.to_python(value)
        return value.astimezone(datetime.UTC).isoformat() if timezone.is_aware(value) else value.isoformat()
    if isinstance(field, models.DateField):
        return field.to_python(value).isoformat()
    if isinstance(field, (models.BooleanField, models.IntegerField, models.BigAutoField, models.AutoField)):
        return field.to_python(value)
    return str(value)


def canonical_content(history_row, m2m_ids: dict[str, list[int]]) -> dict:
    """What the hash covers: the tracked values, the m2m links, who, when, why, and the chain link."""
    values = {field.attname: _canonical_value(field, getattr(history_row, field.attname)) for field in history_row.tracked_fields}
    return {
        "values": values,
        "m2m": {name: sorted(ids) for name, ids in sorted(m2m_ids.items())},
        "type": history_row.history_type,
        "date": _canonical_value(models.DateTimeField(), history_row.history_date),
        # The user id is left out: deleting an account nulls it (SET_NULL), which is no tampering.
        "user_name": history_row.history_user_name,
        "reason": history_row.history_change_reason or "",
        "organization_id": history_row.organization_id,
        "previous_hash": history_row.previous_hash,
    }


def row_hash(history_row, m2m_ids: dict[str, list[int]]) -> str:
    payload = json.dumps(canonical_content(history_row, m2m_ids), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def m2m_history_model_of(history_model, field):
    """simple-history's model holding the m2m links recorded with each history row."""
    return HistoricalRecords.m2m_models[field]


def recorded_links(history_model, history_ids, *, fields=None) -> dict[int, dict[str, list[int]]]:
    """The m2m links recorded with each history row: {history_id: {field: [target ids]}} (one query per field).

    `fields` limits it to those m2m field names.
    """
    result = {history_id: {} for history_id in history_ids}
    for field in getattr(history_model, "_history_m2m_fields", []):
        if fields is not None and field.name not in fields:
            continue
        target = field.m2m_reverse_field_name()
        for links in result.values():
            links[field.name] = []
        rows = m2m_history_model_of(history_model, field).objects.filter(history_id__in=list(result))
        for history_id, target_id in rows.values_list("history_id", f"{target}_id").order_by("history_id", f"{target}_id"):
            result[history_id][field.name].append(target_id)
    return result


def stored_m2m_ids(history_row) -> dict[str, list[int]]:
    """The m2m links recorded with one stored history row."""
    return recorded_links(type(history_row), [history_row.history_id])[history_row.history_id]


def live_m2m_ids(instance) -> dict[str, list[int]]:
    """The m2m links of a live object now: what simple-history is about to copy into the history row."""
    result = {}
    for field in getattr(instance.history.model, "_history_m2m_fields", []) if instance.pk else []:
        result[field.name] = list(getattr(instance, field.name).values_list("pk", flat=True))
    return result


# ---------------------------------------------------------------------------------------------
# Stamping rows
# ---------------------------------------------------------------------------------------------


def organization_id_of(instance) -> int | None:
    """The organization a tracked object belongs to, for the organization audit trail."""
    name = instance._meta.model_name
    if name not in access.ORGANIZATION_PATHS:
        return None
    path = access.ORGANIZATION_PATHS[name]
    if not path:
        return instance.pk
    if path == "organization":
        return instance.organization_id
    if path == "application__organization":
        if "application" in instance._state.fields_cache:
            return instance.application.organization_id
        from licensing.models import Application

        return Application.objects.filter(pk=instance.application_id).values_list("organization_id", flat=True).first()
    raise ValueError(f"No organization path for {name}")


def changed_between(previous: dict | None, current: dict) -> list[str]:
    """Names of the tracked values and m2m fields that differ from the previous row (all, for a first row)."""
    # The id never changes and would only clutter every "created" entry.
    current = {**current, "values": {name: value for name, value in current["values"].items() if name != "id"}}
    if previous is None:
        return [name for name, value in current["values"].items() if value not in (None, "")] + [
            name for name, ids in current["m2m"].items() if ids
        ]
    names = [name for name, value in current["values"].items() if previous["values"].get(name) != value]
    names += [name for name, ids in current["m2m"].items() if previous["m2m"].get(name, []) != ids]
    return names


def _previous_row(history_model, object_id):
    pk_name = history_model.instance_type._meta.pk.attname
    return history_model.objects.filter(**{pk_name: object_id}).order_by("-history_id").first()


def stamp(history_row, *, instance, previous=None, previous_m2m=None, m2m_ids=None, organization_id=None) -> None:
    """Fill the audit columns of an unsaved history row: organization, user name, changes, chain and hash."""
    history_row.organization_id = organization_id if organization_id is not None else organization_id_of(instance)
    user = history_row.history_user
    history_row.history_user_name = user.get_username() if user is not None else ""
    current_m2m = m2m_ids if m2m_ids is not None else live_m2m_ids(instance)
    history_row.previous_history_id = previous.history_id if previous is not None else None
    history_row.previous_hash = previous.row_hash if previous is not None else ""
    content = canonical_content(history_row, current_m2m)
    earlier = None
    if previous is not None:
        earlier = canonical_content(previous, previous_m2m if previous_m2m is not None else stored_m2m_ids(previous))
    history_row.changed_fields = "," + ",".join(changed_between(earlier, content)) + "," if history_row.history_type != "-" else ""
    history_row.row_hash = row_hash(history_row, current_m2m)


@receiver(pre_create_historical_record)
def stamp_saved_row(sender, instance, history_instance, **kwargs):
    if not isinstance(history_instance, AuditedHistory):
        return
    if history_instance.history_type != "-":
        # Serialise appends to this object's chain (a concurrent save waits until this one commits), and
        # record what the database holds: an m2m change may come through an instance loaded before a save.
        attnames = [field.attname for field in history_instance.tracked_fields]
        stored = type(instance)._default_manager.select_for_update().filter(pk=instance.pk).values(*attnames).first()
        for name, value in (stored or {}).items():
            setattr(history_instance, name, value)
    previous = _previous_row(sender, instance.pk)
    stamp(history_instance, instance=instance, previous=previous)


def record_type(history_model) -> str:
    return history_model.instance_type._meta.label_lower


def move_heads(rows) -> None:
    """Point each record's chain head at its newest row (one upsert for the whole batch)."""
    from licensing.models import ChainHead

    heads = {}
    for row in rows:
        key = (record_type(type(row)), getattr(row, row.instance_type._meta.pk.attname))
        heads[key] = ChainHead(record_type=key[0], object_id=key[1], history_id=row.history_id, row_hash=row.row_hash)
    ChainHead.objects.bulk_create(
        list(heads.values()), batch_size=1000, update_conflicts=True,
        unique_fields=["record_type", "object_id"], update_fields=["history_id", "row_hash"],
    )


@receiver(post_create_historical_record)
def move_saved_head(sender, history_instance, **kwargs):
    if isinstance(history_instance, AuditedHistory):
        move_heads([history_instance])


# ---------------------------------------------------------------------------------------------
# Bulk writes with history (simple-history's bulk helpers skip the signal, so they skip the stamp)
# ---------------------------------------------------------------------------------------------


def _history_row(history_model, obj, *, history_type, actor, reason, when):
    row = history_model(
        history_date=when,
        history_user=actor,
        history_change_reason=reason,
        history_type=history_type,
        **{field.attname: getattr(obj, field.attname) for field in history_model.tracked_fields},
    )
    return row


@transaction.atomic
def bulk_create(objs, model, *, actor, reason: str, batch_size: int = 1000, m2m: dict | None = None, organization_ids=None):
    """Insert `objs` and one stamped history row each; `m2m` maps a field name to each object's id list.

    `organization_ids` (one per object) saves a lookup when the caller knows them.
    """
    objs = model.objects.bulk_create(objs, batch_size=batch_size)
    history_model = model.history.model
    links = [{} for _ in objs]
    for name, id_lists in (m2m or {}).items():
        field = model._meta.get_field(name)
        through = field.remote_field.through
        source, target = field.m2m_field_name(), field.m2m_reverse_field_name()
        per_object = [
            [through(**{f"{source}_id": obj.pk, f"{target}_id": target_id}) for target_id in ids]
            for obj, ids in zip(objs, id_lists, strict=True)
        ]
        through.objects.bulk_create([link for group in per_object for link in group], batch_size=batch_size)
        for index, group in enumerate(per_object):
            links[index][name] = group
    if organization_ids is None:
        organization_ids = _organization_ids(model, objs)
    when = timezone.now()
    rows = []
    for index, obj in enumerate(objs):
        row = _history_row(history_model, obj, history_type="+", actor=actor, reason=reason, when=when)
        stamp(row, instance=obj, m2m_ids=link_ids(history_model, links[index]), organization_id=organization_ids[index])
        rows.append(row)
    rows = history_model.objects.bulk_create(rows, batch_size=batch_size)
    _bulk_m2m_history(history_model, rows, links, batch_size)
    move_heads(rows)
    return objs


def link_ids(history_model, links: dict) -> dict[str, list[int]]:
    result = {}
    for field in getattr(history_model, "_history_m2m_fields", []):
        target = field.m2m_reverse_field_name()
        result[field.name] = [getattr(link, f"{target}_id") for link in links.get(field.name, [])]
    return result


def _organization_ids(model, objs) -> list:
    path = access.ORGANIZATION_PATHS.get(model._meta.model_name)
    if path == "application__organization":
        from licensing.models import Application

        ids = {obj.application_id for obj in objs}
        owners = dict(Application.objects.filter(pk__in=ids).values_list("pk", "organization_id"))
        return [owners.get(obj.application_id) for obj in objs]
    return [organization_id_of(obj) for obj in objs]


def _bulk_m2m_history(history_model, rows, links_per_row, batch_size):
    """Copy each row's link rows into simple-history's m2m history table, as its own save path does."""
    for field in getattr(history_model, "_history_m2m_fields", []):
        m2m_history_model = m2m_history_model_of(history_model, field)
        names = [f.attname for f in field.remote_field.through._meta.concrete_fields]
        copies = [
            m2m_history_model(history=row, **{name: getattr(link, name) for name in names})
            for row, links in zip(rows, links_per_row, strict=True)
            for link in links.get(field.name, [])
        ]
        m2m_history_model.objects.bulk_create(copies, batch_size=batch_size)


def live_links(model, objs) -> list[dict]:
    """Each object's current link rows per tracked m2m field (one query per field)."""
    result = [{} for _ in objs]
    position = {obj.pk: index for index, obj in enumerate(objs)}
    for field in getattr(model.history.model, "_history_m2m_fields", []):
        through = field.remote_field.through
        source = field.m2m_field_name()
        for link in through.objects.filter(**{f"{source}_id__in": list(position)}):
            result[position[getattr(link, f"{source}_id")]].setdefault(field.name, []).append(link)
    return result


@transaction.atomic
def bulk_update(objs, model, fields: list[str], *, actor, reason: str, batch_size: int = 1000):
    """Update `fields` of `objs` and write one stamped "~" history row each, chained to the object's last row."""
    objs = list(objs)
    ids = [obj.pk for obj in objs]
    # Lock the rows so no concurrent save appends to these chains between reading and writing.
    list(model._default_manager.select_for_update().filter(pk__in=ids).values_list("pk", flat=True))
    model._default_manager.bulk_update(objs, fields, batch_size=batch_size)
    # History records what the database now holds, including fields the caller's copies had stale.
    fresh = model._default_manager.in_bulk(ids)
    objs = [fresh[obj.pk] for obj in objs]
    history_model = model.history.model
    pk_name = model._meta.pk.attname
    latest = {}
    for row in history_model.objects.filter(**{f"{pk_name}__in": ids}).order_by(pk_name, "-history_id"):
        latest.setdefault(getattr(row, pk_name), row)
    links = live_links(model, objs)
    when = timezone.now()
    rows = []
    for obj, obj_links in zip(objs, links, strict=True):
        row = _history_row(history_model, obj, history_type="~", actor=actor, reason=reason, when=when)
        stamp(row, instance=obj, previous=latest.get(obj.pk), m2m_ids=link_ids(history_model, obj_links))
        rows.append(row)
    rows = history_model.objects.bulk_create(rows, batch_size=batch_size)
    _bulk_m2m_history(history_model, rows, links, batch_size)
    move_heads(rows)
    return objs


def record_missing(model, *, reason: str) -> int:
    """Write a first history row for objects that have none (reference data loaded by migrations)."""
    history_model = model.history.model
    pk_name = model._meta.pk.attname
    recorded = history_model.objects.values(pk_name)
    missing = list(model._default_manager.exclude(pk__in=recorded))
    if not missing:
        return 0
    links = live_links(model, missing)
    organization_ids = _organization_ids(model, missing)
    when = timezone.now()
    rows = []
    for obj, obj_links, organization_id in zip(missing, links, organization_ids, strict=True):
        row = _history_row(history_model, obj, history_type="+", actor=None, reason=reason, when=when)
        stamp(row, instance=obj, m2m_ids=link_ids(history_model, obj_links), organization_id=organization_id)
        rows.append(row)
    rows = history_model.objects.bulk_create(rows)
    _bulk_m2m_history(history_model, rows, links, 1000)
    move_heads(rows)
    return len(rows)


# ---------------------------------------------------------------------------------------------
# Link changes that simple-history does not see on the tracked side
# ---------------------------------------------------------------------------------------------


def _tracked_m2m_fields():
    """(model, m2m field) for every tracked many-to-many field of an audited model."""
    from django.apps import apps

    for model in apps.get_app_config("licensing").get_models():
        for field in getattr(getattr(model, "_audited_history", None) and model.history.model, "_history_m2m_fields", []):
            yield model, field


def _record_link_change(model, object_ids, *, reason: str) -> None:
    records = model._audited_history
    for obj in model._default_manager.filter(pk__in=object_ids):
        obj._change_reason = reason
        records.create_historical_record(obj, "~")


@receiver(m2m_changed)
def record_reverse_link_change(sender, instance, action, reverse, model, pk_set, **kwargs):
    """A change made from the other side (data_file.applications.add(app)) is recorded on each application."""
    if not reverse:
        return
    for tracked_model, field in _tracked_m2m_fields():
        if field.remote_field.through is not sender:
            continue
        if action == "pre_clear":
            source = field.m2m_field_name()
            target = field.m2m_reverse_field_name()
            instance._cleared_link_owners = list(sender.objects.filter(**{f"{target}_id": instance.pk}).values_list(f"{source}_id", flat=True))
        elif action in ("post_add", "post_remove"):
            _record_link_change(tracked_model, pk_set or [], reason=f"{field.verbose_name} changed from {instance}")
        elif action == "post_clear":
            _record_link_change(tracked_model, getattr(instance, "_cleared_link_owners", []), reason=f"{field.verbose_name} cleared from {instance}")


@receiver(pre_delete)
def remember_linked_owners(sender, instance, **kwargs):
    """Deleting a linked record removes its link rows by cascade, without m2m signals: note who loses a link."""
    owners = []
    for tracked_model, field in _tracked_m2m_fields():
        if field.related_model is sender:
            through = field.remote_field.through
            ids = list(through.objects.filter(**{f"{field.m2m_reverse_field_name()}_id": instance.pk}).values_list(
                f"{field.m2m_field_name()}_id", flat=True))
            if ids:
                owners.append((tracked_model, ids))
    if owners:
        instance._link_owners_before_delete = owners


@receiver(post_delete)
def record_cascaded_link_removal(sender, instance, **kwargs):
    for tracked_model, ids in getattr(instance, "_link_owners_before_delete", []):
        _record_link_change(tracked_model, ids, reason=f"Link to deleted {sender._meta.verbose_name} {instance} removed")
