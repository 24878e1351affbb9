"""The organization audit trail: every change to an organization and its records, newest first, in words.

Every history row carries the organization it belongs to (licensing.audit.stamping stamps `organization_id`),
and every historical table has an index on (organization_id, history_date). A page of the trail is
one UNION ALL of one select per historical table, each filtered by that column, ordered by date and
cut to the page (PostgreSQL merges the per-table index scans, so the first page reads about a page of
rows however long the history is). One more query counts the trail. The page's rows are then loaded
whole, one query per record type on the page, and described by licensing.audit.diffs.

So a page costs a fixed number of queries: at most one per record type and per related model, never
one per row. Exports walk the same union in chunks by keyset (date, id), so memory stays constant.
"""

import datetime
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, cached_property

from django.contrib.auth import get_user_model
from django.db import connection, models
from django.db.models import OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.text import capfirst

from licensing import ownership
from licensing.audit import diffs, hashing
from licensing.audit import people as people_history
from licensing.audit.records import is_audited

# Person filter value for rows written by no one (migrations, system jobs): usernames cannot contain "(".
SYSTEM_PERSON = "(system)"
SYSTEM_LABEL = "system"
PAGE_SIZE = 100
EXPORT_CHUNK = 500


@dataclass(frozen=True)
class RecordType:
    """One kind of record on the trail: a model declared OwnedBy an organization (licensing.ownership)."""

    model: type[models.Model]
    rank: int

    @property
    def key(self) -> str:
        return self.model._meta.model_name

    # Cached: each `Model.history` access builds a new manager class (about half a millisecond).
    @cached_property
    def history_model(self):
        return self.model.history.model

    @cached_property
    def label(self) -> str:
        return capfirst(self.model._meta.verbose_name)

    @cached_property
    def declaration(self) -> ownership.OwnedBy:
        declared = ownership.owned_by(self.model)
        if declared is None:
            raise TypeError(f"{self.model.__name__} is not owned by an organization, so it has no audit trail.")
        return declared

    def rows(self, organization_id: int) -> models.QuerySet:
        """This type's history rows on the organization's trail."""
        return self.history_model.objects.filter(organization_id=organization_id)

    def label_of(self, row) -> str:
        """The record's name on the trail, from its declared label and what _load_rows annotated (no query)."""
        values = {}
        for name in self.declaration.label_fields:
            field = self.model._meta.get_field(name)
            value = getattr(row, field.attname)
            if field.is_relation:
                value = getattr(row, _label_annotation(name)) or f"{field.related_model._meta.verbose_name} #{value}"
            elif field.choices:
                value = dict(field.flatchoices).get(value, value)
            values[name] = value
        return self.declaration.label.format_map(values)


class PersonRecordType(RecordType):
    """People (accounts) on the trail of each organization a row concerns (licensing.audit.people)."""

    @cached_property
    def declaration(self) -> ownership.Ownership:  # type: ignore[override]
        return ownership.Ownership(label="{username}", money_fields=(), officers_may=())

    def rows(self, organization_id: int) -> models.QuerySet:
        return people_history.organization_rows(self.history_model, organization_id)


@cache
def record_types() -> tuple[RecordType, ...]:
    """What the trail lists, in the order the filter offers them: every organization-owned model and people, by name."""
    models_ = sorted(
        [*ownership.organization_models(), get_user_model()], key=lambda model: str(model._meta.verbose_name).lower()
    )
    return tuple(
        (PersonRecordType if model is get_user_model() else RecordType)(model, rank)
        for rank, model in enumerate(models_)
    )


def by_key(key: str) -> RecordType:
    return {record_type.key: record_type for record_type in record_types()}[key]


@dataclass(frozen=True)
class Filters:
    """What the person narrowed the trail to; empty means everything."""

    since: datetime.date | None = None
    until: datetime.date | None = None
    # A username as recorded on the rows, or SYSTEM_PERSON.
    person: str | None = None
    types: tuple[str, ...] = ()
    # "<record type>.<attname>", e.g. "license.status" or "application.vendor_id".
    field: str | None = None
    # The id of the import (licensing.models.DataImport) whose changes to list.
    data_import: int | None = None

    def field_name(self) -> str | None:
        """The field filter's model field name, as in FieldChange.field: "distributor" for "license.distributor_id"."""
        if not self.field:
            return None
        key, attname = self.field.split(".", 1)
        return by_key(key).model._meta.get_field(attname).name

    def record_types(self) -> list[RecordType]:
        chosen = [by_key(key) for key in self.types] if self.types else list(record_types())
        if self.field:
            # A field belongs to one record type; the others cannot have changed it.
            key = self.field.split(".", 1)[0]
            chosen = [record_type for record_type in chosen if record_type.key == key]
        return chosen


@dataclass(frozen=True)
class Entry:
    """One history row as the trail shows it."""

    history_id: int
    when: datetime.datetime
    person: str
    record_type: RecordType
    object_id: int
    record: str
    history_type: str
    action: str
    reason: str
    changes: list[diffs.FieldChange]
    data_import_id: int | None = None


# ---------------------------------------------------------------------------------------------
# Choices for the filters
# ---------------------------------------------------------------------------------------------


def trackable_fields(record_type: RecordType) -> list[tuple[str, str]]:
    """(name as recorded in changed_fields, label) of every field the history of this record type tracks."""
    history_model = record_type.history_model
    model = record_type.model
    names = [
        f.attname
        for f in history_model.tracked_fields
        if f.attname != model._meta.pk.attname and f.attname not in hashing.NOT_CHANGES
    ]
    names += [f.name for f in getattr(history_model, "_history_m2m_fields", [])]
    if hasattr(history_model, "marked_changes"):
        # A person's password: marked as changed, never recorded (licensing.audit.people).
        names.append(people_history.PASSWORD)
    return [(name, capfirst(model._meta.get_field(name).verbose_name)) for name in names]


def field_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """Grouped choices for the field filter: (record type label, [("license.status", "Status"), ...])."""
    return [
        (record_type.label, [(f"{record_type.key}.{name}", label) for name, label in trackable_fields(record_type)])
        for record_type in record_types()
    ]


def field_label(value: str) -> str:
    key, name = value.split(".", 1)
    return f"{by_key(key).label}: {dict(trackable_fields(by_key(key)))[name]}"


def people(organization_id: int) -> list[str]:
    """Usernames on this organization's history rows (SYSTEM_PERSON for rows without one), in one query."""
    branches = [
        record_type.rows(organization_id).order_by().values_list("history_user_name") for record_type in record_types()
    ]
    names = {name for (name,) in branches[0].union(*branches[1:])}
    return sorted((name or SYSTEM_PERSON for name in names), key=lambda name: (name == SYSTEM_PERSON, name.lower()))


# ---------------------------------------------------------------------------------------------
# Listing: one union over the historical tables
# ---------------------------------------------------------------------------------------------


def _start_of(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def _branch(record_type: RecordType, organization_id: int, filters: Filters) -> models.QuerySet:
    rows = record_type.rows(organization_id)
    if filters.since:
        rows = rows.filter(history_date__gte=_start_of(filters.since))
    if filters.until:
        rows = rows.filter(history_date__lt=_start_of(filters.until + datetime.timedelta(days=1)))
    if filters.person is not None:
        rows = rows.filter(history_user_name="" if filters.person == SYSTEM_PERSON else filters.person)
    if filters.data_import is not None:
        rows = rows.filter(data_import_id=filters.data_import)
    if filters.field:
        rows = rows.filter(changed_fields__contains=f",{filters.field.split('.', 1)[1]},")
    # Branches of a UNION may not carry their own ORDER BY (the historical models' Meta.ordering).
    return rows.order_by()


def _union(querysets: list[models.QuerySet]) -> models.QuerySet | None:
    if not querysets:
        return None
    return querysets[0].union(*querysets[1:], all=True) if len(querysets) > 1 else querysets[0]


@dataclass(frozen=True)
class Key:
    """Where a row sits in the trail's order: newest first, then the higher history id, then the record type."""

    when: datetime.datetime
    history_id: int
    rank: int

    @property
    def record_type(self) -> RecordType:
        return record_types()[self.rank]


def _after(record_type: RecordType, key: Key) -> Q:
    """Rows of this record type that come after `key` in the trail's order (keyset pagination)."""
    same_moment = Q(history_date=key.when, history_id__lte=key.history_id)
    if record_type.rank >= key.rank:
        same_moment = Q(history_date=key.when, history_id__lt=key.history_id)
    # The plain upper bound lets the database read the (organization_id, history_date) index from `key` on.
    return Q(history_date__lte=key.when) & (Q(history_date__lt=key.when) | same_moment)


def keys(
    organization_id: int, filters: Filters, *, start: int = 0, stop: int = PAGE_SIZE, after: Key | None = None
) -> list[Key]:
    """Rows `start` to `stop` of the trail (after `after`, if given), as Keys, in one query."""
    if stop <= start:
        return []
    record_types = filters.record_types()
    branches = []
    # Each table can contribute at most `stop` rows: where the database allows it (PostgreSQL), each branch
    # reads just those from its (organization_id, history_date) index instead of every row of the organization.
    cut_branches = connection.features.supports_slicing_ordering_in_compound and len(record_types) > 1
    for record_type in record_types:
        rows = _branch(record_type, organization_id, filters)
        if after is not None:
            rows = rows.filter(_after(record_type, after))
        rows = rows.values("history_date", "history_id").annotate(rank=Value(record_type.rank, models.IntegerField()))
        if cut_branches:
            rows = rows.order_by("-history_date", "-history_id")[:stop]
        branches.append(rows)
    union = _union(branches)
    if union is None:
        return []
    page = union.order_by("-history_date", "-history_id", "-rank")[start:stop]
    return [Key(row["history_date"], row["history_id"], row["rank"]) for row in page]


def count(organization_id: int, filters: Filters) -> int:
    """How many rows the trail has under these filters, in one query."""
    union = _union(
        [_branch(record_type, organization_id, filters).values("history_id") for record_type in filters.record_types()]
    )
    return union.count() if union is not None else 0


class Trail:
    """The filtered trail of one organization, countable and sliceable, for django.core.paginator.Paginator."""

    def __init__(self, organization_id: int, filters: Filters):
        self.organization_id = organization_id
        self.filters = filters

    def count(self) -> int:
        return count(self.organization_id, self.filters)

    def __getitem__(self, index):
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("The audit trail can only be read a page (a slice) at a time.")
        return keys(self.organization_id, self.filters, start=index.start or 0, stop=index.stop)


# ---------------------------------------------------------------------------------------------
# Loading and describing a page
# ---------------------------------------------------------------------------------------------


def _label_annotation(name: str) -> str:
    return f"label_{name}"


def name_field_of(model) -> str | None:
    """The column that names a related record in labels: a user's username, or a model labelled "{field}"."""
    if model is get_user_model():
        return model.USERNAME_FIELD
    declared = ownership.declaration(model)
    if declared is not None and declared.label_fields and declared.label == "{" + declared.label_fields[0] + "}":
        name = declared.label_fields[0]
        return None if model._meta.get_field(name).is_relation else name
    return None


def _name_of(model, pk_field: str, name_field: str):
    return Subquery(model._default_manager.filter(pk=OuterRef(pk_field)).order_by().values(name_field)[:1])


def _load_rows(record_type: RecordType, history_ids: list[int]) -> dict[int, models.Model]:
    """Whole history rows by id, with the related names their labels read annotated (no query per row)."""
    rows = record_type.history_model.objects.filter(history_id__in=history_ids).order_by()
    annotations = {}
    for name in record_type.declaration.label_fields:
        field = record_type.model._meta.get_field(name)
        if not field.is_relation:
            continue
        related = field.related_model
        name_field = name_field_of(related)
        if name_field is None:
            annotations[_label_annotation(name)] = Value(None, output_field=models.CharField())
            continue
        named = _name_of(related, field.attname, name_field)
        if is_audited(related):
            # A deleted record keeps the name its last history row recorded.
            last_recorded = (
                related.history.model.objects.filter(**{related._meta.pk.attname: OuterRef(field.attname)})
                .order_by("-history_id")
                .values(name_field)[:1]
            )
            named = Coalesce(named, Subquery(last_recorded))
        annotations[_label_annotation(name)] = named
    return {row.history_id: row for row in rows.annotate(**annotations)}


def entries(page_keys: list[Key], *, scope=None) -> list[Entry]:
    """The rows of `page_keys`, in that order, each with its record label and field changes in words (as the
    reader with licensing.access.Scope `scope` may read them: licensing.audit.diffs.describe)."""
    wanted = defaultdict(list)
    for key in page_keys:
        wanted[key.record_type].append(key.history_id)
    loaded = {record_type: _load_rows(record_type, ids) for record_type, ids in wanted.items()}
    described = diffs.describe([row for rows in loaded.values() for row in rows.values()], scope=scope)
    result = []
    for key in page_keys:
        record_type = key.record_type
        row = loaded[record_type].get(key.history_id)
        if row is None:
            # Only if the row vanished between the two queries, which history never does unless altered.
            continue
        result.append(
            Entry(
                history_id=row.history_id,
                when=row.history_date,
                person=row.history_user_name,
                record_type=record_type,
                object_id=getattr(row, record_type.model._meta.pk.attname),
                record=record_type.label_of(row),
                history_type=row.history_type,
                action=diffs.action_label(row),
                reason=row.history_change_reason or "",
                changes=described[(record_type.history_model, row.history_id)],
                data_import_id=row.data_import_id,
            )
        )
    return result


def all_entries(
    organization_id: int, filters: Filters, *, chunk_size: int | None = None, scope=None
) -> Iterator[Entry]:
    """Every row of the filtered trail, newest first, read `chunk_size` rows at a time (constant memory)."""
    chunk_size = chunk_size or EXPORT_CHUNK
    after = None
    while True:
        chunk = keys(organization_id, filters, stop=chunk_size, after=after)
        yield from entries(chunk, scope=scope)
        if len(chunk) < chunk_size:
            return
        after = chunk[-1]


# ---------------------------------------------------------------------------------------------
# Export lines
# ---------------------------------------------------------------------------------------------

EXPORT_HEADER = [
    "Date",
    "Person",
    "Record type",
    "Record id",
    "Record",
    "Action",
    "Field",
    "Old value",
    "New value",
    "Reason",
    "Import",
]


def export_lines(entry: Entry, *, field_name: str | None = None) -> Iterator[list]:
    """One line per field change of the entry (one line if it changed no field), unescaped; dates as datetimes.

    With `field_name` (the field filter), only that field's changes: the other fields the row changed are
    on the trail page, but an export of one field's changes lists that field alone.
    """
    common = [
        timezone.localtime(entry.when),
        entry.person or SYSTEM_LABEL,
        entry.record_type.label,
        entry.object_id,
        entry.record,
        entry.action,
    ]
    chosen = [change for change in entry.changes if field_name is None or change.field == field_name]
    if not chosen:
        if field_name is None:
            yield [*common, "", "", "", entry.reason, entry.data_import_id or ""]
        return
    for change in chosen:
        old = "" if entry.history_type == "+" else change.old
        yield [*common, change.label, old, change.new, entry.reason, entry.data_import_id or ""]
