"""The roster file: one line per person and role, as an application's access list or directory exports it.

Imported through licensing.imports like every other file (preview as a rolled-back dry run, confirm, the file's
SHA-256, the import's number on every history row, all or nothing), but a roster is read as a whole rather than
row by row: the lines become one Roster of the application, year, date and source the import page names
(`parameters`), its people are found or added by identifier, each role takes its kind from the application's
role mapping, and the preview compares the people with the application's previous roster. The writes are
licensing.services.roster_record.

Refused before anything is written: a line that cannot be read (named by line and column), a role the mapping
does not know (every such role listed with its lines; map it, then upload again), parameters that do not name an
application the person manages. Accepted and said in the preview: a person listed on several lines (counted once).
"""

import datetime
from collections import OrderedDict
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from import_export.results import Result

from licensing import access, counting, identifiers, services
from licensing.choices import UserKind
from licensing.models import Application, Organization, UserCount
from licensing.models.rosters import Person, RoleMapping, Roster, RosterLine, role_key
from licensing.models.years import LICENSE_YEAR_VALIDATORS
from licensing.resources import columns
from licensing.resources.base import ROW, Column, PortalResource, header_key
from licensing.resources.lookups import ScopedLookups

# Headings real exports use for the six columns, besides the template's own.
ALIASES = {
    "id": "identifier",
    "employee id": "identifier",
    "employee number": "identifier",
    "user id": "identifier",
    "userid": "identifier",
    "username": "identifier",
    "user name": "identifier",
    "login": "identifier",
    "full name": "name",
    "person": "name",
    "email": "email",
    "e mail": "email",
    "email address": "email",
    "e-mail address": "email",
    "mail": "email",
    "legal entity": "entity",
    "employer": "entity",
    "employing entity": "entity",
    "job title": "role",
    "title": "role",
    "security role": "role",
    "user role": "role",
    "position": "role",
}
# How many people a preview note names before "and N more".
NAMED_IN_NOTES = 20
MISSING_PARAMETERS = (
    "A roster is imported for one application, license year, date and source: start from Import on the Roster "
    "lines page, which asks for them."
)


PERSON_FIELDS = services.PERSON_FIELDS


@dataclass
class _Known:
    """A stored person this file names, as the preview needs them: no record is loaded for them."""

    pk: int
    identifier: str
    name: str
    _roster_changes: list = field(default_factory=list)


class _DryRun(Exception):
    """Leaves the savepoint of a preview, so that everything it wrote is rolled back."""


def person_key(identifier: str) -> str:
    # As the database compares identifiers (person_one_per_identifier is on Lower(identifier)).
    return identifier.strip().lower()


class RosterLineResource(ScopedLookups, PortalResource):
    """Roster lines: exported as the roster file, imported as a whole roster (module docstring)."""

    title = "Roster lines"
    whole_file = True
    select_related = ("person__entity", "roster")

    class Meta(PortalResource.Meta):
        model = RosterLine

    def __init__(self, *, parameters=None, **options):
        super().__init__(**options)
        self.parameters = dict(parameters or {})
        # The import's record (licensing.imports.run sets it): the roster keeps its file name, SHA-256 and number.
        self.data_import = None
        # File-level problems (they refuse the file) and notes for the preview (licensing.imports._report).
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.totals["removed"] = 0

    def build_columns(self) -> list[Column]:
        entity = self.organization_reference(
            action=access.VIEW,
            missing="No organization you can see has the short name, EIN or name '{value}'. Write the employing "
            "legal entity as on the Organizations page, or leave the cell empty for the application's organization.",
        )

        def column(name, path, title, widget, **options):
            return self.path_column(name, path, title=title, widget=widget, **options)

        return [
            column(
                "identifier",
                "person__identifier",
                "Identifier",
                columns.Text(),
                required=True,
                help="The employee id or directory username, the same in every system's export.",
                example="E10423",
            ),
            column("name", "person__name", "Name", columns.Text(), required=True, example="Pat Lee"),
            column("email", "person__email", "E-mail", columns.Text(), example="pat.lee@example.org"),
            column(
                "entity",
                "person__entity",
                "Entity",
                entity,
                help="The legal entity that employs the person (short name, EIN or name); empty: the application's "
                "organization.",
                example="alpha-clinic",
            ),
            column(
                "country",
                "person__country",
                "Country",
                columns.Text(),
                help="Where the person works from: a two-letter code (US, IN, PH) or the country's name; empty: US.",
                example="US",
            ),
            column(
                "role",
                "role",
                "Role",
                columns.Text(),
                required=True,
                help="The role or job title as the system exports it; the application's role mapping says how it "
                "counts.",
                example="Physician",
            ),
            column("npi", "person__npi", "NPI", columns.Digits(10), help="Optional: the person's NPI.", example=""),
        ]

    def match_headers(self, headers):
        return super().match_headers([ALIASES.get(header_key(header), header) for header in headers])

    def export_queryset(self, queryset):
        return super().export_queryset(queryset).order_by("roster", "line")

    # -----------------------------------------------------------------------------------------
    # Importing a whole roster
    # -----------------------------------------------------------------------------------------

    def import_data(self, dataset, dry_run=False, **kwargs):
        result = Result()
        target = self.read_parameters()
        if target is None:
            return result
        application, license_year, taken_on, source, is_directory = target
        self.touched.add(application.organization_id)
        # The organization's people as values, not records: a directory names tens of thousands, and only the
        # people this file changes are loaded as records (to be saved with their history).
        columns_read = ["pk", "identifier", *(f"{name}_id" if name == "entity" else name for name in PERSON_FIELDS)]
        stored = {
            person_key(values[1]): dict(zip(columns_read, values, strict=True))
            for values in Person.objects.filter(organization=application.organization_id)
            .order_by()
            .values_list(*columns_read)
        }
        people, lines = self.read_rows(dataset, application, stored)
        mapping = {role_key(m.role): m for m in RoleMapping.objects.filter(application=application)}
        self.check_roles(application, lines, mapping)
        if self.problems or self.totals["error"]:
            return result
        for line in lines:
            line.kind = mapping[role_key(line.role)].kind
        new_people, by_key, changes_of = [], {}, {}
        for key, read in people.items():
            existing = stored.get(key)
            if existing is None:
                person = Person(organization=application.organization, **read)
                new_people.append(person)
                by_key[key] = person
                continue
            changes = self.person_changes(existing, read)
            if changes:
                changes_of[existing["pk"]] = (read, changes)
            by_key[key] = _Known(pk=existing["pk"], identifier=existing["identifier"], name=read["name"])
        changed_people = list(Person.objects.in_bulk(list(changes_of)).values()) if changes_of else []
        for person in changed_people:
            read, changes = changes_of[person.pk]
            for name in PERSON_FIELDS:
                setattr(person, name, read[name])
            by_key[person_key(person.identifier)]._roster_changes = changes
        for line in lines:
            person = by_key[line._person_key]
            if isinstance(person, _Known):
                line.person_id = person.pk
            else:
                line.person = person
        tally = counting.tally_roster((line._person_key, line.kind) for line in lines)
        self.compare_with_previous(application, taken_on, lines, by_key, tally, stored)
        self.note_duplicates(lines, by_key, tally)
        roster = Roster(
            application=application,
            license_year=license_year,
            taken_on=taken_on,
            source=source,
            is_directory=is_directory,
            file_name=self.data_import.file_name if self.data_import is not None else "",
            file_sha256=self.data_import.file_sha256 if self.data_import is not None else "",
            imported_by=self.actor,
            imported_by_name=self.actor.get_username() if self.actor is not None else "",
            # The confirmed import's record (a preview has none saved: its roster is rolled back).
            data_import=self.data_import if self.data_import is not None and self.data_import.pk else None,
        )
        self.note_count(application, license_year, roster, tally)
        try:
            with transaction.atomic():
                services.roster_record(
                    roster=roster,
                    new_people=new_people,
                    changed_people=changed_people,
                    lines=lines,
                    actor=self.actor,
                    reason=self.reason,
                )
                services.keep_roster_source(
                    roster=roster,
                    content=getattr(self, "file_content", b""),
                    name=roster.file_name,
                    actor=self.actor,
                    reason=self.reason,
                    dry_run=dry_run,
                )
                if dry_run:
                    raise _DryRun
        except _DryRun:
            pass  # the preview's writes are rolled back on purpose: it shows what a confirm would write
        except ValidationError as problem:
            self.problems.extend(f"The roster cannot be saved: {message}" for message in problem.messages)
        return result

    def read_parameters(self):
        """The application (one the person manages), license year, date and source the import page was given."""
        given = self.parameters
        if not given.get("application"):
            self.problems.append(MISSING_PARAMETERS)
            return None
        application = (
            access.restrict(Application.objects.select_related("organization"), self.actor, access.CHANGE)
            .filter(pk=given["application"])
            .first()
        )
        if application is None:
            self.problems.append(
                "The application chosen does not exist or belongs to an organization you do not manage; choose one "
                "of your applications."
            )
            return None
        try:
            license_year = int(given.get("license_year"))
            for validator in LICENSE_YEAR_VALIDATORS:
                validator(license_year)
            taken_on = datetime.date.fromisoformat(str(given.get("taken_on")))
            for validator in Roster._meta.get_field("taken_on").validators:
                validator(taken_on)
        except (TypeError, ValueError):
            self.problems.append("Give the roster's license year as a year (2026) and its date as a date.")
            return None
        except ValidationError as problem:
            self.problems.extend(problem.messages)
            return None
        source = " ".join(str(given.get("source") or "").split())
        if not source:
            self.problems.append("Say where the roster comes from, e.g. 'Epic access list'.")
            return None
        # The directory (who works here) is reconciliation's reference list, not an application's users.
        is_directory = str(given.get("directory") or "").lower() in ("1", "true", "on", "yes")
        return application, license_year, taken_on, source[:200], is_directory

    def read_rows(self, dataset, application, stored=None):
        """Every line read into a Person (the first line naming each identifier) and an unsaved RosterLine;
        problems recorded as error entries by line and column. `stored`: the organization's people by key, whose
        recorded e-mail addresses need no second check."""
        people: dict[str, Person] = OrderedDict()
        lines: list[RosterLine] = []
        stored = stored or {}
        # The file's columns and their readers, looked up once rather than for each of 200,000 cells.
        present = set(dataset.headers)
        readers = [
            (column.name, column.title, column.field.widget.clean) for column in self.columns if column.title in present
        ]
        for number, values in enumerate(dataset, start=1):
            row = dict(zip(dataset.headers, values, strict=False))
            self._line = self.line_of(number)
            cells, problems = {}, []
            for name, title, clean in readers:
                try:
                    cells[name] = clean(row[title], row=row)
                except ValueError as problem:
                    problems.append([title, columns.text_of(row[title]), str(problem)])
            key = person_key(cells["identifier"]) if cells.get("identifier") else ""
            known = stored.get(key)
            self.check_cells(cells, row, problems, known_email=known["email"] if known is not None else None)
            label = f"{cells.get('name') or ''} ({cells.get('identifier') or '?'})"
            if problems:
                self.totals["error"] += 1
                self.entries.append({"line": self._line, "kind": "error", "label": label, "problems": problems})
                continue
            if key not in people:
                people[key] = {
                    "identifier": cells["identifier"],
                    "name": cells["name"],
                    "email": cells.get("email") or "",
                    "npi": cells.get("npi") or "",
                    "entity": cells.get("entity") or application.organization,
                    "country": cells["country"],
                }
            line = RosterLine(line=self._line, role=cells["role"])
            line._person_key = key
            line._label = label
            lines.append(line)
        return people, lines

    def check_cells(self, cells: dict, row, problems: list, known_email: str | None = None) -> None:
        """The rules a form would apply to the person's fields, in the form's words. `known_email`: the address
        stored for the person, which passed the same check when it was written."""

        def refuse(name, message):
            title = self.column_of_field[name]
            problems.append([title, columns.text_of(row.get(title)), message])

        for name, limit in (("identifier", 100), ("name", 200), ("role", 200)):
            if name in cells and not cells[name]:
                refuse(name, f"Fill in the {self.column_of_field[name]} column; every line needs one.")
            elif len(cells.get(name) or "") > limit:
                refuse(name, f"Write at most {limit} characters here.")
        if cells.get("email") and cells["email"] != known_email:
            try:
                validate_email(cells["email"])
            except ValidationError:
                refuse("email", "This is not an e-mail address; write it as name@example.org, or leave it empty.")
        if cells.get("npi"):
            try:
                identifiers.validate_npi(cells["npi"])
            except ValidationError as problem:
                refuse("npi", " ".join(problem.messages))
        try:
            cells["country"] = identifiers.country_code(cells.get("country"))
        except ValidationError as problem:
            refuse("country", " ".join(problem.messages))

    def check_roles(self, application, lines, mapping) -> None:
        unmapped: dict[str, list[int]] = OrderedDict()
        shown: dict[str, str] = {}
        for line in lines:
            key = role_key(line.role)
            if key not in mapping:
                unmapped.setdefault(key, []).append(line.line)
                shown.setdefault(key, line.role)
        if not unmapped:
            return
        listed = "; ".join(
            f"'{shown[key]}' (line{'s' if len(found) > 1 else ''} {_lines(found)})" for key, found in unmapped.items()
        )
        url = reverse("admin:licensing_rolemapping_add") + f"?application={application.pk}"
        several = len(unmapped) > 1
        self.problems.append(
            f"{len(unmapped)} role{'s' if several else ''} of this file {'have' if several else 'has'} "
            f"no mapping for {application.name}: {listed}. Say how each counts (a), (b), (c) or not a user on the "
            f"role mappings page ({url}), then upload the file again. Nothing was written."
        )

    def person_changes(self, stored: dict, read: dict) -> list[list[str]]:
        """What the file says differently of a stored person (`stored`: the values read from the database)."""
        changes = []
        for name in PERSON_FIELDS:
            old, new = stored[name] if name != "entity" else stored["entity_id"], read[name]
            if name == "entity":
                new = new.pk if new is not None else None
            if old != new:
                title = self.column_of_field[name] if name in self.column_of_field else name
                changes.append([title, self.shown(name, old), self.shown(name, read[name])])
        return changes

    def shown(self, name: str, value) -> str:
        if name != "entity":
            return str(value or "")
        if value is None:
            return ""
        if isinstance(value, Organization):
            return value.slug
        slugs = self.__dict__.setdefault("_entity_slugs", {})
        if value not in slugs:
            slugs[value] = Organization.objects.filter(pk=value).values_list("slug", flat=True)[0]
        return slugs[value]

    def compare_with_previous(self, application, taken_on, lines, by_key, tally, stored) -> None:
        """One entry per person: new since the previous roster, changed (role, kind or details), or not on this
        roster any more; unchanged people are only counted."""
        previous = (
            Roster.objects.filter(application=application, taken_on__lte=taken_on).order_by("-taken_on", "-pk").first()
        )
        before: dict[str, dict] = {}
        if previous is None:
            self.notes.append(f"{application.name} has no earlier roster: every person is new.")
        else:
            self.notes.append(
                f"Compared with the previous roster of {application.name}: {previous} (taken on "
                f"{previous.taken_on:%Y-%m-%d})."
            )
            for line in previous.lines.select_related("person").order_by("line"):
                entry = before.setdefault(
                    person_key(line.person.identifier), {"person": line.person, "roles": [], "kinds": []}
                )
                entry["roles"].append(line.role)
                entry["kinds"].append(line.kind)
        roles_now: dict[str, list[str]] = OrderedDict()
        first_line: dict[str, int] = {}
        for line in lines:
            roles_now.setdefault(line._person_key, []).append(line.role)
            first_line.setdefault(line._person_key, line.line)
        kind_label = dict(UserKind.choices)
        for key, roles in roles_now.items():
            person = by_key[key]
            kind_now = kind_label[tally.kind_of[key]]
            label = f"{person.name} ({person.identifier})"
            details = getattr(person, "_roster_changes", [])
            earlier = before.get(key)
            if earlier is None:
                changes = [["Role", "", "; ".join(roles)], ["Counts as", "", kind_now]]
                if key not in stored:
                    changes.append(["Person", "", "added to the people of " + str(application.organization)])
                self.totals["new"] += 1
                self.entries.append(
                    {"line": first_line[key], "kind": "new", "label": label, "changes": changes + details}
                )
                continue
            kind_before = kind_label[counting.tally_roster((key, kind) for kind in earlier["kinds"]).kind_of[key]]
            changes = []
            if sorted(role_key(r) for r in earlier["roles"]) != sorted(role_key(r) for r in roles):
                changes.append(["Role", "; ".join(earlier["roles"]), "; ".join(roles)])
            if kind_before != kind_now:
                changes.append(["Counts as", kind_before, kind_now])
            changes += details
            if changes:
                self.totals["updated"] += 1
                self.entries.append({"line": first_line[key], "kind": "updated", "label": label, "changes": changes})
            else:
                self.totals["unchanged"] += 1
        gone = [entry for key, entry in before.items() if key not in roles_now]
        for entry in gone:
            person = entry["person"]
            self.entries.append(
                {
                    "line": 0,
                    "kind": "removed",
                    "label": f"{person.name} ({person.identifier})",
                    "changes": [["Role", "; ".join(entry["roles"]), ""]],
                }
            )
        self.totals["removed"] = len(gone)
        if gone:
            self.notes.append(
                f"{len(gone)} {'person' if len(gone) == 1 else 'people'} of the previous roster "
                f"{'is' if len(gone) == 1 else 'are'} not on this one (listed last)."
            )

    def note_duplicates(self, lines, by_key, tally) -> None:
        repeated = tally.listed_more_than_once
        if not repeated:
            return
        lines_of: dict[str, list[int]] = {}
        for line in lines:
            if line._person_key in repeated:
                lines_of.setdefault(line._person_key, []).append(line.line)
        kind_label = dict(UserKind.choices)
        named = [
            f"{by_key[key].name} ({by_key[key].identifier}) on lines {_lines(found)}: counted once, under "
            f"{kind_label[tally.kind_of[key]]}"
            for key, found in list(lines_of.items())[:NAMED_IN_NOTES]
        ]
        more = len(lines_of) - len(named)
        self.notes.append(
            f"{len(repeated)} {'person is' if len(repeated) == 1 else 'people are'} listed more than once, each "
            f"counted once: {'; '.join(named)}" + (f"; and {more} more." if more else ".")
        )

    def note_count(self, application, license_year, roster, tally) -> None:
        if roster.is_directory:
            self.notes.insert(
                0,
                f"This roster is the directory of {application.organization} ({tally.people:,} people): it derives no "
                "user count; reconciliation lists the people of application rosters who are not on it.",
            )
            return
        explanation = counting.roster_explanation(taken_on=roster.taken_on, source=roster.source, tally=tally)
        current = (
            UserCount.objects.filter(application=application, license_year=license_year)
            .select_related("roster")
            .first()
        )
        if current is None:
            then = f"This roster becomes the {license_year} user count of {application.name}."
        elif current.roster is not None and current.roster.taken_on > roster.taken_on:
            then = (
                f"The {license_year} user count of {application.name} stays with the later {current.roster}; this "
                "roster is kept as evidence."
            )
        else:
            then = (
                f"This roster replaces the {license_year} user count of {application.name} "
                f"(now {counting.explain(current)})."
            )
        self.notes.insert(0, f"{explanation}. {then}")


def _lines(numbers: list[int]) -> str:
    shown = [str(number) for number in numbers[:10]]
    return ", ".join(shown) + (f" and {len(numbers) - 10} more" if len(numbers) > 10 else "")


__all__ = ["ROW", "RosterLineResource"]
