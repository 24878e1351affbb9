"""Celery tasks (found by portal/celery.py's autodiscovery): thin, the work is licensing.jobs."""

from celery import shared_task

from licensing import jobs


@shared_task(name="licensing.tasks.run_job")
def run_job(job_id: int) -> None:
    """Run one job; a redelivered copy of a job already finished does nothing (licensing.jobs.perform)."""
    jobs.perform(job_id)


@shared_task(name="licensing.tasks.render_draft_preview", ignore_result=True)
def render_draft_preview(filing_id: int) -> None:
    """A draft's PDF rendered into the cache (licensing.pdf.render_draft); one gone or submitted since is skipped."""
    from licensing import services
    from licensing.models import Filing

    filing = Filing.objects.filter(pk=filing_id, status=Filing.Status.DRAFT).first()
    if filing is not None:
        services.filing_pdf(filing)


@shared_task(name="licensing.tasks.send_reminders")
def send_reminders() -> None:
    """The daily reminders (CELERY_BEAT_SCHEDULE), as a job administrators see under Jobs."""
    from licensing import job_kinds

    jobs.perform(job_kinds.reminders_job().pk)


@shared_task(name="licensing.tasks.remove_old_job_files")
def remove_old_job_files() -> None:
    """The nightly clean-up (CELERY_BEAT_SCHEDULE): result files of jobs finished past JOB_FILES_RETENTION_DAYS,
    and any upload a finished job still holds."""
    jobs.remove_old_results(actor=None)
    jobs.remove_leftover_inputs(actor=None)
