"""Celery tasks (found by portal/celery.py's autodiscovery): thin, the work is licensing.jobs."""

from celery import shared_task

from licensing import jobs


@shared_task(name="licensing.tasks.run_job")
def run_job(job_id: int) -> None:
    """Run one job; a redelivered copy of a job already finished does nothing (licensing.jobs.perform)."""
    jobs.perform(job_id)


@shared_task(name="licensing.tasks.send_reminders")
def send_reminders() -> None:
    """The daily reminders (CELERY_BEAT_SCHEDULE), as a job administrators see under Jobs."""
    from licensing import job_kinds

    jobs.perform(job_kinds.reminders_job().pk)
