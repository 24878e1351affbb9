"""Jobs run by real Celery worker processes through the machine's Redis, on PostgreSQL: a large import and a ZIP of
filings end to end, and a worker killed in the middle of an import whose job a second worker then finishes, with
no row or history row written twice.

Redis is JOBS_TEST_REDIS_URL (default redis://127.0.0.1:6379/3). Without it these tests are skipped, except under
CI=true, where a missing Redis fails them (as a missing PostgreSQL fails `make test`). They need PostgreSQL: the
worker is another process, which cannot reach SQLite's in-memory test database.
"""

import fcntl
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.urls import reverse
from pypdf import PdfReader

from licensing import imports, job_kinds, services, standing
from licensing.models import Application, DataImport, Filing, Job, UserCount
from portal.celery import app
from tests.factories import record

# The worker must see the test's data, so it is committed (a transactional test, flushed afterwards).
pytestmark = [
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="Needs PostgreSQL: a worker process cannot reach SQLite's in-memory test database.",
    ),
    pytest.mark.django_db(transaction=True),
]


ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("JOBS_TEST_REDIS_URL", "redis://127.0.0.1:6379/3")
CELERY = Path(sys.executable).parent / "celery"
HEADER = (
    "Organization,System name,License year,Method,(a) access CPT directly,(b) produce output with it,(c) use its output"
)
# Seconds before Redis hands an unacknowledged job to another worker, in these tests.
VISIBILITY_TIMEOUT = 8


@pytest.fixture
def broker(settings, monkeypatch):
    """The machine's Redis as the portal's broker, for this test alone (a lock keeps parallel test processes off
    the same Redis database)."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required under CI=true but nothing answers at {REDIS_URL}.")
        pytest.skip(f"No Redis at {REDIS_URL} (set JOBS_TEST_REDIS_URL, or start redis-server).")
    with open(Path(tempfile.gettempdir()) / "portal-job-worker-tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        redis.Redis.from_url(REDIS_URL).flushdb()
        settings.JOBS_IN_PROCESS = False
        settings.CELERY_BROKER_URL = REDIS_URL
        monkeypatch.setitem(app.conf, "broker_url", REDIS_URL)
        monkeypatch.setitem(app.conf, "task_always_eager", False)
        _forget_connections()
        try:
            yield REDIS_URL
        finally:
            redis.Redis.from_url(REDIS_URL).flushdb()


def _forget_connections():
    # The app's broker connections were made (if ever) for another broker URL: look them up anew, as Celery does
    # after a fork (kombu keeps its pools by URL, so none is closed here).
    app._pool = None
    if "amqp" in app.__dict__:
        app.amqp._producer_pool = None


class Workers:
    """Celery worker processes of the portal, started as an operator would (`celery -A portal worker`)."""

    def __init__(self, folder: Path, broker_url: str, media_root: str):
        self.folder, self.started = folder, []
        db = connection.settings_dict
        password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
        server = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
        self.env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}{password}@{server}/{db['NAME']}",
            "CELERY_BROKER_URL": broker_url,
            "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
            "CELERY_UNACKED_RESTORE_THROTTLE": "1",
            "MEDIA_ROOT": media_root,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
        }

    def start(self) -> subprocess.Popen:
        number = len(self.started) + 1
        log = open(self.folder / f"worker-{number}.log", "wb")
        process = subprocess.Popen(
            [str(CELERY), "-A", "portal", "worker", "--pool", "solo", "--loglevel", "INFO", "-n", f"test{number}@%h",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        process.log = log
        self.started.append(process)
        return process

    def log(self, number: int) -> str:
        return (self.folder / f"worker-{number}.log").read_text(errors="replace")

    def stop(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
            process.log.close()


@pytest.fixture
def workers(broker, settings, tmp_path):
    started = Workers(tmp_path, broker, settings.MEDIA_ROOT)
    yield started
    started.stop()


def wait_for(job: Job, states, *, seconds: float, workers: Workers) -> Job:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.state in states:
            return job
        time.sleep(0.2)
    logs = "\n".join(workers.log(n) for n in range(1, len(workers.started) + 1))
    pytest.fail(f"Job #{job.pk} is {job.state} after {seconds} s, not {states}. Worker logs:\n{logs[-4000:]}")


def systems_of(org, count: int) -> list[Application]:
    apps = [Application(organization=org, name=f"System {n:05}", category="billing_rcm") for n in range(count)]
    return services.record_bulk_create(apps, Application, actor=None, reason="Test data")


def counts_csv(org, count: int, year: int) -> bytes:
    lines = [f"{org.slug},System {n:05},{year},Counted,{10 + n % 50},0,0" for n in range(count)]
    return ("\n".join([HEADER, *lines]) + "\n").encode()


def test_a_worker_imports_a_large_file_and_builds_a_zip(officer_client, officer, org_a, settings, workers):
    settings.IMPORT_JOB_MIN_ROWS = 20
    year = standing.current_license_year()
    systems_of(org_a, 60)
    workers.start()

    upload = SimpleUploadedFile("counts.csv", counts_csv(org_a, 60, year), content_type="text/csv")
    response = officer_client.post(reverse("admin:licensing_usercount_import"), {"file": upload, "change_reason": "Q1"})
    preview_job = Job.objects.get()
    assert response["Location"] == preview_job.get_absolute_url()
    assert preview_job.state == Job.State.QUEUED  # the request returned before the worker took the job
    preview_job = wait_for(preview_job, {Job.State.DONE, Job.State.FAILED}, seconds=90, workers=workers)
    assert (preview_job.state, preview_job.error) == (Job.State.DONE, "")

    officer_client.post(reverse("admin:licensing_dataimport_change", args=[preview_job.data_import_id]))
    confirm_job = wait_for(
        Job.objects.exclude(pk=preview_job.pk).get(), {"done", "failed"}, seconds=90, workers=workers
    )
    assert (confirm_job.state, confirm_job.attempts, confirm_job.progress_done) == (Job.State.DONE, 1, 60)
    done = confirm_job.data_import
    assert done.outcome == DataImport.Outcome.CONFIRMED and done.new_rows == 60
    assert UserCount.objects.count() == 60
    assert UserCount.history.filter(data_import_id=done.pk, history_user_name="officer-a").count() == 60

    drafts = [record(Filing, organization=org_a, license_year=y) for y in (year, year + 1)]
    officer_client.post(
        "/admin/licensing/filing/", {"action": "download_zip", "_selected_action": [f.pk for f in drafts]}
    )
    zip_job = wait_for(Job.objects.get(kind=Job.Kind.FILINGS_ZIP), {"done", "failed"}, seconds=120, workers=workers)
    assert (zip_job.state, zip_job.progress_done) == (Job.State.DONE, 2)
    download = officer_client.get(reverse("admin:licensing_job_download", args=[zip_job.pk]))
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    assert sorted(archive.namelist()) == sorted(job_kinds.zip_member_name(f) for f in drafts)
    for name in archive.namelist():
        assert len(PdfReader(io.BytesIO(archive.read(name))).pages) >= 1


ROWS = int(os.environ.get("JOBS_TEST_KILL_ROWS", "5000"))


def test_a_worker_killed_mid_import_leaves_the_job_to_the_next_which_writes_it_once(officer, org_a, workers):
    year = standing.current_license_year()
    systems_of(org_a, ROWS)
    content = counts_csv(org_a, ROWS, year)
    preview = imports.run(
        resource_name="user-counts", file_name="counts.csv", content=content, actor=officer, dry_run=True,
        keep_file=True, reason="Annual recount",
    )  # fmt: skip
    assert preview.outcome == DataImport.Outcome.PREVIEWED, preview.report.get("problems")
    with transaction.atomic():
        job = job_kinds.confirm_as_job(preview=preview, actor=officer)
    first = workers.start()
    wait_for(job, {Job.State.RUNNING}, seconds=60, workers=workers)
    time.sleep(1.0)  # well into the rows
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    job.refresh_from_db()
    assert job.state == Job.State.RUNNING, f"The job ended before the kill ({job.state}); raise JOBS_TEST_KILL_ROWS."
    assert not UserCount.objects.exists()  # the killed worker's transaction died with it

    workers.start()
    job = wait_for(job, {Job.State.DONE, Job.State.FAILED}, seconds=VISIBILITY_TIMEOUT + 120, workers=workers)
    assert (job.state, job.attempts, job.error) == (Job.State.DONE, 2, "")
    confirmed = DataImport.objects.filter(outcome=DataImport.Outcome.CONFIRMED)
    assert confirmed.count() == 1 and job.data_import_id == confirmed.get().pk
    assert UserCount.objects.count() == ROWS
    assert UserCount.history.count() == ROWS
    assert UserCount.history.filter(data_import_id=job.data_import_id).count() == ROWS
    assert list(job.history.order_by("history_id").values_list("history_change_reason", flat=True)) == [
        "Import of counts.csv: confirmation: queued",
        "Import of counts.csv: confirmation: started (attempt 1)",
        "Import of counts.csv: confirmation: started (attempt 2)",
        "Import of counts.csv: confirmation: done",
    ]
