"""Bulk writes with history: simple-history's bulk helpers send no signals, so they would skip the audit stamp.

Callers go through licensing.services.record_bulk_create / record_bulk_update, the audited write path.
"""

import datetime
import functools
import operator
from decimal import Decimal

from django.db import connections, models, transaction
from django.db.models import NOT_PROVIDED, AutoField, BigAutoField, DateField, signals
from django.db.models.base import ModelState
from django.utils import timezone

from licensing import ownership, versions
from licensing.audit import links as link_rows
from licensing.audit.stamping import move_heads, stamp


def _history_rows(history_model, objs, *, history_type, actor, reason, when) -> list:
    """One unsaved history row per object, copying its tracked values and the given audit columns."""
    given = {
        "history_date": when,
        "history_user_id": actor.pk if actor is not None else None,
        "history_change_reason": reason,
        "history_type": history_type,
    }
    columns = _history_columns(history_model)
    fixed = {name: given.get(name, default) for name, tracked, default in columns if not tracked}
    tracked_names = [name for name, tracked, _ in columns if tracked]
    getter = operator.attrgetter(*tracked_names)
    read_tracked = getter if len(tracked_names) > 1 else lambda obj: (getter(obj),)
    direct = _built_directly(history_model)
    rows = []
    for obj in objs:
        values = read_tracked(obj)
        if direct:
            # What Model.__init__ does for a fresh row without signal receivers, minus its per-field descriptors
            # (about two thirds of the cost of a history row's construction, of 260,000 in a large import).
            row = history_model.__new__(history_model)
            row._state = ModelState()
            row.__dict__.update(fixed)
            row.__dict__.update(zip(tracked_names, values, strict=True))
        else:
            copied = dict(zip(tracked_names, values, strict=True))
            row = history_model(*(copied[name] if tracked else fixed[name] for name, tracked, _ in columns))
        if actor is not None:
            row.history_user = actor  # cached, so stamping reads the user name without a query
        rows.append(row)
    return rows


def _built_directly(history_model) -> bool:
    """Whether a history row may skip Model.__init__: nothing listens to its init signals and it adds no __init__."""
    return (
        history_model.__init__ is models.Model.__init__
        and not signals.pre_init.has_listeners(history_model)
        and not signals.post_init.has_listeners(history_model)
    )


@functools.cache
def _history_columns(history_model) -> list[tuple[str, bool, object]]:
    """Each column of `history_model`: its attribute name, whether it copies the record, its default."""
    tracked = {field.attname for field in history_model.tracked_fields}
    columns = []
    for field in history_model._meta.concrete_fields:
        if field.attname not in tracked and field.has_default() and callable(field.default):
            raise TypeError(f"{history_model.__name__}.{field.name}: a callable default would be shared by rows")
        columns.append((field.attname, field.attname in tracked, field.get_default()))
    return columns


def _write_history(
    model, objs, links, organization_ids, *, history_type, actor, reason, latest=None, batch_size, new_records=False
):
    """One stamped history row per object (chained to `latest[pk]` where given), its m2m copies, its chain head."""
    history_model = model.history.model
    when = timezone.now()
    rows = _history_rows(history_model, objs, history_type=history_type, actor=actor, reason=reason, when=when)
    latest = latest or {}
    for row, obj, obj_links, organization_id in zip(rows, objs, links, organization_ids, strict=True):
        ids = link_rows.link_ids(history_model, obj_links)
        stamp(row, instance=obj, previous=latest.get(obj.pk), m2m_ids=ids, organization_id=organization_id)
    # Built here from saved records, so the checks for unsaved related objects and expressions are skipped.
    rows = _insert(history_model, rows, batch_size=batch_size, built=True)
    _m2m_history(history_model, rows, links, batch_size)
    move_heads(rows, new_records=new_records)
    return rows


@transaction.atomic
def create(objs, model, *, actor, reason: str, batch_size: int = 1000, m2m: dict | None = None, organization_ids=None):
    """Insert `objs` and one stamped history row each; `m2m` maps a field name to each object's id list.

    `organization_ids` (one per object) saves a lookup when the caller knows them.
    """
    objs = list(objs)
    # Ids the sequence gives now are new, so no chain head can exist for them (move_heads writes them faster).
    new_records = all(obj.pk is None for obj in objs)
    objs = _insert(model, objs, batch_size=batch_size)
    links: list[dict] = [{} for _ in objs]
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
        organization_ids = ownership.organization_ids(model, objs)
    _write_history(
        model,
        objs,
        links,
        organization_ids,
        history_type="+",
        actor=actor,
        reason=reason,
        batch_size=batch_size,
        new_records=new_records,
    )
    return objs


def _m2m_history(history_model, rows, links_per_row, batch_size):
    """Copy each row's link rows into simple-history's m2m history table, as its own save path does."""
    for field in link_rows.tracked_m2m_fields(history_model):
        m2m_history_model = link_rows.m2m_history_model_of(history_model, field)
        names = [f.attname for f in field.remote_field.through._meta.concrete_fields]
        copies = [
            m2m_history_model(history=row, **{name: getattr(link, name) for name in names})
            for row, links in zip(rows, links_per_row, strict=True)
            for link in links.get(field.name, [])
        ]
        m2m_history_model.objects.bulk_create(copies, batch_size=batch_size)


def _replace_links(model, objs, m2m: dict, batch_size: int) -> None:
    """Set the many-to-many links of `objs` (field name -> one id list per object) through the link tables,
    without the m2m signals: the one history row per object written next records them."""
    for name, id_lists in m2m.items():
        field = model._meta.get_field(name)
        through = field.remote_field.through
        source, target = field.m2m_field_name(), field.m2m_reverse_field_name()
        through.objects.filter(**{f"{source}_id__in": [obj.pk for obj in objs]}).delete()
        links = [
            through(**{f"{source}_id": obj.pk, f"{target}_id": target_id})
            for obj, ids in zip(objs, id_lists, strict=True)
            for target_id in ids
        ]
        through.objects.bulk_create(links, batch_size=batch_size)


@transaction.atomic
def update(objs, model, fields: list[str], *, actor, reason: str, batch_size: int = 1000, m2m: dict | None = None):
    """Update `fields` of `objs` and write one stamped "~" history row each, chained to the object's last row.

    `m2m` maps a field name to each object's new id list, as for `create`; fields it leaves out keep their links.
    """
    objs = list(objs)
    ids = [obj.pk for obj in objs]
    # Lock the rows so no concurrent save appends to these chains between reading and writing.
    locked = model._default_manager.select_for_update().filter(pk__in=ids)
    if versions.is_versioned(model):
        # Each object must still be at the version it was loaded with (versions.StaleRecord otherwise).
        stored = dict(locked.values_list("pk", versions.VERSION))
        versions.check(model, {obj.pk: (obj, obj.version) for obj in objs}, stored)
        for obj in objs:
            obj.version = stored.get(obj.pk, obj.version) + 1
        fields = [*fields, versions.VERSION] if versions.VERSION not in fields else fields
    else:
        list(locked.values_list("pk", flat=True))
    _update_rows(model, objs, fields, batch_size=batch_size)
    if m2m:
        _replace_links(model, objs, m2m, batch_size)
    # History records what the database now holds, including fields the caller's copies had stale.
    fresh = model._default_manager.in_bulk(ids)
    objs = [fresh[obj.pk] for obj in objs]
    pk_name = model._meta.pk.attname
    latest = {}
    for row in model.history.model.objects.filter(**{f"{pk_name}__in": ids}).order_by(pk_name, "-history_id"):
        latest.setdefault(getattr(row, pk_name), row)
    _write_history(
        model,
        objs,
        link_rows.live_links(model, objs),
        ownership.organization_ids(model, objs),
        history_type="~",
        actor=actor,
        reason=reason,
        latest=latest,
        batch_size=batch_size,
    )
    return objs


# Field classes whose database value is the Python value itself when that is a str, int or None (exact
# classes only: a subclass may normalise in get_prep_value, as DigitsField does).
_AS_IS_FIELDS = {
    models.CharField,
    models.TextField,
    models.SlugField,
    models.EmailField,
    models.URLField,
    models.IntegerField,
    models.BigIntegerField,
    models.SmallIntegerField,
    models.PositiveIntegerField,
    models.PositiveSmallIntegerField,
    models.PositiveBigIntegerField,
    models.ForeignKey,
}
_AS_IS_VALUES = (str, int, type(None))
# PostgreSQL also takes decimals and dates as they are (its adapt_*field_value return them unchanged).
_AS_IS_ON_POSTGRESQL = {models.DecimalField: (Decimal, type(None)), models.DateField: (datetime.date, type(None))}


def _as_is_types(field, connection) -> tuple[type, ...]:
    """The value types that `field` sends to `connection` unchanged, so preparing them can be skipped."""
    if type(field) in _AS_IS_FIELDS and (
        not field.is_relation or isinstance(field.target_field, AutoField | BigAutoField)
    ):
        return _AS_IS_VALUES
    if connection.vendor == "postgresql":
        return _AS_IS_ON_POSTGRESQL.get(type(field), ())
    return ()


def _prepare(field, value, connection, as_is: tuple[type, ...]):
    if type(value) in as_is:
        return value
    return field.get_db_prep_save(value, connection)


def _preparer(field, connection):
    """Field.get_db_prep_save for one column; for dates-and-times and booleans, once per distinct value (every
    history row of a write has the same history_date, and a flag has two values)."""
    if not isinstance(field, models.DateTimeField | models.BooleanField):
        return functools.partial(field.get_db_prep_save, connection=connection)
    prepared: dict = {}

    def prepare(value):
        key = (type(value), value)
        if key not in prepared:
            prepared[key] = field.get_db_prep_save(value, connection)
        return prepared[key]

    return prepare


def _insert(model, objs: list, *, batch_size: int, built: bool = False) -> list:
    """What QuerySet.bulk_create writes, with ids read back, as multi-row INSERT ... RETURNING statements.

    Django's insert compiler prepares each value through several layers (about 10 us a value: 5 s of a
    50,000-row import with history); here each is prepared once, the same way (Field.get_db_prep_save),
    and PostgreSQL receives the rows by COPY. `built`: history rows _history_rows made from saved records, which
    hold no unsaved related object nor expression, so those checks are skipped. Models with parent tables, preset
    ids, database defaults, expressions or fields with their own SQL placeholder, and other databases, go through
    bulk_create.
    """
    manager = model._default_manager
    connection = connections[manager.db]
    meta = model._meta
    if not objs:
        return objs
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    plain = (
        connection.vendor in ("sqlite", "postgresql")
        and not meta.parents
        and connection.features.can_return_rows_from_bulk_insert
        and isinstance(meta.pk, AutoField | BigAutoField)
        and all(obj.pk is None for obj in objs)
        and not any(hasattr(field, "get_placeholder") or field.db_default is not NOT_PROVIDED for field in fields)
    )
    if not plain:
        return manager.bulk_create(objs, batch_size=batch_size)
    stamped = [field for field in fields if isinstance(field, DateField) and (field.auto_now or field.auto_now_add)]
    read = operator.attrgetter(*[field.attname for field in fields])
    rows = []
    for obj in objs:
        if not built:
            obj._prepare_related_fields_for_save(operation_name="bulk_create")
        for field in stamped:
            field.pre_save(obj, True)
        rows.append(read(obj) if len(fields) > 1 else (read(obj),))
    if not built and any(hasattr(value, "resolve_expression") for row in rows for value in row):
        return manager.bulk_create(objs, batch_size=batch_size)
    as_is_flags = [_as_is_types(field, connection) for field in fields]
    if connection.vendor == "postgresql":
        _copy(model, objs, rows, fields, as_is_flags, connection, manager.db)
        return objs
    quote = connection.ops.quote_name
    size = max(1, min(batch_size, connection.ops.bulk_batch_size(fields, objs)))
    columns = ", ".join(quote(field.column) for field in fields)
    one_row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            # Table and column names come from the model, quoted by the backend; every value is a parameter.
            sql = (
                f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES "  # noqa: S608  # nosec B608 # see above
                + ", ".join([one_row] * len(chunk))
                + f" RETURNING {quote(meta.pk.column)}"
            )
            params = [
                _prepare(field, value, connection, as_is)
                for row in chunk
                for field, value, as_is in zip(fields, row, as_is_flags, strict=True)
            ]
            cursor.execute(sql, params)
            ids = [returned[0] for returned in cursor.fetchall()]
            for obj, pk in zip(objs[start : start + size], ids, strict=True):
                obj.pk = pk
                obj._state.adding = False
                obj._state.db = manager.db
    return objs


def _copy(model, objs, rows, fields, as_is_flags, connection, alias) -> None:
    """PostgreSQL: the rows sent with COPY, under ids taken from the table's sequence beforehand.

    COPY is several times faster than INSERT for thousands of rows (half of a 50,000-row import's time
    went into Django's INSERT compilation); the ids are reserved first because COPY returns none.
    """
    meta = model._meta
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in [meta.pk, *fields])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [quote(meta.db_table), meta.pk.column, len(objs)],
        )
        ids = [returned[0] for returned in cursor.fetchall()]
        # Table and column names come from the model, quoted by the backend; the values go as COPY data.
        # COPY bypasses Django's cursor wrapper, so its errors are turned into Django's (IntegrityError...) here.
        with (
            connection.wrap_database_errors,
            cursor.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy,
        ):
            columns_of = [
                (as_is, _preparer(field, connection)) for field, as_is in zip(fields, as_is_flags, strict=True)
            ]
            for pk, row in zip(ids, rows, strict=True):
                # Values sent as they are skip the call (a call a value was a tenth of the COPY's time).
                copy.write_row(
                    [
                        pk,
                        *(
                            value if type(value) in as_is else prepare(value)
                            for (as_is, prepare), value in zip(columns_of, row, strict=True)
                        ),
                    ]
                )
    for obj, pk in zip(objs, ids, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = alias


def _update_rows(model, objs, fields: list[str], *, batch_size: int) -> None:
    """What QuerySet.bulk_update writes, as one UPDATE per row sent with executemany.

    bulk_update builds a CASE WHEN per row and field, which costs about 0.4 ms per value in Python (22 s for
    5,000 rows of 11 fields); the values are prepared the same way (Field.get_db_prep_save). Expressions and
    fields with their own SQL placeholder (and models with parent tables) go through bulk_update itself.
    """
    if not fields:
        raise ValueError("Field names must be given to bulk_update().")
    meta = model._meta
    concrete = [meta.get_field(name) for name in fields]
    if any(not field.concrete or field.many_to_many for field in concrete):
        raise ValueError("bulk_update() can only be used with concrete fields.")
    if any(field.primary_key for field in concrete):
        raise ValueError("bulk_update() cannot be used with primary key fields.")
    for obj in objs:
        if obj.pk is None:
            raise ValueError("All bulk_update() objects must have a primary key set.")
        obj._prepare_related_fields_for_save(operation_name="bulk_update", fields=concrete)
    manager = model._default_manager
    rows = [[getattr(obj, field.attname) for field in concrete] + [obj.pk] for obj in objs]
    if (
        meta.parents
        or any(hasattr(field, "get_placeholder") for field in concrete)
        or any(hasattr(value, "resolve_expression") for row in rows for value in row)
    ):
        manager.bulk_update(objs, fields, batch_size=batch_size)
        return
    connection = connections[manager.db]
    quote = connection.ops.quote_name
    columns = [*concrete, meta.pk]
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in concrete)
    # Table and column names come from the model, quoted by the backend; every value is a parameter.
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"  # noqa: S608  # nosec B608
    with connection.cursor() as cursor:
        for start in range(0, len(rows), batch_size):
            cursor.executemany(
                sql,
                [
                    [field.get_db_prep_save(value, connection) for field, value in zip(columns, row, strict=True)]
                    for row in rows[start : start + batch_size]
                ],
            )


def record_missing(model, *, reason: str) -> int:
    """Write a first history row for objects that have none (reference data loaded by migrations)."""
    recorded = model.history.model.objects.values(model._meta.pk.attname)
    missing = list(model._default_manager.exclude(pk__in=recorded))
    if not missing:
        return 0
    rows = _write_history(
        model,
        missing,
        link_rows.live_links(model, missing),
        ownership.organization_ids(model, missing),
        history_type="+",
        actor=None,
        reason=reason,
        batch_size=1000,
    )
    return len(rows)
