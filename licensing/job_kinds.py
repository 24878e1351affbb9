"""What each kind of job does (licensing.jobs runs them): the same code the pages run, off the request."""

import datetime
import tempfile
from functools import partial

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.utils import timezone

from licensing import access, imports, jobs, pdf, reminders, reports, services, spreadsheets
from licensing.choices import ImportOutcome, JobKind, JobState
from licensing.models import DataImport, Filing, Job, Organization

PREVIEW = "preview"
CONFIRM = "confirm"


@jobs.runs(JobKind.IMPORT)
def run_import(job: Job, progress: jobs.Progress) -> None:
    """A large import's preview (a dry run of the uploaded file) or its confirmation, as licensing.imports.run.

    The confirmation writes every row or nothing, and stamps the import's number on every history row; a
    preview already confirmed is refused by imports.run, so a second job of the same confirmation writes nothing.
    """
    parameters = job.parameters
    preview = None
    if parameters["step"] == CONFIRM:
        preview = DataImport.objects.get(pk=parameters["preview_id"])
        stored = preview.upload
    else:
        stored = job.input_file
    with stored.open("rb") as file:
        content = file.read()
    record = imports.run(
        resource_name=parameters["resource"],
        file_name=parameters["file_name"],
        content=content,
        actor=job.started_by,
        reason=parameters.get("reason", ""),
        dry_run=parameters["step"] == PREVIEW,
        preview=preview,
        keep_file=True,
        progress=progress.advance,
        parameters=parameters.get("import_parameters"),
    )
    job.data_import = record
    if record.outcome == ImportOutcome.REFUSED:
        job.error = refusal(record)


def refusal(record: DataImport) -> str:
    problems = record.report.get("problems", [])
    if problems:
        said = " ".join(problems[:3])
    else:
        said = f"{record.error_rows} row(s) have errors; the import's page lists each with what to correct."
    return f"The file was refused and nothing was written. {said}"


def import_as_job(
    *, resource_name: str, file_name: str, content: bytes, actor, reason: str, parameters: dict | None = None
) -> Job | None:
    """Start the preview of a large file as a job; None when the file is small enough to preview in the request.

    Also None when the person's organizations share no organization to file the job under (it would be visible
    to administrators only): the request's own preview then says what to do.
    """
    rows = spreadsheets.estimated_rows(file_name, content)
    if rows < settings.IMPORT_JOB_MIN_ROWS or len(content) > settings.IMPORT_MAX_UPLOAD_BYTES:
        return None
    organization_id = imports.covering_organization((), actor)
    if organization_id is None and not access.sees_everything(actor):
        return None
    return jobs.start(
        kind=JobKind.IMPORT,
        title=f"Import of {file_name}: preview",
        actor=actor,
        organization_id=organization_id,
        parameters={
            "step": PREVIEW,
            "resource": resource_name,
            "file_name": file_name,
            "reason": reason,
            # What the import needs besides the file (a roster's application, year, date and source).
            "import_parameters": parameters or {},
        },
        total=rows,
        input_name=file_name,
        input_content=content,
    )


def confirm_as_job(*, preview: DataImport, actor) -> Job | None:
    """Start the confirmation of a large preview as a job (or find the one already under way); None when small."""
    rows = preview.new_rows + preview.updated_rows + preview.unchanged_rows + preview.error_rows
    if rows < settings.IMPORT_JOB_MIN_ROWS:
        return None
    under_way = Job.objects.filter(
        kind=JobKind.IMPORT, state__in=[JobState.QUEUED, JobState.RUNNING], parameters__preview_id=preview.pk
    ).first()
    if under_way is not None:
        return under_way
    return jobs.start(
        kind=JobKind.IMPORT,
        title=f"Import of {preview.file_name}: confirmation",
        actor=actor,
        organization_id=preview.organization_id,
        parameters={
            "step": CONFIRM,
            "preview_id": preview.pk,
            "resource": preview.resource,
            "file_name": preview.file_name,
            "reason": preview.reason,
        },
        total=rows,
    )


# ZIPs of filings ---------------------------------------------------------------------------------------------


def may_start(actor, organization_id: int | None) -> bool:
    """Whether `actor` may start a job filed under the organization: its officers and administrators may; an
    auditor writes nothing, a job's record included, so the pages do an auditor's work in the request."""
    if access.sees_everything(actor):
        return True
    changeable = access.organizations(actor, access.CHANGE)
    return organization_id is not None and changeable.filter(pk=organization_id).exists()


def zip_member_name(filing: Filing) -> str:
    name = filing.file_name
    return name if filing.is_frozen else name.replace(".pdf", f"_DRAFT-{filing.pk}.pdf")


def zip_as_job(*, filings: list[Filing], actor) -> Job | None:
    """Start a job building one ZIP of the filings' PDFs; None when the person may not start one under the
    organization covering them all (an auditor; no such organization): the page then streams the ZIP itself."""
    organization_id = imports.covering_organization({filing.organization_id for filing in filings}, actor)
    if not may_start(actor, organization_id):
        return None
    count = len(filings)
    return jobs.start(
        kind=JobKind.FILINGS_ZIP,
        title=f"ZIP of {count} license application{'s' if count != 1 else ''}",
        actor=actor,
        organization_id=organization_id,
        parameters={"filing_ids": [filing.pk for filing in filings]},
        total=count,
        unit="filings",
    )


@jobs.runs(JobKind.FILINGS_ZIP)
def run_filings_zip(job: Job, progress: jobs.Progress) -> None:
    """The ZIP the filings list's action used to stream, rendered one PDF at a time into a file in storage.

    Only the filings the person who started the job may still see go in (their access is read now).
    """
    chosen = list(
        access.restrict(Filing.objects.filter(pk__in=job.parameters["filing_ids"]), job.started_by)
        .select_related("organization")
        .order_by("organization__name", "license_year", "pk")
    )
    if not chosen:
        job.error = "None of the chosen license applications is available to you any more; nothing was built."
        return
    progress.total(len(chosen))

    def rendered(filing: Filing) -> bytes:
        content = services.filing_pdf(filing)
        progress.advance()
        return content

    items = [(zip_member_name(filing), partial(rendered, filing)) for filing in chosen]
    with tempfile.TemporaryFile() as archive:
        for chunk in pdf.stream_zip(items):
            archive.write(chunk)
        archive.seek(0)
        jobs.save_result(job, "CPT-license-applications.zip", File(archive))


# Compliance reports ------------------------------------------------------------------------------------------


def report_as_job(*, organization, choice: dict, actor) -> Job:
    """Start a job writing the organization's compliance report (licensing.reports) to a file."""
    return jobs.start(
        kind=JobKind.COMPLIANCE_REPORT,
        title=f"Compliance report {choice['year']}: {organization.name} ({choice['format'].upper()})",
        actor=actor,
        organization_id=organization.pk,
        parameters={
            "organization_id": organization.pk,
            "year": choice["year"],
            "include_affiliates": bool(choice.get("include_affiliates")),
            "format": choice["format"],
        },
        total=1,
        unit="reports",
    )


@jobs.runs(JobKind.COMPLIANCE_REPORT)
def run_compliance_report(job: Job, progress: jobs.Progress) -> None:
    parameters = job.parameters
    organization = (
        access.restrict(Organization.objects.all(), job.started_by).filter(pk=parameters["organization_id"]).first()
    )
    if organization is None:
        job.error = "You no longer have access to this organization, so the report was not written."
        return
    report = reports.compliance_report(
        organization,
        parameters["year"],
        include_affiliates=parameters["include_affiliates"],
        viewer=job.started_by,
    )
    file_format = parameters["format"]
    jobs.save_result(job, report.file_name(file_format), ContentFile(reports.write(report, file_format)))
    progress.advance()


# Reminders ---------------------------------------------------------------------------------------------------


def reminders_job(*, today: datetime.date | None = None) -> Job:
    """The scheduler's daily job (licensing.tasks.send_reminders): system-wide, seen by administrators only."""
    day = today or timezone.localdate()
    return jobs.start(
        kind=JobKind.REMINDERS,
        title=f"Reminders for {day:%Y-%m-%d}",
        actor=None,
        organization_id=None,
        parameters={"date": day.isoformat()},
        unit="e-mails",
        queue=False,
    )


# Not atomic: e-mails cannot be taken back. send_reminders records each item it sent and never sends an item
# recorded, so a second run after a crash sends only what the first did not record.
@jobs.runs(JobKind.REMINDERS, atomic=False)
def run_reminders(job: Job, progress: jobs.Progress) -> None:
    run = reminders.send_reminders(today=datetime.date.fromisoformat(job.parameters["date"]))
    progress.total(len(run.sent) + len(run.failed))
    progress.advance(len(run.sent))
    lines = [f"Reminders for {run.today:%Y-%m-%d}: {len(run.sent)} e-mail(s) sent, {run.recorded} item(s) recorded."]
    lines += [f"Sent to {digest.name} <{digest.email}>: {digest.subject}" for digest in run.sent]
    lines += [f"Not sent to {digest.name}: no e-mail address." for digest in run.unreachable]
    lines += [f"Not sent to {digest.name} <{digest.email}>: {error}" for digest, error in run.failed]
    jobs.save_result(job, f"reminders-{run.today:%Y-%m-%d}.txt", ContentFile("\n".join(lines).encode()))
    if run.failed:
        job.error = (
            f"{len(run.failed)} e-mail(s) could not be sent (the job's file says to whom and why); nothing was "
            "recorded for those people, so the next run tries them again."
        )
