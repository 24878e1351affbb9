"""Jobs: long work done off the request, each a Job row a person watches (licensing.models.jobs).

    job = jobs.start(kind=Job.Kind.IMPORT, title="Import of counts.csv", actor=request.user, organization_id=...,
                     parameters={...}, total=5000)

`start` saves the row (queued) and, once the caller's transaction commits, hands the job on: to a Celery worker
when CELERY_BROKER_URL is set (licensing.tasks.run_job), otherwise to `perform` right there in the web process,
so `make run` needs no broker. Either way `perform` does the work.

`perform` is safe to run twice for one job (a redelivery after a worker crash, a broker restart): the job's
work and its "done" are written in one transaction with the row locked, so a second delivery either waits and
finds it done, or finds nothing written (the first died) and does it all. A job that fails writes nothing of
its work, only its error.

Progress while running is kept in the cache (the work's transaction holds the row until the end), so a page on
another machine sees it only when CACHES is shared (Redis); the row has the final figures.
"""

from __future__ import annotations

import datetime
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial

from django.conf import settings
from django.core.cache import cache
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models.fields.files import FieldFile
from django.utils import timezone

from licensing import services
from licensing.models import Job

logger = logging.getLogger(__name__)

UNEXPECTED = (
    "The job stopped on an unexpected error, and nothing of its work was written. Start it again; if it fails "
    "again, tell an administrator (the worker's log has the details under job #{pk})."
)
UNEXPECTED_PARTLY = (
    "The job stopped on an unexpected error. What it finished before is kept and is not done again by the next "
    "run; tell an administrator if it happens again (the worker's log has the details under job #{pk})."
)
UNQUEUED = (
    "The job could not be handed to a worker (the job queue did not answer), so it never started and nothing "
    "was written. Try again in a few minutes; if it keeps failing, tell an administrator."
)
# How often a running job writes its progress to the cache, at most.
PROGRESS_EVERY_SECONDS = 0.5
PROGRESS_KEY = "licensing-job-progress-{pk}"

# What each kind of job does, registered by the modules that own the work (licensing.job_kinds).
Runner = Callable[[Job, "Progress"], None]
RUNNERS: dict[str, tuple[Runner, bool]] = {}


def runs(kind: str, *, atomic: bool = True) -> Callable[[Runner], Runner]:
    """Register the function that does the work of jobs of `kind`.

    It gets the Job row and a Progress; it sets the job's result (result_file, data_import) or its `error` (a
    plain-words sentence: the job failed, what it wrote is kept) and returns, or raises to fail the job.
    `atomic` work is written in one transaction with the job's end, so a raise writes nothing of it; work
    that is not (e-mails, which cannot be taken back) commits as it goes and must be safe to run again.
    """

    def register(function: Runner) -> Runner:
        RUNNERS[kind] = (function, atomic)
        return function

    return register


class Progress:
    """How far a running job is, in its unit (rows, filings): written to the cache now and then."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.done = job.progress_done
        self._written = 0.0

    def total(self, total: int) -> None:
        self.job.progress_total = max(total, 0)
        self._write(force=True)

    def advance(self, count: int = 1) -> None:
        self.done += count
        self._write()

    def _write(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._written >= PROGRESS_EVERY_SECONDS:
            self._written = now
            total = self.job.progress_total
            cache.set(PROGRESS_KEY.format(pk=self.job.pk), (min(self.done, total) if total else self.done, total), 3600)


def live_progress(job: Job) -> tuple[int, int]:
    """(done, total) of `job`: the cache's figures while it runs, the row's once it has finished."""
    if job.state == Job.State.RUNNING:
        done, total = cache.get(PROGRESS_KEY.format(pk=job.pk)) or (job.progress_done, job.progress_total)
        return done, total or job.progress_total
    return job.progress_done, job.progress_total


def start(
    *,
    kind: str,
    title: str,
    actor,
    organization_id: int | None,
    parameters: dict,
    total: int = 0,
    unit: str = "rows",
    input_name: str = "",
    input_content: bytes | None = None,
    queue: bool = True,
) -> Job:
    """Save a queued job and have it run once the current transaction commits; returns the saved row.

    `queue=False` leaves it to the caller to `perform` it (a scheduled task already running in a worker).
    """
    job = Job(
        kind=kind,
        title=title[:300],
        organization_id=organization_id,
        started_by=actor,
        started_by_name=actor.get_username() if actor is not None else "",
        parameters=parameters,
        progress_total=total,
        progress_unit=unit,
        task_id=uuid.uuid4().hex,
    )
    if input_content is not None:
        job.input_file.save(f"{job.task_id[:16]}-{input_name}"[:200], ContentFile(input_content), save=False)
    services.record_save(job, actor=actor, reason=f"{job.title}: queued", validate=False)
    if queue:
        transaction.on_commit(partial(dispatch, job.pk, job.task_id))
    return job


def dispatch(job_id: int, task_id: str) -> None:
    """Hand the job to a worker, or, with no broker configured, run it here and now."""
    if settings.JOBS_IN_PROCESS:
        perform(job_id)
        return
    from licensing.tasks import run_job

    try:
        run_job.apply_async(args=[job_id], task_id=task_id)
    except Exception:  # kombu raises its own OperationalError, redis-py its ConnectionError: all mean "not queued".
        logger.exception("Job %s could not be queued", job_id)
        _fail(job_id, UNQUEUED)


def in_background(task, *args) -> None:
    """Work that leaves no record, such as a cache warmed: queued for a worker, or run here with no broker.

    Never fails the caller: the work only saves someone time later, so a failure is logged and forgotten.
    """
    try:
        if settings.JOBS_IN_PROCESS:
            task(*args)
        else:
            task.apply_async(args=args)
    except Exception:
        logger.exception("Background task %s%r failed", task.name, args)


def perform(job_id: int) -> None:
    """Do job `job_id`'s work, once: a job already finished (by another delivery of it) is left alone."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.finished:
            return
        job.state = Job.State.RUNNING
        job.attempts += 1
        job.started_at = timezone.now()
        services.record_save(job, actor=job.started_by, reason=f"{job.title}: started (attempt {job.attempts})")
    runner, atomic = RUNNERS[job.kind]
    try:
        _run(job, runner, atomic=atomic)
    except Exception:
        logger.exception("Job %s failed", job_id)
        _fail(job_id, (UNEXPECTED if atomic else UNEXPECTED_PARTLY).format(pk=job_id))
    finally:
        cache.delete(PROGRESS_KEY.format(pk=job_id))


def _run(job: Job, runner: Runner, *, atomic: bool) -> None:
    kept = job.result_file.name
    try:
        if atomic:
            with transaction.atomic():
                # Locked until the work commits: a second delivery of this job waits here, then finds it finished.
                job = Job.objects.select_for_update().get(pk=job.pk)
                if not job.finished:
                    _work(job, runner)
        else:
            _work(job, runner)
    except BaseException:
        # A result file this run stored that no committed row names would be nobody's: delete it.
        if job.result_file.name and job.result_file.name != kept:
            _discard(job.result_file)
        raise


def _discard(stored: FieldFile) -> None:
    try:
        stored.storage.delete(stored.name)
    except Exception:  # the storage's own errors (S3, a full disk): the job's outcome is what must be reported.
        logger.exception("Could not delete the job file %s", stored.name)


def _work(job: Job, runner: Runner) -> None:
    progress = Progress(job)
    runner(job, progress)
    job.state = Job.State.FAILED if job.error else Job.State.DONE
    if job.state == Job.State.DONE:
        job.progress_done = job.progress_total = max(progress.done, job.progress_total)
    job.finished_at = timezone.now()
    _drop_input(job)
    services.record_save(job, actor=job.started_by, reason=f"{job.title}: {job.get_state_display().lower()}")


def _drop_input(job: Job) -> None:
    """A finished job's copy of the uploaded file goes once the row saying so commits: the import it fed keeps its
    own copy (DataImport.upload, which retention and the roster purge look after), and nothing serves this one."""
    if job.input_file.name:
        transaction.on_commit(partial(_discard, FieldFile(job, job.input_file.field, job.input_file.name)))
        job.input_file = ""


def _fail(job_id: int, error: str) -> None:
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.finished:
            return
        job.state = Job.State.FAILED
        job.error = error
        job.finished_at = timezone.now()
        _drop_input(job)
        services.record_save(job, actor=job.started_by, reason=f"{job.title}: failed")


def save_result(job: Job, name: str, content: File | bytes) -> None:
    """Store the job's result file (through Django's storage) for its download link."""
    stored = content if isinstance(content, File) else ContentFile(content)
    job.result_file.save(f"{job.task_id[:16]}-{name}"[:200], stored, save=False)
    job.result_name = name[:255]


def remove_old_results(
    *, actor: services.Actor, days: int | None = None, now: datetime.datetime | None = None
) -> list[Job]:
    """Delete, through Django's storage, the result files of jobs finished more than `days` ago (default
    JOB_FILES_RETENTION_DAYS), and record on each job, with a history row, that its file was removed and when.

    Each job is done in its own transaction with its row locked, so a second run (or two at once) finds nothing
    left to do; returns the jobs whose file this run removed.
    """
    days = settings.JOB_FILES_RETENTION_DAYS if days is None else days
    now = now or timezone.now()
    due = Job.objects.filter(
        state__in=[Job.State.DONE, Job.State.FAILED],
        finished_at__lt=now - datetime.timedelta(days=days),
        result_removed_at__isnull=True,
    ).exclude(result_file="")
    removed = []
    for job in _each_locked(due):
        # The file goes first: should the save below fail, the next run finds the job again and finishes it.
        job.result_file.storage.delete(job.result_file.name)
        job.result_file = ""
        job.result_removed_at = now
        services.record_save(job, actor=actor, reason=f"{job.title}: result file removed after {days} days")
        removed.append(job)
    return removed


def remove_leftover_inputs(*, actor: services.Actor) -> list[Job]:
    """Delete the uploads still held by finished jobs, recording each removal with a history row.

    A job's copy of its upload goes when it finishes (`_drop_input`); jobs that finished before that rule kept
    theirs, which nothing reads or serves. As in remove_old_results, each job's row is locked and its file goes
    first; a second run finds nothing to do.
    """
    due = Job.objects.filter(state__in=[Job.State.DONE, Job.State.FAILED]).exclude(input_file="")
    removed = []
    for job in _each_locked(due):
        job.input_file.storage.delete(job.input_file.name)
        job.input_file = ""
        services.record_save(job, actor=actor, reason=f"{job.title}: uploaded file removed, the job having finished")
        removed.append(job)
    return removed


def _each_locked(due) -> Iterator[Job]:
    """Each job of `due`, in a transaction of its own with its row locked, skipping any that another run has
    done meanwhile (it no longer matches `due`): the body of the caller's loop runs inside that transaction."""
    for job_id in list(due.values_list("pk", flat=True)):
        with transaction.atomic():
            job = due.select_for_update().filter(pk=job_id).first()
            if job is not None:
                yield job
