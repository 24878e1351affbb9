"""What every import resource shares: natural keys, scoped lookups, plain-words errors, and the audited bulk path.

django-import-export runs the row loop (`Resource.import_data`) in bulk mode; this base class supplies:
- columns headed with the labels people read on the admin pages, matched leniently to a file's headers;
- rows found by natural key (never a database id), all existing rows of the file loaded in one query per
  thousand keys, and every other record the file names (organizations, vendors, data files) from one
  cache filled through licensing.access, so a row of another organization is refused like a missing one;
- skip_unchanged by comparing stored values, not rendered text, so re-importing an export writes nothing;
- the writes through licensing.services.record_bulk_create / record_bulk_update, which stamp history rows
  (the library's own bulk mode writes none);
- a report row per changed or refused line (licensing.imports.Report), with file line numbers;
- record versions (licensing.versions): exports carry a Version column, and a row whose record changed since
  the file was exported, or since the preview, is refused with what changed (nothing else is written).
"""

import difflib
from collections import OrderedDict
from dataclasses import dataclass, field

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import DatabaseError, IntegrityError, models
from django.db.models import NOT_PROVIDED
from django.utils.text import capfirst
from import_export import fields, resources
from import_export.instance_loaders import BaseInstanceLoader

from licensing import access, services, versions
from licensing.resources import columns

ROW = "(row)"
KEY_CHUNK = 2000
VERSION_TITLE = "Version"
CHANGED_SINCE_EXPORT = (
    "This record was changed since the file was exported (version {expected} in the file, {current} now). "
    "{told} Export again and make your change in the new file, or clear this Version cell to write the row "
    "over those changes."
)
CHANGED_SINCE_PREVIEW = (
    "This record was changed since your preview (version {expected} then, {current} now). {told} Nothing was "
    "imported: upload the file again to preview it against the record as it is now."
)
ADDED_SINCE_PREVIEW = (
    "Someone added this record since your preview, so this row would now change it instead of adding it. "
    "Nothing was imported: upload the file again to preview it against the record as it is now."
)
GONE = (
    "The file names version {expected} of this record, but no such record exists now (it was deleted, or its "
    "key changed). Clear the Version cell to add it as a new record."
)


@dataclass
class Column:
    """One column of a resource: the resource field, and what the template says about it."""

    name: str
    field: fields.Field
    required: bool = False
    help: str = ""
    example: object = ""
    m2m: bool = False

    attname: str = ""

    @property
    def title(self) -> str:
        return self.field.column_name

    def read_into(self, instance, row) -> None:
        """Set the cell's value on `instance`, as `Field.save` does (about a tenth of the row loop went to its
        generality: attribute paths, defaults); fields that use any of that go through Field.save."""
        field_ = self.field
        if "__" in field_.attribute or field_.default is not NOT_PROVIDED or not field_.saves_null_values:
            field_.save(instance, row)
            return
        setattr(instance, field_.attribute, field_.widget.clean(row[field_.column_name], row=row))


def header_key(text) -> str:
    """A header as compared: case, spacing and underscores do not matter ("license_year" = "License  Year")."""
    return " ".join(str(text or "").replace("_", " ").split()).casefold()


@dataclass
class HeaderMatch:
    columns: list[str] = field(default_factory=list)  # the resource column title of each file column, in order
    problems: list[str] = field(default_factory=list)


class NaturalKeyLoader(BaseInstanceLoader):
    """Finds each row's stored record by its natural key; every key of the file is looked up before the loop."""

    def __init__(self, resource, dataset=None):
        super().__init__(resource, dataset)
        # The key of each row of the dataset, in order (None where a key cell cannot be read), so the row loop
        # does not read the key cells again.
        read = [resource.read_key(OrderedDict(zip(dataset.headers, values, strict=False))) for values in dataset or []]
        self.keys = [key for key, _cells in read]
        # The key cells as read, which a new row's record takes without reading them a second time.
        resource.key_cells = [cells for _key, cells in read]
        keys = [key for key in self.keys if key is not None]
        self.found = resource.existing(keys) if keys else {}

    def key_of(self, row) -> tuple | None:
        number = getattr(self.resource, "_row_number", None)
        if number is not None and 0 < number <= len(self.keys):
            return self.keys[number - 1]
        return self.resource.key_of(row)

    def get_instance(self, row):
        resource = self.resource
        key = self.key_of(row)
        if key is None:
            return None
        first = resource._seen.setdefault(key, resource._line)
        if first != resource._line:
            titles = " and ".join(f"'{resource.fields[name].column_name}'" for name in resource.key)
            raise ValidationError(
                {
                    ROW: [
                        f"Line {first} has the same {titles} ({resource.label_of(row)}); each may appear once in a "
                        "file. Merge the two lines or delete one."
                    ]
                }
            )
        return self.found.get(key)


class PortalResource(resources.ModelResource):
    """Base of the portal's resources; subclasses list their columns in `build_columns` and their natural key."""

    # Resource field names that find an existing row, e.g. ("application", "license_year").
    key: tuple[str, ...] = ()
    # Shown on the import page and in the command's help.
    title = ""
    # Rate schedules and proxy factors: only administrators may import them.
    administrators_only = False
    # A file read as a whole into a new record of its own (a roster) rather than a row per record: its export
    # imports back as a new record compared with the last one, not as "unchanged rows".
    whole_file = False
    # The columns that name a row in the preview, when not just its key.
    label_columns: tuple[str, ...] = ()
    select_related: tuple[str, ...] = ()
    prefetch_related: tuple[str, ...] = ()

    class Meta:
        use_bulk = True
        # Rows written per audited bulk call: fewer calls, fewer round trips (5,000 rows are a few MB).
        batch_size = 5000
        skip_diff = True
        skip_html_diff = True
        report_skipped = False
        clean_model_instances = True
        use_transactions = True
        instance_loader_class = NaturalKeyLoader

    def __init__(self, *, actor, reason: str = "Import", line_numbers=None, progress=None, preview_versions=None):
        super().__init__()
        self.actor = actor
        self.reason = reason
        self.line_numbers = line_numbers
        self.progress = progress
        self._caches: dict[str, object] = {}
        self.columns = self.build_columns()
        self.versioned = versions.is_versioned(self._meta.model)
        if self.versioned:
            self.columns.append(self.version_column())
        # The version of each dataset row's record as this step found it (0: a new record), by row number - 1;
        # a confirmation is given its preview's, and refuses the rows whose record moved on since.
        self.versions_seen: list[int | None] = []
        self.preview_versions = preview_versions
        # Lines refused because their record moved on since the preview.
        self.changed_since_preview: list[int] = []
        self._importable: list[Column] | None = None
        self._relations: set[str] | None = None
        self.key_cells: list[dict] = []
        self._label: tuple | None = None
        self.fields = OrderedDict((column.name, column.field) for column in self.columns)
        self.by_title = {column.title: column for column in self.columns}
        self.column_of_field = {column.name: column.title for column in self.columns}
        self.entries: list[dict] = []
        self.totals = {"new": 0, "updated": 0, "unchanged": 0, "error": 0}
        self._seen: dict[tuple, int] = {}
        self._line = 0
        # Ids of the organizations whose records the file adds or changes.
        self.touched: set[int] = set()
        model = self._meta.model
        self.may_add = _has_perm(actor, model, "add")
        self.may_change = _has_perm(actor, model, "change")

    # -----------------------------------------------------------------------------------------
    # Declaring columns
    # -----------------------------------------------------------------------------------------

    def build_columns(self) -> list[Column]:
        """The resource's columns, in file order; every resource in licensing.resources.catalog lists its own."""
        raise NotImplementedError(f"{type(self).__name__} must list its columns in build_columns().")

    def column(self, name: str, *, widget=None, title: str = "", required=None, help: str = "", example="", **kw):
        """A column for model field `name`, headed by its verbose name, read by the widget its type calls for."""
        model_field = self._meta.model._meta.get_field(name)
        title = title or capfirst(str(model_field.verbose_name))
        widget = widget or self.widget_for(model_field)
        is_m2m = isinstance(model_field, models.ManyToManyField)
        if required is None:
            required = name in self.key
        text = help or str(model_field.help_text or "")
        if model_field.has_default() and "default" not in kw:
            # An empty cell takes the model's default (counted, on-premise ...), as a new form would.
            kw["default"] = model_field.default
        return Column(
            name,
            fields.Field(attribute=name, column_name=title, widget=widget, **kw),
            required=required,
            help=text,
            example=example,
            m2m=is_m2m,
            attname=getattr(model_field, "attname", name),
        )

    def path_column(self, name, path, *, title, widget, required=False, help="", example="") -> Column:
        """A column read from a path through relations ("application__organization"): exported, never written by
        the row loop (the resource reads it itself)."""
        return Column(
            name,
            fields.Field(attribute=path, column_name=title, widget=widget, readonly=True),
            required=required,
            help=help,
            example=example,
            attname=path,
        )

    def version_column(self) -> Column:
        """Exported with every row; on import, compared with the record's version, never written to it."""
        return Column(
            versions.VERSION,
            fields.Field(
                attribute=versions.VERSION, column_name=VERSION_TITLE, widget=columns.Integer(), readonly=True
            ),
            help="Filled in by an export: a row whose record was changed since is refused. Leave it empty for new "
            "records.",
            example="",
        )

    def widget_for(self, model_field):
        if model_field.choices:
            noun = str(model_field.verbose_name)
            return columns.Choice(model_field.choices, noun=noun, blank=model_field.blank)
        if isinstance(model_field, models.BooleanField):
            return columns.YesNo()
        if isinstance(model_field, models.DecimalField):
            return columns.Number()
        if isinstance(model_field, models.IntegerField):
            return columns.Integer()
        if isinstance(model_field, models.DateField):
            return columns.Date()
        return columns.Text()

    def cached(self, name: str, build):
        """A lookup table built once per import (organizations by slug and EIN, vendors by name ...)."""
        if name not in self._caches:
            self._caches[name] = build()
        return self._caches[name]

    # -----------------------------------------------------------------------------------------
    # Headers
    # -----------------------------------------------------------------------------------------

    def match_headers(self, headers) -> HeaderMatch:
        """Map a file's headers to columns; name unknown and missing columns, with the closest known one."""
        known = {}
        for column in self.columns:
            known[header_key(column.title)] = column.title
            known[header_key(column.name)] = column.title
        match = HeaderMatch()
        used = {}
        for position, header in enumerate(headers, start=1):
            title = known.get(header_key(header))
            if title is None:
                closest = difflib.get_close_matches(header_key(header), list(known), n=1, cutoff=0.6)
                hint = f" Did you mean '{known[closest[0]]}'?" if closest else ""
                shown = str(header or "").strip() or "(blank)"
                match.problems.append(
                    f"Column {position} is headed '{shown}', which is not a column of {self.title.lower()}.{hint} "
                    "Rename the heading, or delete the column. The template lists every column."
                )
            elif title in used:
                match.problems.append(f"Columns {used[title]} and {position} are both '{title}'; keep one of them.")
            else:
                used[title] = position
            match.columns.append(title or "")
        for column in self.columns:
            if column.required and column.title not in used:
                match.problems.append(
                    f"The file has no '{column.title}' column; it is needed to find each row. "
                    "Add it (the template has every column)."
                )
        return match

    # -----------------------------------------------------------------------------------------
    # The row loop's hooks (django-import-export)
    # -----------------------------------------------------------------------------------------

    def get_queryset(self):
        # The rows a file may update: an organization's records where the person may change them; shared
        # reference data as everyone reads it (whether the person may change it is the permission check).
        model = self._meta.model
        action = access.CHANGE if access.is_scoped(model) else access.VIEW
        return access.restrict(model._default_manager.all(), self.actor, action)

    def line_of(self, row_number: int) -> int:
        return self.line_numbers[row_number - 1] if self.line_numbers else row_number + 1

    def before_import_row(self, row, **kwargs):
        # The dataset's row number (1 for its first row), which NaturalKeyLoader reads the row's key by.
        self._row_number = kwargs["row_number"]
        self._line = self.line_of(kwargs["row_number"])
        self._instance = self._snapshot = None

    def key_of(self, row) -> tuple | None:
        """The natural key of a row, as stored values (ids for records); None when a key cell cannot be read."""
        return self.read_key(row)[0]

    def read_key(self, row) -> tuple[tuple | None, dict]:
        """The natural key of a row (as key_of) and the key cells as read, by resource field name."""
        values, cells = [], {}
        for name in self.key:
            column_field = self.fields[name]
            try:
                value = column_field.clean(row)
            except (ValueError, KeyError):
                return None, {}
            if value in (None, ""):
                return None, {}
            cells[name] = value
            values.append(self.stored_key_value(name, value))
        return tuple(values), cells

    def stored_key_value(self, name: str, value):
        if isinstance(value, models.Model):
            return value.pk
        if isinstance(value, str):
            return value.casefold()
        return value

    def key_of_instance(self, obj) -> tuple:
        values = []
        for name in self.key:
            attribute = self.fields[name].attribute
            model_field = self._meta.model._meta.get_field(attribute)
            value = getattr(obj, model_field.attname)
            values.append(value.casefold() if isinstance(value, str) else value)
        return tuple(values)

    def existing(self, keys: list[tuple]) -> dict[tuple, models.Model]:
        """The stored rows with these keys that the person may change, in one query per KEY_CHUNK keys."""
        found = {}
        first = self._meta.model._meta.get_field(self.fields[self.key[0]].attribute)
        lookup = first.attname if first.is_relation else first.name
        firsts = sorted({key[0] for key in keys}, key=str)
        for start in range(0, len(firsts), KEY_CHUNK):
            chunk = firsts[start : start + KEY_CHUNK]
            rows = self.get_queryset().select_related(*self.select_related)
            # Text keys match whatever their case, so they are compared here; the tables they key are small.
            rows = rows if isinstance(first, models.CharField) else rows.filter(**{f"{lookup}__in": chunk})
            for obj in rows:
                found[self.key_of_instance(obj)] = obj
            if isinstance(first, models.CharField):
                break
        self.load_links(list(found.values()))
        return found

    def load_links(self, objs) -> None:
        """The stored many-to-many links of existing rows, one query per link column, for the unchanged check."""
        for column in self.m2m_columns():
            field_ = self._meta.model._meta.get_field(column.name)
            through = field_.remote_field.through
            source, target = f"{field_.m2m_field_name()}_id", f"{field_.m2m_reverse_field_name()}_id"
            by_object: dict = {}
            ids = [obj.pk for obj in objs]
            for start in range(0, len(ids), KEY_CHUNK):
                pairs = through.objects.filter(**{f"{source}__in": ids[start : start + KEY_CHUNK]})
                for object_id, target_id in pairs.values_list(source, target):
                    by_object.setdefault(object_id, []).append(target_id)
            for obj in objs:
                obj.__dict__.setdefault("_stored_links", {})[column.name] = sorted(by_object.get(obj.pk, []))

    def after_init_instance(self, instance, new, row, **kwargs):
        self._instance = instance
        self._snapshot = None if new else self.snapshot(instance)

    def snapshot(self, instance) -> dict:
        """The stored values of every importable column, compared after the row is read to see what changed."""
        stored_links = getattr(instance, "_stored_links", {})
        return {
            column.name: sorted(stored_links.get(column.name, [])) if column.m2m else getattr(instance, column.attname)
            for column in self.importable()
        }

    def importable(self) -> list[Column]:
        # Asked several times per row; the columns are fixed when the resource is built.
        if self._importable is None:
            self._importable = [column for column in self.columns if not column.field.readonly]
        return self._importable

    def import_instance(self, instance, row, **kwargs):
        errors = {}
        instance._import_links = {}
        number = getattr(self, "_row_number", None)
        key_cells = self.key_cells[number - 1] if number is not None and 0 < number <= len(self.key_cells) else {}
        for column in self.importable():
            if column.title not in row:
                continue
            if column.name in self.key:
                if instance.pk is not None:
                    # The row was found by this key, matched ignoring case; an import never rewrites a key.
                    continue
                if column.name in key_cells:
                    setattr(instance, column.field.attribute, key_cells[column.name])
                    continue
            try:
                if column.m2m:
                    instance._import_links[column.name] = sorted(obj.pk for obj in column.field.clean(row))
                else:
                    column.read_into(instance, row)
            except ValueError as problem:
                errors.setdefault(getattr(problem, "column", "") or column.title, []).append(str(problem))
        if self.versioned:
            self.check_version(instance, row, number, errors)
        if errors:
            raise ValidationError(errors)

    def check_version(self, instance, row, number: int | None, errors: dict) -> None:
        """Refuse the row when its record is not at the version the file (an export) or the preview found."""
        current = instance.version if instance.pk is not None else 0
        if number is not None:
            self.versions_seen.extend([None] * (number - len(self.versions_seen)))
            self.versions_seen[number - 1] = current
        problem = None
        if VERSION_TITLE in row and columns.text_of(row[VERSION_TITLE]) != "":
            try:
                exported = self.fields[versions.VERSION].widget.clean(row[VERSION_TITLE])
            except ValueError as unreadable:
                errors.setdefault(VERSION_TITLE, []).append(str(unreadable))
                return
            if instance.pk is None:
                problem = GONE.format(expected=exported)
            elif exported != current:
                problem = self.changed(CHANGED_SINCE_EXPORT, instance, exported)
        previewed = self.preview_versions
        if problem is None and previewed is not None and number is not None and number <= len(previewed):
            then = previewed[number - 1]
            if then == 0 and instance.pk is not None:
                problem = ADDED_SINCE_PREVIEW
            elif then and instance.pk is None:
                problem = GONE.format(expected=then)
            elif then and then != current:
                problem = self.changed(CHANGED_SINCE_PREVIEW, instance, then)
            if problem is not None:
                self.changed_since_preview.append(self._line)
        if problem is not None:
            errors.setdefault(ROW, []).append(problem)

    def changed(self, message: str, instance, expected: int) -> str:
        stale = versions.Stale(
            instance,
            expected=expected,
            current=instance.version,
            edits=versions.edits_since(self._meta.model, instance.pk, expected),
        )
        return message.format(expected=expected, current=instance.version, told=stale.told())

    def current(self, instance) -> dict:
        stored_links = getattr(instance, "_stored_links", {})
        links = getattr(instance, "_import_links", {})
        return {
            column.name: links.get(column.name, sorted(stored_links.get(column.name, [])))
            if column.m2m
            else getattr(instance, column.attname)
            for column in self.importable()
        }

    def skip_row(self, instance, original, row, import_validation_errors=None):
        if import_validation_errors or self._snapshot is None:
            return False
        return self.current(instance) == self._snapshot

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        errors = dict(import_validation_errors or {})
        if instance.pk is None and not self.may_add:
            errors.setdefault(ROW, []).append(
                f"This row would add a new {self._meta.model._meta.verbose_name}, and your role does not allow "
                "adding them. Ask an administrator, or correct the row to match an existing one."
            )
        elif instance.pk is not None and not self.may_change:
            errors.setdefault(ROW, []).append(
                f"This row would change an existing {self._meta.model._meta.verbose_name}, and your role does not "
                "allow changing them. Remove the row, or ask an administrator."
            )
        unread = {name for name, title in self.column_of_field.items() if title in errors}
        # Relations come from the import's scoped lookups, so Django's per-row existence query is not needed.
        exclude = unread | self.relations()
        try:
            # Uniqueness comes from the natural key and the file's duplicate check; the database constraints
            # themselves run on the (rolled back, in a dry run) bulk write, so no row costs a query here.
            instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
        except ValidationError as problem:
            for name, messages in problem.message_dict.items():
                if name in unread:
                    # The model's own check saw the cell as empty; that the cell cannot be read is the message.
                    continue
                title = self.column_of_field.get(name, ROW) if name != NON_FIELD_ERRORS else ROW
                errors.setdefault(title, []).extend(messages)
        try:
            self.check_rules(instance)
        except ValidationError as problem:
            errors.setdefault(ROW, []).extend(problem.messages)
        if errors:
            raise ValidationError(errors)

    def relations(self) -> set[str]:
        if self._relations is None:
            model = self._meta.model
            self._relations = {
                column.name
                for column in self.importable()
                if not column.m2m and model._meta.get_field(column.name).is_relation
            }
        return self._relations

    def check_rules(self, instance) -> None:
        """Hook: the rules an admin form adds to the model's own validation (Application's data files)."""

    def get_instance(self, instance_loader, row):
        return instance_loader.get_instance(row)

    def get_import_id_fields(self):
        return list(self.key)

    def import_row(self, row, instance_loader, **kwargs):
        row_result = super().import_row(row, instance_loader, **kwargs)
        self.record_row(row, row_result)
        return row_result

    def record_row(self, row, row_result):
        kind = {
            row_result.IMPORT_TYPE_NEW: "new",
            row_result.IMPORT_TYPE_UPDATE: "updated",
            row_result.IMPORT_TYPE_SKIP: "unchanged",
        }.get(row_result.import_type, "error")
        self.totals[kind] += 1
        # Unchanged rows are only counted: a re-imported export of 50,000 rows keeps no entry per row.
        if kind == "error":
            self.entries.append(self.error_entry(row, row_result))
        elif kind != "unchanged":
            self.entries.append(self.change_entry(kind, row))
        if self.progress is not None:
            self.progress(1)

    def label_of(self, row) -> str:
        # Asked when the row is saved and again for its preview entry.
        cached = self._label
        if cached is not None and cached[0] is row:
            return cached[1]
        names = self.label_columns or self.key
        label = " / ".join(columns.text_of(row.get(self.fields[name].column_name)) for name in names)
        self._label = (row, label)
        return label

    def change_entry(self, kind: str, row) -> dict:
        instance = self._instance
        before = self._snapshot or {}
        now = self.current(instance)
        changes = []
        for column in self.importable():
            old, new = before.get(column.name), now[column.name]
            if kind == "new" and new in (None, "", [], False) or kind == "updated" and old == new:
                continue
            changes.append(
                [column.title, self.shown(column, old) if kind == "updated" else "", self.shown(column, new)]
            )
        return {"line": self._line, "kind": kind, "label": self.label_of(row), "changes": changes}

    def shown(self, column: Column, value) -> str:
        rendered = column.field.widget.render(value)
        return "" if rendered is None else str(rendered)

    def error_entry(self, row, row_result) -> dict:
        problems = []
        if row_result.validation_error is not None:
            error = row_result.validation_error
            items = error.message_dict.items() if hasattr(error, "error_dict") else [(ROW, error.messages)]
            for title, messages in items:
                value = columns.text_of(row.get(title)) if title in row else ""
                for message in messages:
                    problems.append([title, value, message])
        for error in row_result.errors:
            problems.append([ROW, "", f"This row could not be read: {error.error}. Check it against the template."])
        return {"line": self._line, "kind": "error", "label": self.label_of(row), "problems": problems}

    # -----------------------------------------------------------------------------------------
    # Writing: the audited bulk path
    # -----------------------------------------------------------------------------------------

    def m2m_columns(self) -> list[Column]:
        return [column for column in self.importable() if column.m2m]

    def update_fields(self) -> list[str]:
        return [column.name for column in self.importable() if not column.m2m and column.name not in self.key]

    def bulk_create(self, using_transactions, dry_run, raise_errors, batch_size=None, result=None):
        instances = list(self.create_instances)
        self.create_instances.clear()
        if not instances:
            return
        m2m = {
            column.name: [obj._import_links.get(column.name, []) for obj in instances] for column in self.m2m_columns()
        }
        try:
            services.record_bulk_create(
                instances, self._meta.model, actor=self.actor, reason=self.reason, m2m=m2m or None
            )
        except (IntegrityError, DatabaseError) as problem:
            self.database_refused(instances, problem, result, kind="new")

    def bulk_update(self, using_transactions, dry_run, raise_errors, batch_size=None, result=None):
        instances = list(self.update_instances)
        self.update_instances.clear()
        if not instances:
            return
        # Link columns the file has are replaced for every updated row (the unchanged ones were skipped).
        m2m = {
            column.name: [obj._import_links[column.name] for obj in instances]
            for column in self.m2m_columns()
            if all(column.name in obj._import_links for obj in instances)
        }
        try:
            services.record_bulk_update(
                instances, self._meta.model, self.update_fields(), actor=self.actor, reason=self.reason, m2m=m2m
            )
        except (IntegrityError, DatabaseError) as problem:
            self.database_refused(instances, problem, result, kind="updated")
        except services.StaleRecord as stale:
            # Saved by someone else between this import reading the records and writing them.
            self.stale_refused(instances, stale, result)

    def stale_refused(self, instances, stale: services.StaleRecord, result) -> None:
        lines = {obj.pk: obj for obj in instances}
        for item in stale.stale:
            obj = lines[item.obj.pk]
            self.totals["updated"] -= 1
            self.totals["error"] += 1
            self.entries = [
                entry for entry in self.entries if (entry["kind"], entry["line"]) != ("updated", obj._import_line)
            ]
            message = CHANGED_SINCE_PREVIEW.format(expected=item.expected, current=item.current, told=item.told())
            self.changed_since_preview.append(obj._import_line)
            self.entries.append(
                {
                    "line": obj._import_line,
                    "kind": "error",
                    "label": obj._import_label,
                    "problems": [[ROW, "", message]],
                }
            )
        if result is not None:
            result.append_base_error(self.get_error_result_class()(stale))

    def database_refused(self, instances, problem, result, *, kind: str) -> None:
        """The database refused a batch: name the rows its constraints refuse (or else the batch); nothing is kept."""
        found = False
        for obj in instances:
            try:
                obj.validate_constraints()
                obj.validate_unique()
            except ValidationError as error:
                found = True
                self.totals[kind] -= 1
                self.totals["error"] += 1
                # The line is refused, not added or changed: its entry as such goes.
                self.entries = [
                    entry for entry in self.entries if (entry["kind"], entry["line"]) != (kind, obj._import_line)
                ]
                self.entries.append(
                    {
                        "line": obj._import_line,
                        "kind": "error",
                        "label": obj._import_label,
                        "problems": [[ROW, "", message] for message in error.messages],
                    }
                )
        if not found:
            lines = [obj._import_line for obj in instances]
            self.entries.append(
                {
                    "line": min(lines),
                    "kind": "error",
                    "label": "",
                    "problems": [
                        [
                            ROW,
                            "",
                            f"The database refused lines {min(lines)} to {max(lines)} ({problem}). "
                            "Check those lines against the template.",
                        ]
                    ],
                }
            )
        if result is not None:
            result.append_base_error(self.get_error_result_class()(problem))

    def save_instance(self, instance, is_create, row, **kwargs):
        instance._import_line = self._line
        instance._import_label = self.label_of(row)
        from licensing.imports import touched_organization

        organization_id = touched_organization(instance)
        if organization_id is not None:
            self.touched.add(organization_id)
        super().save_instance(instance, is_create, row, **kwargs)

    def after_import(self, dataset, result, **kwargs):
        # Bulk inserts take ids from the sequence as any insert does: nothing to reset (the library's default).
        pass

    # -----------------------------------------------------------------------------------------
    # Export
    # -----------------------------------------------------------------------------------------

    def headers(self) -> list[str]:
        return [column.title for column in self.columns]

    def export_queryset(self, queryset):
        return queryset.select_related(*self.select_related).prefetch_related(*self.prefetch_related)

    def values_of(self, obj) -> list:
        return [column.field.widget.render(column.field.get_value(obj)) for column in self.columns]

    def example_row(self) -> list:
        return [column.example for column in self.columns]


def _has_perm(actor, model, action: str) -> bool:
    return bool(
        actor is not None
        and actor.is_active
        and actor.has_perm(f"{model._meta.app_label}.{action}_{model._meta.model_name}")
    )
