"""Import a CSV, XLSX or JSON file from the command line, exactly as the admin's import page does.

    manage.py import_data user-counts counts-2026.csv --actor dana --reason "2026 roster"
    manage.py import_data licenses licenses.xlsx --actor dana --dry-run --errors-to problems.csv
    manage.py import_data rosters epic.csv --actor dana --application "Epic Ambulatory" --year 2026 \
        --taken-on 2026-01-15 --source "Epic access list"            # --directory for the staff directory

licensing.imports.run does the work: every row is read and validated as the admin reads it, only records the
actor's memberships let them change are found or added, and the file is written whole (with one stamped history
row per record, carrying the import's id) or not at all. Each run leaves an import record, as the admin's do.
Exit status 0 when the file was written (or, with --dry-run, would be); 1 with every problem on stderr (line,
column, value, message), and in the --errors-to CSV, when anything is wrong.
"""

import datetime
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from licensing import access, identifiers, imports
from licensing.audit.exports import csv_chunks
from licensing.choices import ImportOutcome
from licensing.models import Application
from licensing.models.rosters import Roster
from licensing.models.years import LICENSE_YEAR_VALIDATORS
from licensing.resources.base import ROW
from licensing.resources.catalog import RESOURCES

DEFAULT_MAX_MB = 200
# Problems listed on stderr at normal verbosity; --errors-to FILE (or -v 2) has them all.
SHOWN_PROBLEMS = 100
ERRORS_HEADER = ["Line", "Record", "Column", "Value", "Problem"]
# Seconds between two redraws of the progress line.
PROGRESS_EVERY = 0.2


def resource_names() -> str:
    return ", ".join(RESOURCES)


def find_actor(username: str):
    """The active person with this username, or a CommandError saying why not (shared by export_data)."""
    person = get_user_model()._default_manager.filter(username=username).first()
    if person is None:
        raise CommandError(f"No person with username '{username}'. Check the spelling, or create the account first.")
    if not person.is_active:
        raise CommandError(f"The account '{username}' is inactive; an inactive person can neither import nor export.")
    return person


def find_resource(name: str):
    if name not in RESOURCES:
        raise CommandError(f"Unknown resource '{name}'. Choose one of: {resource_names()}.")
    return RESOURCES[name]


ROSTER_OPTIONS = {
    "application": "--application",
    "organization": "--organization",
    "year": "--year",
    "taken_on": "--taken-on",
    "source": "--source",
    "directory": "--directory",
}


def roster_parameters(resource: str, person, options: dict) -> dict | None:
    """The roster's application, year, date and source from the command line, checked before anything is written
    (as the import page's form checks them), or None for other resources; a CommandError names what is wrong."""
    given = [flag for name, flag in ROSTER_OPTIONS.items() if options.get(name)]
    if resource != "rosters":
        if given:
            raise CommandError(f"{', '.join(given)} only apply to the rosters resource; leave them out for {resource}.")
        return None
    missing = [ROSTER_OPTIONS[name] for name in ("application", "year", "taken_on", "source") if not options.get(name)]
    if missing:
        raise CommandError(
            f"A roster is imported for one application, license year, date and source: give {', '.join(missing)} "
            "(e.g. --application 'Epic Ambulatory' --year 2026 --taken-on 2026-01-15 --source 'Epic access list')."
        )
    try:
        year = int(options["year"])
        for validator in LICENSE_YEAR_VALIDATORS:
            validator(year)
    except ValueError:
        raise CommandError(f"--year must be a year such as 2026, not '{options['year']}'.") from None
    except ValidationError as problem:
        raise CommandError(f"--year {options['year']}: {' '.join(problem.messages)}") from None
    try:
        taken_on = datetime.date.fromisoformat(options["taken_on"])
        for validator in Roster._meta.get_field("taken_on").validators:
            validator(taken_on)
    except ValueError:
        raise CommandError(f"--taken-on must be a date written YYYY-MM-DD, not '{options['taken_on']}'.") from None
    except ValidationError as problem:
        raise CommandError(f"--taken-on {options['taken_on']}: {' '.join(problem.messages)}") from None
    source = " ".join(options["source"].split())
    if not source or len(source) > 200:
        raise CommandError("--source must say where the list comes from in at most 200 characters.")
    application = find_application(person, options["application"], options.get("organization"))
    return {
        "application": application.pk,
        "license_year": year,
        "taken_on": taken_on.isoformat(),
        "source": source,
        "directory": bool(options.get("directory")),
    }


def find_application(person, value: str, organization: str | None) -> Application:
    """The one application `person` manages that `value` names (an id, or a name in any case), else why not."""
    managed = access.restrict(Application.objects.select_related("organization"), person, access.CHANGE)
    if organization:
        managed = managed.filter(organization__slug__iexact=organization)
    where = f" at {organization}" if organization else ""
    # An id fits 64 bits; a longer run of digits can only be a name.
    pk = identifiers.record_id(value)
    found = list(managed.filter(pk=pk)) if pk is not None else []
    found = found or list(managed.filter(name__iexact=value.strip()).order_by("organization__slug", "pk")[:10])
    if not found:
        raise CommandError(
            f"No application named '{value}'{where} that {person.get_username()} manages. Write its name as on the "
            "Applications page (or its id); only applications of organizations you are an officer of can be given."
        )
    if len(found) > 1:
        slugs = ", ".join(application.organization.slug for application in found)
        raise CommandError(
            f"Several applications you manage are named '{value}' (at {slugs}): add --organization SHORT_NAME."
        )
    return found[0]


def problem_lines(report: dict) -> list[list]:
    """Every problem of a refused import as [line, record, column, value, message]; file-level ones have no line."""
    found = [["", "", "", "", message] for message in report.get("problems", [])]
    for entry in sorted(report.get("entries", []), key=lambda entry: entry["line"]):
        if entry["kind"] != "error":
            continue
        for column, value, message in entry["problems"]:
            found.append([entry["line"], entry["label"], "" if column == ROW else column, value, message])
    return found


def describe(problem: list) -> str:
    line, label, column, value, message = problem
    if line == "":
        return message
    where = f"Line {line}" + (f" ({label})" if label else "")
    if column:
        where += f", column '{column}'" + (f", value '{value}'" if value != "" else ", empty")
    return f"{where}: {message}"


def _plain(text: str) -> str:
    return text


class Progress:
    """A carriage-return progress line on a terminal: rows read, rate, seconds so far."""

    def __init__(self, stream, what: str):
        # A management command's OutputWrapper; written unstyled (stderr is styled as errors by default).
        self.stream = stream
        self.what = what
        self.rows = 0
        self.started = self.drawn = time.monotonic()

    def __call__(self, count: int) -> None:
        self.rows += count
        now = time.monotonic()
        if now - self.drawn >= PROGRESS_EVERY:
            self.drawn = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        seconds = now - self.started
        rate = f", {self.rows / seconds:,.0f} rows/s" if seconds > 0 else ""
        self._write(f"\r{self.what}: {self.rows:,} rows checked ({seconds:.0f} s{rate})\033[K")

    def _write(self, text: str) -> None:
        self.stream.write(text, style_func=_plain, ending="")
        self.stream.flush()

    def finish(self) -> None:
        if self.rows:
            self._draw(time.monotonic())
            self._write("\n")


class Command(BaseCommand):
    help = (
        "Import a CSV, XLSX or JSON file of records as --actor, checked and scoped as the admin's import page checks "
        "it; everything is written or nothing. Exit status 1, with each problem on stderr, when anything is wrong. "
        f"Resources: {resource_names()}."
    )

    def add_arguments(self, parser):
        parser.add_argument("resource", help=f"What the file holds: {resource_names()}.")
        parser.add_argument("file", help="The CSV, XLSX or JSON file (the admin's template shows its columns).")
        parser.add_argument(
            "--actor",
            required=True,
            metavar="USERNAME",
            help="The person importing: their memberships decide what the file may add and change, and the "
            "history names them.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Check every row and write nothing.")
        parser.add_argument("--reason", default="", help="Why, as the history shows it (default: 'Import FILE').")
        parser.add_argument(
            "--errors-to",
            metavar="FILE",
            help="Also write the problems to FILE as CSV (Line, Record, Column, Value, Problem); only the header "
            "when there are none.",
        )
        parser.add_argument(
            "--max-mb",
            type=float,
            default=DEFAULT_MAX_MB,
            metavar="N",
            help=f"Refuse files larger than N MB (default {DEFAULT_MAX_MB}; the admin's limit is "
            "IMPORT_MAX_UPLOAD_MB).",
        )

        roster = parser.add_argument_group(
            "rosters", "What a roster file does not say itself (required with the rosters resource, refused otherwise)."
        )
        roster.add_argument(
            "--application",
            metavar="NAME_OR_ID",
            help="The application whose users the file lists: its name (or id) as on the Applications page.",
        )
        roster.add_argument(
            "--organization",
            metavar="SHORT_NAME",
            help="The application's organization (short name), when applications of several share the name.",
        )
        roster.add_argument("--year", metavar="YYYY", help="The license year whose user count the roster gives.")
        roster.add_argument("--taken-on", metavar="YYYY-MM-DD", help="When the list was exported.")
        roster.add_argument("--source", help="Where the list comes from, e.g. 'Epic access list'.")
        roster.add_argument(
            "--directory",
            action="store_true",
            help="The file is the organization's staff directory (who works there): it derives no user count; "
            "reconciliation lists the people of application rosters who are not on it.",
        )

    def handle(self, *args, resource, file, actor, dry_run=False, reason="", errors_to=None, max_mb=None, **options):
        resource_class = find_resource(resource)
        person = find_actor(actor)
        parameters = roster_parameters(resource, person, options)
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No file {file}." if not path.exists() else f"{file} is not a file.")
        max_bytes = int((max_mb if max_mb is not None else DEFAULT_MAX_MB) * 1_000_000)
        if max_bytes <= 0:
            raise CommandError("--max-mb must be above zero.")
        size = path.stat().st_size
        if size > max_bytes:
            raise CommandError(
                f"{file} is {size / 1_000_000:.1f} MB, over the {max_bytes / 1_000_000:g} MB limit; split it, or "
                "raise the limit with --max-mb."
            )
        try:
            content = path.read_bytes()
        except OSError as problem:
            raise CommandError(f"{file} could not be read: {problem.strerror or problem}.") from None

        verbosity = options.get("verbosity", 1)
        progress = None
        if verbosity >= 1 and self.stderr.isatty():
            progress = Progress(self.stderr, f"{'Checking' if dry_run else 'Importing'} {path.name}")
        try:
            record = imports.run(
                resource_name=resource,
                file_name=path.name,
                content=content,
                actor=person,
                reason=reason,
                dry_run=dry_run,
                max_bytes=max_bytes,
                progress=progress,
                parameters=parameters,
            )
        finally:
            if progress is not None:
                progress.finish()

        for note in record.report.get("notes", []):
            self.stderr.write(f"Note: {note}", style_func=self.style.WARNING)
        problems = problem_lines(record.report) if record.outcome == ImportOutcome.REFUSED else []
        if errors_to:
            self._write_errors(errors_to, problems)
        what = resource_class.title.lower()
        if problems or record.outcome == ImportOutcome.REFUSED:
            self._show(problems, verbosity, errors_to)
            rows = record.error_rows
            counted = f"{rows:,} row(s) with problems" if rows else f"{len(problems)} problem(s) with the file"
            raise CommandError(
                f"Nothing was imported: {counted} in {path.name} ({what}; import record #{record.pk}).", returncode=1
            )
        if verbosity >= 2:
            self._list_changes(record.report)
        counts = (
            f"{record.new_rows:,} new, {record.updated_rows:,} updated, {record.unchanged_rows:,} unchanged "
            f"{what} in {path.name}"
        )
        if dry_run:
            self.stdout.write(f"Dry run, nothing written: {counts} (import record #{record.pk}).")
        elif record.new_rows or record.updated_rows:
            self.stdout.write(
                self.style.SUCCESS(f"Imported {counts} (import #{record.pk}; its history rows carry that number).")
            )
        else:
            self.stdout.write(f"Imported {counts}: nothing to write (import #{record.pk}).")

    def _show(self, problems: list[list], verbosity: int, errors_to) -> None:
        shown = problems if verbosity >= 2 else problems[:SHOWN_PROBLEMS]
        for problem in shown:
            self.stderr.write(describe(problem))
        hidden = len(problems) - len(shown)
        if hidden:
            where = f"{errors_to} lists" if errors_to else "--errors-to FILE (or -v 2) lists"
            self.stderr.write(f"... and {hidden:,} more; {where} them all.")

    def _list_changes(self, report: dict) -> None:
        for entry in report.get("entries", []):
            changes = "; ".join(
                f"{column}: {old} -> {new}" if entry["kind"] == "updated" else f"{column}: {new}"
                for column, old, new in entry.get("changes", [])
            )
            self.stdout.write(f"Line {entry['line']} ({entry['label']}), {entry['kind']}: {changes}")

    def _write_errors(self, name: str, problems: list[list]) -> None:
        try:
            with Path(name).open("w", encoding="utf-8", newline="") as stream:
                for chunk in csv_chunks(ERRORS_HEADER, problems):
                    stream.write(chunk)
        except OSError as problem:
            raise CommandError(f"Could not write {name}: {problem.strerror or problem}.") from None
