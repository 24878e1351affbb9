"""Many-to-many links of audited records: as each history row recorded them, and as they are now."""

from simple_history.models import HistoricalRecords


def tracked_m2m_fields(history_model) -> list:
    return list(getattr(history_model, "_history_m2m_fields", []))


def m2m_history_model_of(history_model, field):
    """simple-history's model holding the m2m links recorded with each history row."""
    return HistoricalRecords.m2m_models[field]


def recorded_links(history_model, history_ids, *, fields=None) -> dict[int, dict[str, list[int]]]:
    """The m2m links recorded with each history row: {history_id: {field: [target ids]}} (one query per field).

    `fields` limits it to those m2m field names.
    """
    result: dict[int, dict[str, list[int]]] = {history_id: {} for history_id in history_ids}
    for field in tracked_m2m_fields(history_model):
        if fields is not None and field.name not in fields:
            continue
        target = field.m2m_reverse_field_name()
        for links in result.values():
            links[field.name] = []
        rows = m2m_history_model_of(history_model, field).objects.filter(history_id__in=list(result))
        ordered = rows.values_list("history_id", f"{target}_id").order_by("history_id", f"{target}_id")
        for history_id, target_id in ordered:
            result[history_id][field.name].append(target_id)
    return result


def stored_m2m_ids(history_row) -> dict[str, list[int]]:
    """The m2m links recorded with one stored history row."""
    return recorded_links(type(history_row), [history_row.history_id])[history_row.history_id]


def live_m2m_ids(instance) -> dict[str, list[int]]:
    """The m2m links of a live object now: what simple-history is about to copy into the history row."""
    result = {}
    for field in tracked_m2m_fields(instance.history.model) if instance.pk else []:
        result[field.name] = list(getattr(instance, field.name).values_list("pk", flat=True))
    return result


def live_links(model, objs) -> list[dict]:
    """Each object's current link rows per tracked m2m field (one query per field)."""
    result: list[dict] = [{} for _ in objs]
    position = {obj.pk: index for index, obj in enumerate(objs)}
    for field in tracked_m2m_fields(model.history.model):
        through = field.remote_field.through
        source = field.m2m_field_name()
        for link in through.objects.filter(**{f"{source}_id__in": list(position)}):
            result[position[getattr(link, f"{source}_id")]].setdefault(field.name, []).append(link)
    return result


def link_ids(history_model, links: dict) -> dict[str, list[int]]:
    """Target ids per tracked m2m field, from link rows as live_links returns them."""
    result = {}
    for field in tracked_m2m_fields(history_model):
        target = field.m2m_reverse_field_name()
        result[field.name] = [getattr(link, f"{target}_id") for link in links.get(field.name, [])]
    return result
