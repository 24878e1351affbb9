"""Filling the audit columns of a history row, and moving the chain head to it.

One function, `stamp`, fills them, whether the row comes from a save (licensing.audit.signals) or from
the audited bulk helpers (licensing.audit.bulk), since simple-history's own bulk path sends no signals.
"""

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import IntegrityError, connections, transaction

from licensing import ownership
from licensing.audit import hashing, links
from licensing.audit.records import record_type

# The import whose writes are being recorded: its id goes on every history row written meanwhile.
_data_import: ContextVar[int | None] = ContextVar("licensing_data_import", default=None)


@contextmanager
def stamping_import(data_import_id: int) -> Iterator[None]:
    """Stamp `data_import_id` on every history row written inside the block, by saves and bulk writes alike."""
    token = _data_import.set(data_import_id)
    try:
        yield
    finally:
        _data_import.reset(token)


def previous_row(history_model, object_id):
    pk_name = history_model.instance_type._meta.pk.attname
    return history_model.objects.filter(**{pk_name: object_id}).order_by("-history_id").first()


@functools.cache
def _tracks_an_import(history_model) -> bool:
    """A record with a `data_import` field of its own (a roster): that field fills the column of the same name, so
    stamping must not overwrite it, or a later save outside an import no longer matches the live record."""
    return any(field.attname == "data_import_id" for field in history_model.tracked_fields)


def stamp(history_row, *, instance, previous=None, previous_m2m=None, m2m_ids=None, organization_id=None) -> None:
    """Fill the audit columns of an unsaved history row: organization, user name, changes, chain and hash."""
    history_row.organization_id = (
        organization_id if organization_id is not None else ownership.organization_id_of(instance)
    )
    if not _tracks_an_import(type(history_row)):
        history_row.data_import_id = _data_import.get()
    user = history_row.history_user
    history_row.history_user_name = user.get_username() if user is not None else ""
    if hasattr(history_row, "fill_extras"):
        # A person's row: the password marker and the organizations it concerns (licensing.audit.people).
        history_row.fill_extras(instance)
    current_m2m = m2m_ids if m2m_ids is not None else links.live_m2m_ids(instance)
    history_row.previous_history_id = previous.history_id if previous is not None else None
    history_row.previous_hash = previous.row_hash if previous is not None else ""
    content = hashing.canonical_content(history_row, current_m2m)
    earlier = None
    if previous is not None:
        earlier_m2m = previous_m2m if previous_m2m is not None else links.stored_m2m_ids(previous)
        earlier = hashing.canonical_content(previous, earlier_m2m)
    changed = hashing.changed_between(earlier, content) + getattr(history_row, "marked_changes", list)()
    history_row.changed_fields = "," + ",".join(changed) + "," if history_row.history_type != "-" else ""
    # The hash covers what `content` holds (changed_fields is not part of it), so it is not built twice.
    history_row.row_hash = hashing.hash_of(content)


# Heads a statement (SQLite: four parameters each, under its limit; PostgreSQL: ten times as many, in arrays).
HEADS_PER_STATEMENT = 2000
# New records' heads go by COPY from this many: below it, the savepoint COPY needs costs more than the upsert saves.
COPY_HEADS_FROM = 500


def move_heads(rows, *, new_records: bool = False) -> None:
    """Point each record's chain head at its newest row (upsert statements of up to 2,000 rows).

    `new_records`: the records were inserted just now under fresh ids, so none has a head yet; PostgreSQL then
    receives COPY_HEADS_FROM or more heads by COPY (a third of the upsert's time), and the upsert still runs should
    one exist.
    """
    from licensing.models import ChainHead

    heads = {}
    keys_of: dict[type, tuple[str, str]] = {}
    for row in rows:
        kind = type(row)
        if kind not in keys_of:
            keys_of[kind] = (record_type(kind), kind.instance_type._meta.pk.attname)
        label, pk_name = keys_of[kind]
        key = (label, getattr(row, pk_name))
        heads[key] = (*key, row.history_id, row.row_hash)
    if not heads:
        return
    connection = connections[ChainHead.objects.db]
    quote = connection.ops.quote_name
    copy = new_records and len(heads) >= COPY_HEADS_FROM and connection.vendor == "postgresql"
    if copy and _copied_heads(connection, heads.values()):
        return
    # Plain SQL, many rows a statement: bulk_create(update_conflicts=True) compiles every value of every row in
    # Python (a tenth of a 50,000-row import's time), and a statement a row costs a round trip each (a third of a
    # 30,000-person roster import on PostgreSQL). PostgreSQL receives the rows as four arrays (a short statement
    # its driver need not parse for thousands of placeholders); SQLite as many rows of values. Both speak
    # ON CONFLICT; the keys are distinct (one head per record), as a multi-row ON CONFLICT DO UPDATE needs.
    table = quote(ChainHead._meta.db_table)
    upsert = (
        " ON CONFLICT (record_type, object_id) "
        "DO UPDATE SET history_id = excluded.history_id, row_hash = excluded.row_hash"
    )
    values = list(heads.values())
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for start in range(0, len(values), HEADS_PER_STATEMENT * 10):
                chunk = values[start : start + HEADS_PER_STATEMENT * 10]
                cursor.execute(
                    f"INSERT INTO {table} (record_type, object_id, history_id, row_hash) "  # noqa: S608  # nosec B608 # names from the model, quoted; values are parameters
                    "SELECT * FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::text[])" + upsert,
                    [list(column) for column in zip(*chunk, strict=True)],
                )
            return
        size = min(HEADS_PER_STATEMENT, connection.ops.bulk_batch_size(["head"] * 4, values))
        for start in range(0, len(values), size):
            chunk = values[start : start + size]
            cursor.execute(
                f"INSERT INTO {table} (record_type, object_id, history_id, row_hash) VALUES "  # noqa: S608  # nosec B608 # names from the model, quoted; values are parameters
                + ", ".join(["(%s, %s, %s, %s)"] * len(chunk))
                + upsert,
                [value for head in chunk for value in head],
            )


def _copied_heads(connection, heads) -> bool:
    """The heads sent with COPY, in a savepoint; False (nothing written) if one of the records had a head."""
    from licensing.models import ChainHead

    quote = connection.ops.quote_name
    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            # The table and column names come from the model, quoted by the backend; the values go as COPY data.
            with (
                connection.wrap_database_errors,
                cursor.copy(
                    f"COPY {quote(ChainHead._meta.db_table)} (record_type, object_id, history_id, row_hash) FROM STDIN"
                ) as copy,
            ):
                for head in heads:
                    copy.write_row(head)
    except IntegrityError:
        return False
    return True
