"""The receivers that stamp saved history rows and record link changes simple-history does not see.

Connected by `connect()` from LicensingConfig.ready(), each with an explicit sender: a receiver without
one would listen to every model, and any delete receiver turns off Django's fast delete for that model.
"""

from functools import partial

from django.contrib.auth import get_user_model
from django.db.models.signals import m2m_changed, post_delete, pre_delete, pre_save
from simple_history.signals import post_create_historical_record, pre_create_historical_record

from licensing.audit import links, people
from licensing.audit.records import AuditedHistory, tracked_models
from licensing.audit.stamping import move_heads, previous_row, stamp


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
    stamp(history_instance, instance=instance, previous=previous_row(sender, instance.pk))


def move_saved_head(sender, history_instance, **kwargs):
    if isinstance(history_instance, AuditedHistory):
        move_heads([history_instance])


def tracked_m2m_fields():
    """(model, m2m field) for every tracked many-to-many field of an audited model."""
    for model in tracked_models():
        for field in links.tracked_m2m_fields(model.history.model):
            yield model, field


def _record_link_change(model, object_ids, *, reason: str) -> None:
    records = model._audited_history
    for obj in model._default_manager.filter(pk__in=object_ids):
        obj._change_reason = reason
        records.create_historical_record(obj, "~")


def record_reverse_link_change(sender, instance, action, reverse, pk_set, *, owner, field, **kwargs):
    """A change made from the other side (data_file.applications.add(app)) is recorded on each application."""
    if not reverse:
        return
    if action == "pre_clear":
        source, target = field.m2m_field_name(), field.m2m_reverse_field_name()
        instance._cleared_link_owners = list(
            sender.objects.filter(**{f"{target}_id": instance.pk}).values_list(f"{source}_id", flat=True)
        )
    elif action in ("post_add", "post_remove"):
        _record_link_change(owner, pk_set or [], reason=f"{field.verbose_name} changed from {instance}")
    elif action == "post_clear":
        owners = getattr(instance, "_cleared_link_owners", [])
        _record_link_change(owner, owners, reason=f"{field.verbose_name} cleared from {instance}")


def remember_linked_owners(sender, instance, *, owner, field, **kwargs):
    """Deleting a linked record removes its link rows by cascade, without m2m signals: note who loses a link."""
    through = field.remote_field.through
    ids = list(
        through.objects.filter(**{f"{field.m2m_reverse_field_name()}_id": instance.pk}).values_list(
            f"{field.m2m_field_name()}_id", flat=True
        )
    )
    if ids:
        instance.__dict__.setdefault("_link_owners_before_delete", []).append((owner, ids))


def record_cascaded_link_removal(sender, instance, **kwargs):
    for owner, ids in instance.__dict__.pop("_link_owners_before_delete", []):
        reason = f"Link to deleted {sender._meta.verbose_name} {instance} removed"
        _record_link_change(owner, ids, reason=reason)


def replace_loaded_head(sender, instance, raw=False, **kwargs):
    """A chain head loaded from serialized data (a test database restored) replaces the one of its record.

    After a flush, `migrate`'s receivers record the role groups anew, under other ids than the saved heads.
    """
    if raw:
        sender.objects.filter(record_type=instance.record_type, object_id=instance.object_id).exclude(
            pk=instance.pk
        ).delete()


def connect() -> None:
    """Connect every receiver to exactly the senders it serves (idempotent)."""
    for model in tracked_models():
        history_model = model.history.model
        uid = model._meta.label_lower
        pre_create_historical_record.connect(stamp_saved_row, sender=history_model, dispatch_uid=f"audit-stamp-{uid}")
        post_create_historical_record.connect(move_saved_head, sender=history_model, dispatch_uid=f"audit-head-{uid}")
    # A person's row says whether the password changed, read before the save overwrites the stored hash.
    pre_save.connect(people.remember_password_change, sender=get_user_model(), dispatch_uid="audit-password-marker")
    from licensing.models import ChainHead

    pre_save.connect(replace_loaded_head, sender=ChainHead, dispatch_uid="audit-loaded-head")
    linked_targets = set()
    for owner, field in tracked_m2m_fields():
        uid = f"{owner._meta.label_lower}.{field.name}"
        m2m_changed.connect(
            partial(record_reverse_link_change, owner=owner, field=field),
            sender=field.remote_field.through,
            weak=False,
            dispatch_uid=f"audit-reverse-link-{uid}",
        )
        pre_delete.connect(
            partial(remember_linked_owners, owner=owner, field=field),
            sender=field.related_model,
            weak=False,
            dispatch_uid=f"audit-linked-owners-{uid}",
        )
        linked_targets.add(field.related_model)
    for target in linked_targets:
        post_delete.connect(
            record_cascaded_link_removal,
            sender=target,
            dispatch_uid=f"audit-cascaded-links-{target._meta.label_lower}",
        )
