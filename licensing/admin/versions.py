"""Admin forms that carry the version of the record they show, so a save over someone else's is refused.

Each change form (and each existing inline row) of a versioned model (licensing.versions) holds the version
it was opened at in a hidden field. Saving compares it with the stored version under a row lock; when
someone saved the record meanwhile, the form is shown again with what they changed (old -> new, who, when)
and nothing is written. The person's own edits stay in the form, laid over the other person's values in the
fields they did not touch, and the form now carries the new version: saving again applies their edits.
"""

from django import forms
from django.db import transaction
from django.forms.models import model_to_dict

from licensing import versions
from licensing.audit import links

VERSION_FIELD = "record_version"
MISSING = (
    "This page does not say which version of the record it was opened at (it may be an old or incomplete copy), "
    "so it could overwrite someone else's change. Nothing was saved: open the record again and redo your change."
)
KEPT = (
    "Your entries are kept below, over the other person's values where you changed nothing: check them and "
    "save again to apply them."
)


def version_input() -> forms.Field:
    # Read as text, so that a malformed value is refused in words at the top of the form (clean_version).
    return forms.CharField(widget=forms.HiddenInput, required=False)


def applies(form) -> bool:
    """Whether `form` edits a stored record of a versioned model."""
    return versions.is_versioned(form._meta.model) and form.instance.pk is not None and not form.instance._state.adding


def prepare(form) -> None:
    """Give the form its hidden version, from the record it shows (none for a new record or row)."""
    if applies(form):
        # As text, as posted: an int would count as a change of the form (has_changed).
        form.fields[VERSION_FIELD].initial = str(form.instance.version)


def clean_version(form) -> None:
    """Refuse the form when the record moved on since the version it was opened at (see the module's doc)."""
    if VERSION_FIELD not in form.fields or not applies(form):
        return
    model = form._meta.model
    stored_rows = model._default_manager.filter(pk=form.instance.pk)
    if transaction.get_connection().in_atomic_block:
        # Held until the request's transaction ends, so no save can slip in between this check and the write.
        stored_rows = stored_rows.select_for_update()
    stored = stored_rows.values_list(versions.VERSION, flat=True).first()
    if stored is None:
        return
    try:
        seen = int(form.data.get(form.add_prefix(VERSION_FIELD)) or "")
    except ValueError:
        seen = 0
    if not 1 <= seen <= stored:
        form.add_error(None, MISSING)
        return
    if seen == stored:
        form.seen_version = seen
        return
    stale = versions.Stale(
        form.instance, expected=seen, current=stored, edits=versions.edits_since(model, form.instance.pk, seen)
    )
    form.add_error(
        None,
        f"Not saved: {stale.label} was changed by someone else after you opened it. {stale.told()} "
        f"Nothing was overwritten. {KEPT}",
    )
    _lay_over_current(form, seen, stored)


def _lay_over_current(form, seen: int, stored: int) -> None:
    """Rewrite the form's data: the stored values where the person left the field as they found it, their
    own input elsewhere, and the stored version, so the next save applies exactly their edits."""
    model = form._meta.model
    history_model = model.history.model
    pk_name = model._meta.pk.attname
    then = (
        history_model.objects.filter(**{pk_name: form.instance.pk, versions.VERSION: seen})
        .order_by("-history_id")
        .first()
    )
    current = model._default_manager.get(pk=form.instance.pk)
    data = form.data.copy()
    if then is not None:
        names = [name for name in form.fields if name not in (VERSION_FIELD, "change_reason")]
        m2m = {field.name for field in model._meta.many_to_many}
        model_names = {field.name for field in model._meta.get_fields()}
        recorded = links.recorded_links(history_model, [then.history_id]).get(then.history_id, {})
        opened = model_to_dict(then.instance, fields=[name for name in names if name not in m2m])
        now = model_to_dict(current, fields=names)
        for name in names:
            if name not in model_names:
                continue
            original = recorded.get(name, []) if name in m2m else opened.get(name)
            field = form.fields[name]
            if field.has_changed(field.prepare_value(original), form[name].data):
                continue
            _set(data, form.add_prefix(name), field, now.get(name))
    data[form.add_prefix(VERSION_FIELD)] = str(stored)
    form.data = data


def _set(data, key: str, field: forms.Field, value) -> None:
    if isinstance(field.widget, forms.CheckboxInput):
        if value:
            data[key] = "on"
        else:
            data.pop(key, None)
    elif isinstance(value, (list, tuple)):
        data.setlist(key, [str(getattr(item, "pk", item)) for item in value])
    else:
        prepared = field.prepare_value(value)
        data[key] = "" if prepared is None else str(prepared)
