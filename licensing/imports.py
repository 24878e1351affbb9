"""Importing a file: read once per step, every row validated as a real save would be, all written or nothing.

    preview = imports.run(resource_name="user-counts", file_name=..., content=..., actor=..., dry_run=True)
    done = imports.run(..., dry_run=False, preview=preview)   # the admin's confirm step

A dry run performs the real bulk writes inside a savepoint and rolls them back, so the database's own
constraints are checked too. Each step leaves a DataImport record (who, when, file SHA-256, counts, the
reason); a confirmed import stamps that record's id on every history row it writes. Confirming checks that
the file is the one previewed (its SHA-256) and that the rows still import exactly as previewed.
"""

import hashlib
import json
from collections.abc import Callable
from contextlib import nullcontext

import tablib
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction

from licensing import access, ownership, services, spreadsheets
from licensing.audit.stamping import stamping_import
from licensing.choices import ImportOutcome
from licensing.models import DataImport, Organization
from licensing.resources.catalog import RESOURCES

# The order the preview lists rows in: what needs attention first.
KIND_ORDER = {"error": 0, "updated": 1, "new": 2, "removed": 3}
CHANGED_SINCE_PREVIEW = (
    "The data changed since the preview (someone edited these records, or the file differs), so nothing was "
    "written. Review the new preview below and confirm again."
)

SPLIT_FILE = (
    "This file changes records of organizations that no one of your memberships covers together (they meet only "
    "at an organization you have no access to), so the import's record could not be shown to you. Import each "
    "organization's rows in a file of its own, or ask an administrator for access to their parent."
)


class _Undo(Exception):
    """Leaves the import's transaction so that everything it wrote is rolled back."""


def may_import(actor, resource_name: str) -> bool:
    resource = RESOURCES[resource_name]
    model = resource._meta.model
    if not access.is_active(actor) or resource.administrators_only and not actor.is_superuser:
        return False
    label = f"{model._meta.app_label}.%s_{model._meta.model_name}"
    return actor.has_perm(label % "add") or actor.has_perm(label % "change")


def confirmation_problem(preview: DataImport, actor) -> str | None:
    """Why `actor` may not confirm `preview`, or None: the rule the preview page and `run` both apply."""
    if preview.outcome != ImportOutcome.PREVIEWED:
        return "Only a preview without errors can be confirmed; correct the file and upload it again."
    if preview.actor_id != getattr(actor, "pk", None) or not may_import(actor, preview.resource):
        return "Only the person who uploaded the file can confirm its import."
    if preview.confirmations.filter(outcome=ImportOutcome.CONFIRMED).exists():
        return "This preview was already confirmed; its changes are on the audit trail."
    return None


def run(
    *,
    resource_name: str,
    file_name: str,
    content: bytes,
    actor,
    reason: str = "",
    dry_run: bool,
    preview: DataImport | None = None,
    progress: Callable[[int], None] | None = None,
    max_bytes: int | None = None,
    keep_file: bool = False,
    parameters: dict | None = None,
) -> DataImport:
    """One step of an import; returns its DataImport record (already saved), whose `report` the preview shows.

    `parameters` are what the import needs besides the file (a roster's application, year, date and source); a
    confirmation takes its preview's.
    """
    resource_class = RESOURCES[resource_name]
    if preview is not None:
        parameters = preview.parameters
    parameters = dict(parameters or {})
    reason = (reason or "").strip() or f"Import {file_name}"
    record = DataImport(
        actor=actor,
        actor_name=actor.get_username() if actor is not None else "",
        resource=resource_name,
        file_name=file_name[:255],
        file_sha256=hashlib.sha256(content).hexdigest(),
        file_size=len(content),
        dry_run=dry_run,
        reason=reason[:500],
        preview_of=preview,
        parameters=parameters,
    )
    if not may_import(actor, resource_name):
        return _refused(record, problems=[f"Your role does not allow importing {resource_class.title.lower()}."])
    if preview is not None:
        problem = confirmation_problem(preview, actor)
        if problem is None and preview.resource != resource_name:
            problem = f"This preview is of {preview.resource}, not {resource_name}; upload the file again."
        if problem is not None:
            return _refused(record, problems=[problem])
    if preview is not None and preview.file_sha256 != record.file_sha256:
        return _refused(
            record, problems=["This is not the file that was previewed (its SHA-256 differs); upload it again."]
        )
    try:
        table = spreadsheets.read(file_name, content, max_bytes=max_bytes or settings.IMPORT_MAX_UPLOAD_BYTES)
    except spreadsheets.FileProblem as problem:
        return _refused(record, problems=[str(problem)])
    options = {"parameters": parameters} if parameters else {}
    resource = resource_class(
        actor=actor,
        reason=reason,
        line_numbers=table.line_numbers,
        progress=progress,
        # Rows whose record moved on since the preview are refused (licensing.resources.base.check_version).
        preview_versions=preview.report.get("versions") if preview is not None else None,
        **options,
    )
    # A resource that keeps the import's record on what it writes (a roster) reads it here.
    resource.data_import = record
    # A roster import keeps the file itself as the roster's evidence (services.keep_roster_source).
    resource.file_content = content
    match = resource.match_headers(table.headers)
    if match.problems:
        return _refused(record, problems=match.problems, notes=table.notes)
    dataset = tablib.Dataset(*[tuple(cells) for cells in table.rows], headers=match.columns)
    del table.rows
    report: dict = {}
    try:
        with transaction.atomic():
            if not dry_run:
                record.outcome = ImportOutcome.CONFIRMED
                services.record_save(record, actor=actor, reason=f"Import of {file_name} started", validate=False)
            with stamping_import(record.pk) if not dry_run else nullcontext():
                result = resource.import_data(dataset, dry_run=dry_run, rollback_on_validation_errors=True)
            report = _report(resource, result, notes=table.notes)
            report["versions"] = resource.versions_seen
            failed = bool(report["totals"]["error"] or report["problems"])
            if resource.touched and not _visible_to(actor, _covering_organization(resource.touched, actor)):
                report["problems"].append(SPLIT_FILE)
                failed = True
            if resource.changed_since_preview or (
                preview is not None and not failed and report["digest"] != preview.report.get("digest")
            ):
                report["problems"].append(CHANGED_SINCE_PREVIEW)
                failed = True
            if failed and not dry_run:
                raise _Undo
            _finish(record, report, resource, outcome=ImportOutcome.CONFIRMED if not dry_run else None)
    except _Undo:
        record.pk = None
        record.preview_of = preview
        return _refused(record, report=report, touched=resource.touched)
    if dry_run:
        outcome = ImportOutcome.REFUSED if failed else ImportOutcome.PREVIEWED
        record.outcome = outcome
        _finish(record, report, resource, outcome=outcome, content=content if keep_file and not failed else None)
    return record


def _finish(record, report, resource, *, outcome, content: bytes | None = None) -> None:
    totals = report["totals"]
    record.new_rows, record.updated_rows = totals["new"], totals["updated"]
    record.unchanged_rows, record.error_rows = totals["unchanged"], totals["error"]
    record.report = report
    record.organization_id = _covering_organization(resource.touched, record.actor)
    if outcome is not None:
        record.outcome = outcome
    if content is not None:
        record.upload.save(f"{record.file_sha256[:16]}-{record.file_name}", ContentFile(content), save=False)
    counts = f"{record.new_rows} new, {record.updated_rows} updated, {record.unchanged_rows} unchanged"
    verb = "finished" if outcome == ImportOutcome.CONFIRMED else record.get_outcome_display().split(" (")[0].lower()
    services.record_save(
        record, actor=record.actor, reason=f"Import of {record.file_name} {verb}: {counts}", validate=False
    )


def _refused(record, *, problems=(), notes=(), report=None, touched=()) -> DataImport:
    report = dict(report or {})
    report.setdefault("notes", list(notes))
    report["problems"] = list(report.get("problems", [])) + list(problems)
    report.setdefault("entries", [])
    report.setdefault("totals", {"new": 0, "updated": 0, "unchanged": 0, "error": 0})
    record.outcome = ImportOutcome.REFUSED
    record.dry_run = record.dry_run if record.preview_of is None else False
    record.new_rows = record.updated_rows = record.unchanged_rows = 0
    record.error_rows = report["totals"].get("error", 0)
    record.report = report
    record.organization_id = _covering_organization(touched, record.actor)
    services.record_save(record, actor=record.actor, reason=f"Import of {record.file_name} refused", validate=False)
    return record


def _report(resource, result, *, notes) -> dict:
    # A resource that reads the file as a whole (a roster) names file-level problems and notes of its own.
    problems = list(getattr(resource, "problems", []))
    notes = [*getattr(resource, "notes", []), *notes]
    for error in result.base_errors:
        if not any(entry["kind"] == "error" for entry in resource.entries):
            problems.append(f"The import stopped: {error.error}. Nothing was written.")
    entries = sorted(resource.entries, key=lambda entry: (KIND_ORDER[entry["kind"]], entry["line"]))
    totals = dict(resource.totals)
    digest_source = json.dumps([totals, entries], sort_keys=True, default=str)
    return {
        "notes": list(notes),
        "problems": problems,
        "entries": entries,
        "totals": totals,
        "columns": resource.headers(),
        "digest": hashlib.sha256(digest_source.encode()).hexdigest(),
    }


def _covering_organization(touched, actor) -> int | None:
    """The nearest organization whose scope covers every organization in `touched` (or, with none, all the
    actor's own); None when they share none, which leaves the record to administrators."""
    ids = set(touched)
    if not ids and actor is not None:
        ids = set(access.organizations(actor, access.CHANGE).filter(parent__isnull=True).values_list("pk", flat=True))
        if not ids:
            ids = set(access.organizations(actor, access.VIEW).values_list("pk", flat=True))
    if not ids:
        return None
    chains = []
    for org in Organization.objects.filter(pk__in=ids).select_related("parent__parent"):
        chain, node = [], org
        while node is not None:
            chain.append(node.pk)
            node = node.parent
        chains.append(chain)
    common = set(chains[0]).intersection(*chains[1:]) if chains else set()
    return next((pk for pk in chains[0] if pk in common), None) if chains else None


def covering_organization(organization_ids, actor) -> int | None:
    """The nearest organization covering all of `organization_ids` (with none: all of the person's own), where a
    job of theirs is filed; None when they share none."""
    return _covering_organization(organization_ids, actor)


def _visible_to(actor, organization_id: int | None) -> bool:
    if access.sees_everything(actor):
        return True
    return organization_id is not None and access.organizations(actor).filter(pk=organization_id).exists()


def visible(record: DataImport, actor) -> bool:
    """Whether `actor` may see the record (licensing.access), as the pages that show it will ask."""
    return access.restrict(DataImport.objects.filter(pk=record.pk), actor).exists()


def touched_organization(instance) -> int | None:
    if isinstance(instance, Organization):
        return instance.pk or instance.parent_id
    return ownership.organization_id_of(instance)
