"""Jobs as a person meets them: a large import uploaded and confirmed returns at once with the job's page, the job
does the same import (all rows or none, each history row stamped with the import), a failed job says why in
plain words and writes nothing, a job run twice writes once, and people see only their organizations' jobs;
reports and reminders as jobs. (The ZIP of filings as a job: tests/test_filings.py.)"""

import datetime
import io
import zipfile

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from licensing import job_kinds, jobs, services
from licensing.models import DataImport, Filing, Job, ReminderSent, UserCount
from tests.factories import ApplicationFactory, LicenseFactory, UserCountFactory, UserFactory, member, record

pytestmark = pytest.mark.django_db

HEADER = (
    "Organization,System name,License year,Method,(a) access CPT directly,(b) produce output with it,(c) use its output"
)
SYSTEMS = 8


@pytest.fixture
def big_imports(settings):
    # "Large" is a setting: a handful of rows stands for thousands here.
    settings.IMPORT_JOB_MIN_ROWS = 5


@pytest.fixture
def systems(org_a):
    return [ApplicationFactory(organization=org_a, name=f"System {n}") for n in range(SYSTEMS)]


def counts_file(lines, name="counts.csv"):
    return SimpleUploadedFile(name, ("\n".join([HEADER, *lines]) + "\n").encode(), content_type="text/csv")


def rows_for(systems, users=lambda n: 10 + n):
    return [f"alpha-health,System {n},2026,Counted,{users(n)},0,0" for n in range(len(systems))]


def upload(client, file, capture, reason="Annual recount"):
    with capture(execute=True):
        return client.post(reverse("admin:licensing_usercount_import"), {"file": file, "change_reason": reason})


def job_page(client, job):
    return client.get(reverse("admin:licensing_job_change", args=[job.pk]))


def preview_and_confirm(client, systems, capture, **kwargs):
    """Upload a large counts file and confirm it, as a person does; the two jobs and the confirmed import."""
    uploaded = upload(client, counts_file(rows_for(systems, **kwargs)), capture)
    preview_job = Job.objects.get()
    assert uploaded.status_code == 302 and uploaded["Location"] == job_page_url(preview_job)
    preview = preview_job.data_import
    with capture(execute=True):
        confirmed = client.post(reverse("admin:licensing_dataimport_change", args=[preview.pk]))
    confirm_job = Job.objects.exclude(pk=preview_job.pk).get()
    assert confirmed.status_code == 302 and confirmed["Location"] == job_page_url(confirm_job)
    return preview_job, confirm_job


def stored_inputs() -> list[str]:
    """The uploaded files jobs keep in storage."""
    from django.core.files.storage import default_storage

    return default_storage.listdir("jobs/input")[1] if default_storage.exists("jobs/input") else []


def job_page_url(job):
    return reverse("admin:licensing_job_change", args=[job.pk])


def test_a_large_import_runs_as_jobs_and_writes_every_row_stamped_with_the_import(
    officer_client, officer, systems, big_imports, django_capture_on_commit_callbacks
):
    UserCountFactory(application=systems[0], license_year=2026, direct_users=1)
    preview_job, confirm_job = preview_and_confirm(officer_client, systems, django_capture_on_commit_callbacks)

    preview_job.refresh_from_db()
    assert (preview_job.state, preview_job.error, preview_job.attempts) == (Job.State.DONE, "", 1)
    # The job's copy of the upload went when it finished; the preview kept its own, which the confirmation read.
    assert stored_inputs() == [] and preview_job.input_file.name == ""
    assert "jobs/input/" in preview_job.history.earliest("history_id").input_file
    assert (preview_job.progress_done, preview_job.progress_total) == (SYSTEMS, SYSTEMS)
    assert preview_job.data_import.outcome == DataImport.Outcome.PREVIEWED
    page = job_page(officer_client, preview_job).content.decode()
    assert 'id="job-state" class="job-state job-state-done">Done' in page
    assert f"{SYSTEMS} of {SYSTEMS} rows" in page and "The preview is ready" in page
    # A finished job's page neither refreshes itself nor runs the progress script.
    assert 'http-equiv="refresh"' not in page and "job.js" not in page

    confirm_job.refresh_from_db()
    done = confirm_job.data_import
    assert confirm_job.state == Job.State.DONE and done.outcome == DataImport.Outcome.CONFIRMED
    assert (done.new_rows, done.updated_rows) == (SYSTEMS - 1, 1)
    counts = {c.application.name: c.direct_users for c in UserCount.objects.select_related("application")}
    assert counts == {f"System {n}": 10 + n for n in range(SYSTEMS)}
    # One history row per record written, each with the person, the reason and the import's number.
    written = UserCount.history.filter(data_import_id=done.pk)
    assert sorted(written.values_list("application__name", "history_type")) == sorted(
        [("System 0", "~")] + [(f"System {n}", "+") for n in range(1, SYSTEMS)]
    )
    assert set(written.values_list("history_user_name", "history_change_reason")) == {("officer-a", "Annual recount")}
    # The job's own history says who started it and how it went.
    assert list(confirm_job.history.order_by("history_id").values_list("history_change_reason", flat=True)) == [
        "Import of counts.csv: confirmation: queued",
        "Import of counts.csv: confirmation: started (attempt 1)",
        "Import of counts.csv: confirmation: done",
    ]


def test_a_small_import_stays_in_the_request(officer_client, systems, big_imports, django_capture_on_commit_callbacks):
    response = upload(officer_client, counts_file(rows_for(systems[:3])), django_capture_on_commit_callbacks)
    assert response["Location"] == reverse("admin:licensing_dataimport_change", args=[DataImport.objects.get().pk])
    assert not Job.objects.exists()


def test_a_refused_file_fails_its_job_in_plain_words_and_writes_nothing(
    officer_client, systems, big_imports, django_capture_on_commit_callbacks
):
    lines = rows_for(systems)
    lines[3] = "alpha-health,System 3,2026,Counted,many,0,0"
    upload(officer_client, counts_file(lines), django_capture_on_commit_callbacks)
    job = Job.objects.get()
    assert job.state == Job.State.FAILED and job.input_file.name == "" and stored_inputs() == []
    assert job.error.startswith("The file was refused and nothing was written. 1 row(s) have errors")
    page = job_page(officer_client, job).content.decode()
    assert "job-state-failed" in page and "The file was refused and nothing was written." in page
    assert not UserCount.objects.exists() and job.data_import.outcome == DataImport.Outcome.REFUSED


def test_a_confirmation_refused_because_records_changed_fails_and_writes_nothing(
    officer_client, officer, systems, big_imports, django_capture_on_commit_callbacks
):
    count = UserCountFactory(application=systems[0], license_year=2026, direct_users=1)
    upload(officer_client, counts_file(rows_for(systems)), django_capture_on_commit_callbacks)
    preview = Job.objects.get().data_import
    count.direct_users = 2
    services.record_save(count, actor=None, reason="Someone else's recount")
    with django_capture_on_commit_callbacks(execute=True):
        officer_client.post(reverse("admin:licensing_dataimport_change", args=[preview.pk]))
    job = Job.objects.get(title__endswith="confirmation")
    assert job.state == Job.State.FAILED and "nothing was written" in job.error
    assert "changed since" in job.error or "The data changed since the preview" in job.error
    assert UserCount.objects.count() == 1 and UserCount.objects.get().direct_users == 2


def test_a_job_that_breaks_midway_writes_nothing_and_says_so(
    officer_client, systems, big_imports, django_capture_on_commit_callbacks, monkeypatch
):
    upload(officer_client, counts_file(rows_for(systems)), django_capture_on_commit_callbacks)
    preview = Job.objects.get().data_import
    real_run = job_kinds.imports.run

    def run_then_break(**kwargs):
        real_run(**kwargs)  # every row written ...
        raise OSError("disk full")  # ... then the worker's disk fills up before the job is marked done

    monkeypatch.setattr(job_kinds.imports, "run", run_then_break)
    with django_capture_on_commit_callbacks(execute=True):
        officer_client.post(reverse("admin:licensing_dataimport_change", args=[preview.pk]))
    job = Job.objects.get(title__endswith="confirmation")
    assert job.state == Job.State.FAILED
    assert job.error == jobs.UNEXPECTED.format(pk=job.pk)
    assert not UserCount.objects.exists() and not UserCount.history.exists()
    assert not DataImport.objects.filter(outcome=DataImport.Outcome.CONFIRMED).exists()


def test_a_job_delivered_again_writes_once(officer_client, systems, big_imports, django_capture_on_commit_callbacks):
    preview_job, confirm_job = preview_and_confirm(officer_client, systems, django_capture_on_commit_callbacks)
    history = UserCount.history.count()
    jobs.perform(confirm_job.pk)  # a second delivery of the finished job
    assert UserCount.objects.count() == SYSTEMS and UserCount.history.count() == history
    confirm_job.refresh_from_db()
    assert confirm_job.attempts == 1


def test_a_job_whose_worker_died_is_done_once_by_the_next(
    officer, systems, big_imports, django_capture_on_commit_callbacks
):
    content = ("\n".join([HEADER, *rows_for(systems)]) + "\n").encode()
    with django_capture_on_commit_callbacks(execute=False):
        job = job_kinds.import_as_job(
            resource_name="user-counts", file_name="counts.csv", content=content, actor=officer, reason="Recount"
        )
    # The first worker marked it running and died before its work committed (nothing of it was kept).
    job.state, job.attempts = Job.State.RUNNING, 1
    services.record_save(job, actor=officer, reason="counts.csv: started (attempt 1)")
    jobs.perform(job.pk)
    job.refresh_from_db()
    assert (job.state, job.attempts) == (Job.State.DONE, 2)
    with django_capture_on_commit_callbacks(execute=False):
        confirm = job_kinds.confirm_as_job(preview=job.data_import, actor=officer)
    jobs.perform(confirm.pk)
    jobs.perform(confirm.pk)
    assert UserCount.objects.count() == SYSTEMS and UserCount.history.count() == SYSTEMS
    assert DataImport.objects.filter(outcome=DataImport.Outcome.CONFIRMED).count() == 1


def test_confirming_twice_while_the_job_is_queued_starts_one_job(
    officer_client, systems, big_imports, django_capture_on_commit_callbacks
):
    upload(officer_client, counts_file(rows_for(systems)), django_capture_on_commit_callbacks)
    preview = Job.objects.get().data_import
    url = reverse("admin:licensing_dataimport_change", args=[preview.pk])
    with django_capture_on_commit_callbacks(execute=False):
        first = officer_client.post(url)
        second = officer_client.post(url)
    assert first["Location"] == second["Location"]
    assert Job.objects.count() == 2


def test_a_running_job_page_refreshes_with_and_without_javascript(officer_client, org_a):
    job = record(Job, kind=Job.Kind.IMPORT, organization=org_a, title="Import of big.csv", progress_total=500)
    job.state = Job.State.RUNNING
    services.record_save(job, actor=None, reason="started")
    jobs.Progress(job).advance(120)
    page = job_page(officer_client, job).content.decode()
    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in page
    assert "licensing/job.js" in page and 'value="120"' in page and "120 of 500 rows" in page
    progress = officer_client.get(reverse("admin:licensing_job_progress", args=[job.pk])).json()
    assert progress == {"state": "running", "label": "Running", "done": 120, "total": 500, "finished": False}


def test_people_see_only_their_organizations_jobs_and_files(client, org_a, org_b, auditor):
    ours = record(Job, kind=Job.Kind.FILINGS_ZIP, organization=org_a, title="ZIP of 2 filings")
    jobs.save_result(ours, "filings.zip", b"PK...")
    services.record_save(ours, actor=None, reason="done")
    theirs = record(Job, kind=Job.Kind.FILINGS_ZIP, organization=org_b, title="Beta ZIP of 3 filings")
    jobs.save_result(theirs, "beta.zip", b"PK...")
    services.record_save(theirs, actor=None, reason="done")
    system_wide = record(Job, kind=Job.Kind.REMINDERS, organization=None, title="Reminders for 2026-12-01")
    stranger = UserFactory(username="officer-b")
    member(stranger, org_b, "officer")
    client.force_login(stranger)
    missing = Job.objects.order_by("-pk").first().pk + 100
    for name in ("admin:licensing_job_change", "admin:licensing_job_progress", "admin:licensing_job_download"):
        assert client.get(reverse(name, args=[ours.pk])).status_code == 404
        assert client.get(reverse(name, args=[missing])).status_code == 404
        assert client.get(reverse(name, args=[system_wide.pk])).status_code == 404
    assert client.get(reverse("admin:licensing_job_download", args=[theirs.pk])).getvalue() == b"PK..."
    listing = client.get(reverse("admin:licensing_job_changelist")).content.decode()
    assert "Beta ZIP of 3 filings" in listing and "ZIP of 2 filings</a>" not in listing
    assert "Reminders for" not in listing

    client.force_login(auditor)
    download = client.get(reverse("admin:licensing_job_download", args=[ours.pk]))
    assert download["Content-Disposition"] == 'attachment; filename="filings.zip"'
    assert client.post(reverse("admin:licensing_job_change", args=[ours.pk])).status_code == 403
    admin = UserFactory(username="admin", is_superuser=True, is_staff=True)
    client.force_login(admin)
    assert client.get(reverse("admin:licensing_job_change", args=[system_wide.pk])).status_code == 200


def test_the_job_list_makes_the_same_queries_for_few_and_many_jobs(officer_client, org_a):
    url = reverse("admin:licensing_job_changelist")

    def queries_with(jobs_now):
        while Job.objects.count() < jobs_now:
            n = Job.objects.count()
            record(Job, kind=Job.Kind.IMPORT, organization=org_a, title=f"Import {n}", progress_total=10)
        officer_client.get(url)
        with CaptureQueriesContext(connection) as queries:
            page = officer_client.get(url)
        assert page.status_code == 200 and f"Import {jobs_now - 1}" in page.content.decode()
        return len(queries)

    assert queries_with(2) == queries_with(20)


# ZIPs, reports, reminders and the queue ----------------------------------------------------------------------


def test_an_auditor_gets_the_zip_in_the_request_and_starts_no_job(
    auditor_client, org_a, django_capture_on_commit_callbacks
):
    filing = record(Filing, organization=org_a, license_year=2026)
    with django_capture_on_commit_callbacks(execute=True):
        response = auditor_client.post(
            "/admin/licensing/filing/", {"action": "download_zip", "_selected_action": [filing.pk]}
        )
    assert response["Content-Type"] == "application/zip" and not Job.objects.exists()
    names = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist()
    assert names == [job_kinds.zip_member_name(filing)]


def test_a_compliance_report_prepared_by_a_job_is_the_one_downloaded_directly(
    officer_client, auditor, client, org_a, django_capture_on_commit_callbacks
):
    ApplicationFactory(organization=org_a, name="Patient Accounting")
    url = reverse("admin:licensing_organization_report", args=[org_a.pk])
    with django_capture_on_commit_callbacks(execute=True):
        started = officer_client.post(url, {"job-year": "2026", "job-format": "csv"})
    job = Job.objects.get()
    assert started["Location"] == job_page_url(job) and job.state == Job.State.DONE
    assert (job.kind, job.organization, job.started_by_name) == (Job.Kind.COMPLIANCE_REPORT, org_a, "officer-a")
    prepared = officer_client.get(reverse("admin:licensing_job_download", args=[job.pk]))
    direct = officer_client.get(url, {"year": "2026", "format": "csv"})
    assert b"".join(prepared.streaming_content) == direct.content and b"Patient Accounting" in direct.content
    assert prepared["Content-Disposition"] == direct["Content-Disposition"]

    refused = officer_client.post(url, {"job-year": "1800", "job-format": "csv"})
    assert refused.status_code == 200 and "Choose a license year from" in refused.content.decode()
    client.force_login(auditor)
    assert "report-job-form" not in client.get(url).content.decode()
    assert client.post(url, {"job-year": "2026", "job-format": "csv"}).status_code == 403
    assert Job.objects.count() == 1


def test_the_scheduled_reminders_are_a_job_only_administrators_see(officer_client, org_a, officer, mailoutbox):
    from licensing import tasks
    from portal.celery import app

    app.loader.import_default_modules()
    assert settings.CELERY_BEAT_SCHEDULE["send-reminders"]["task"] in app.tasks
    officer.email = "officer-a@example.org"
    services.person_save(person=officer, actor=None, reason="E-mail address")
    license = LicenseFactory(
        application=ApplicationFactory(organization=org_a, name="Billing"),
        license_year=timezone.localdate().year,
        ends_on=timezone.localdate() + datetime.timedelta(days=5),
    )
    tasks.send_reminders()
    job = Job.objects.get()
    assert (job.kind, job.state, job.organization, job.started_by_name) == (Job.Kind.REMINDERS, "done", None, "")
    assert len(mailoutbox) == 1 and ReminderSent.objects.get().object_id == license.pk
    with job.result_file.open("rb") as stored:
        assert "1 e-mail(s) sent" in stored.read().decode()
    # Run again (a second beat, a redelivery): nothing is sent twice.
    tasks.send_reminders()
    assert len(mailoutbox) == 1 and ReminderSent.objects.count() == 1
    assert officer_client.get(job_page_url(job)).status_code == 404


def test_a_job_the_queue_refuses_fails_in_plain_words(
    officer, org_a, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from kombu.exceptions import OperationalError

    from licensing import tasks

    settings.JOBS_IN_PROCESS = False

    def unreachable(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.run_job, "apply_async", unreachable)
    with django_capture_on_commit_callbacks(execute=True):
        job = job_kinds.report_as_job(organization=org_a, choice={"year": 2026, "format": "csv"}, actor=officer)
    job.refresh_from_db()
    assert (job.state, job.error, job.attempts) == (Job.State.FAILED, jobs.UNQUEUED, 0)


def test_with_a_broker_the_job_is_queued_under_its_task_id(
    officer, org_a, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from licensing import tasks

    settings.JOBS_IN_PROCESS = False
    sent = []
    monkeypatch.setattr(tasks.run_job, "apply_async", lambda **kwargs: sent.append(kwargs))
    with django_capture_on_commit_callbacks(execute=True):
        job = job_kinds.report_as_job(organization=org_a, choice={"year": 2026, "format": "csv"}, actor=officer)
    assert sent == [{"args": [job.pk], "task_id": job.task_id}]
    job.refresh_from_db()
    assert job.state == Job.State.QUEUED


# A result file and a rollback ---------------------------------------------------------------------------------


def stored_results() -> list[str]:
    from django.core.files.storage import default_storage

    return default_storage.listdir("jobs/results")[1] if default_storage.exists("jobs/results") else []


def break_after_storing(monkeypatch):
    real = jobs.save_result

    def store_then_break(*args, **kwargs):
        real(*args, **kwargs)  # the file is in storage ...
        raise OSError("disk full")  # ... and the job breaks before its row names it

    monkeypatch.setattr(jobs, "save_result", store_then_break)


def break_when_marked_done(monkeypatch):
    real = services.record_save

    def refuse_done(obj, **kwargs):
        if isinstance(obj, Job) and kwargs["reason"].endswith((": done", ": failed")) and obj.result_file:
            raise OSError("the database went away")  # the file is stored, the row that names it is not
        return real(obj, **kwargs)

    monkeypatch.setattr(services, "record_save", refuse_done)


@pytest.mark.parametrize("breaking", [break_after_storing, break_when_marked_done])
@pytest.mark.parametrize("kind", ["report", "reminders"])
def test_a_job_that_fails_after_storing_its_file_leaves_no_file_behind(
    officer_client, officer, org_a, monkeypatch, django_capture_on_commit_callbacks, breaking, kind
):
    breaking(monkeypatch)
    if kind == "report":
        with django_capture_on_commit_callbacks(execute=True):
            job = job_kinds.report_as_job(organization=org_a, choice={"year": 2026, "format": "csv"}, actor=officer)
    else:
        job = job_kinds.reminders_job(today=datetime.date(2026, 3, 1))
        jobs.perform(job.pk)
    job.refresh_from_db()
    partly = kind == "reminders"  # not atomic: what it sent stays sent, and it says so
    assert (job.state, job.error) == (
        Job.State.FAILED,
        (jobs.UNEXPECTED_PARTLY if partly else jobs.UNEXPECTED).format(pk=job.pk),
    )
    assert not job.result_file and stored_results() == []
    if kind == "report":
        page = job_page(officer_client, job).content.decode()
        assert "nothing of its work was written" in page and "job-download" not in page


def test_a_job_that_stores_its_file_and_finishes_keeps_it(officer, org_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = job_kinds.report_as_job(organization=org_a, choice={"year": 2026, "format": "csv"}, actor=officer)
    job.refresh_from_db()
    assert job.state == Job.State.DONE and stored_results() == [job.result_file.name.rsplit("/", 1)[1]]


# Old result files ---------------------------------------------------------------------------------------------


def finished_job(organization, name: str, *, days_ago: int, state=Job.State.DONE) -> Job:
    job = record(Job, kind=Job.Kind.FILINGS_ZIP, organization=organization, title=f"ZIP {name}", task_id=name)
    jobs.save_result(job, f"{name}.zip", b"PK...")
    job.state, job.finished_at = state, timezone.now() - datetime.timedelta(days=days_ago, hours=1)
    return services.record_save(job, actor=None, reason=f"ZIP {name}: {state}")


def test_result_files_past_their_retention_are_removed_once_and_their_page_says_when(officer_client, org_a, settings):
    from django.core.files.storage import default_storage
    from django.core.management import call_command

    from licensing import tasks
    from licensing.audit import verification
    from portal.celery import app

    settings.JOB_FILES_RETENTION_DAYS = 30
    old = finished_job(org_a, "old", days_ago=31)
    old_failed = finished_job(org_a, "old-failed", days_ago=45, state=Job.State.FAILED)
    recent = finished_job(org_a, "recent", days_ago=29)
    running = record(Job, kind=Job.Kind.FILINGS_ZIP, organization=org_a, title="ZIP running", state=Job.State.RUNNING)
    jobs.save_result(running, "running.zip", b"PK...")
    services.record_save(running, actor=None, reason="ZIP running: started")
    old_name, old_failed_name, recent_name = old.result_file.name, old_failed.result_file.name, recent.result_file.name

    out = io.StringIO()
    call_command("remove_old_job_files", stdout=out)
    assert "2 result file(s) removed of jobs finished more than 30 days ago." in out.getvalue()
    assert not default_storage.exists(old_name) and not default_storage.exists(old_failed_name)
    assert default_storage.exists(recent_name) and default_storage.exists(running.result_file.name)
    old.refresh_from_db()
    assert (old.result_file.name, old.result_name, old.state) == ("", "old.zip", Job.State.DONE)
    assert timezone.now() - old.result_removed_at < datetime.timedelta(minutes=1)
    newest = old.history.order_by("-history_id").first()
    assert newest.history_change_reason == "ZIP old: result file removed after 30 days"
    assert newest.history_user_id is None and newest.result_removed_at == old.result_removed_at
    recent.refresh_from_db()
    assert recent.result_removed_at is None and recent.result_file.name == recent_name
    assert verification.verify() == []

    # Beat's nightly run (and any run after) finds nothing left to do and writes no history.
    app.loader.import_default_modules()
    assert settings.CELERY_BEAT_SCHEDULE["remove-old-job-files"]["task"] in app.tasks
    history = Job.history.count()
    tasks.remove_old_job_files()
    assert Job.history.count() == history and default_storage.exists(recent_name)

    page = job_page(officer_client, old).content.decode()
    assert (
        f"The result file old.zip was removed on {timezone.localtime(old.result_removed_at):%Y-%m-%d}, 31 days after "
        "the job finished: job files are kept for 30 days." in page
    )
    assert "job-download" not in page
    # A download link kept from before leads to the page that says so, not to an error.
    download = officer_client.get(reverse("admin:licensing_job_download", args=[old.pk]))
    assert download.status_code == 302 and download["Location"] == job_page_url(old)
    recent_page = job_page(officer_client, recent).content.decode()
    assert "job-download" in recent_page and "job-file-removed" not in recent_page


def test_the_clean_up_command_refuses_to_keep_files_less_than_a_day(org_a):
    from django.core.management import CommandError, call_command

    kept = finished_job(org_a, "kept", days_ago=2)
    with pytest.raises(CommandError, match="--days is 0: give the days to keep job files, 1 or more."):
        call_command("remove_old_job_files", "--days", "0")
    out = io.StringIO()
    call_command("remove_old_job_files", "--days", "1", stdout=out)
    assert f"Removed kept.zip of job #{kept.pk}: ZIP kept" in out.getvalue()


def test_uploads_that_finished_jobs_still_hold_are_removed_and_recorded(org_a):
    """Jobs that finished before their upload was dropped on finishing kept it; the nightly clean-up removes it."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.core.management import call_command

    from licensing import tasks
    from licensing.audit import verification

    def holding_upload(name: str, state) -> Job:
        job = record(Job, kind=Job.Kind.FILINGS_ZIP, organization=org_a, title=f"Import {name}", task_id=name)
        job.input_file.save(f"{name}.csv", ContentFile(b"organization,application\n"), save=False)
        job.state = state
        return services.record_save(job, actor=None, reason=f"Import {name}: {state}")

    done, failed = holding_upload("done", Job.State.DONE), holding_upload("failed", Job.State.FAILED)
    running = holding_upload("running", Job.State.RUNNING)
    done_name, failed_name = done.input_file.name, failed.input_file.name

    out = io.StringIO()
    call_command("remove_old_job_files", stdout=out)
    assert "2 upload(s) removed that finished jobs still held." in out.getvalue()
    assert not default_storage.exists(done_name) and not default_storage.exists(failed_name)
    assert default_storage.exists(running.input_file.name)
    done.refresh_from_db()
    assert done.input_file.name == "" and done.state == Job.State.DONE
    newest = done.history.order_by("-history_id").first()
    assert newest.history_change_reason == "Import done: uploaded file removed, the job having finished"
    assert verification.verify() == []

    history = Job.history.count()
    tasks.remove_old_job_files()
    assert Job.history.count() == history and default_storage.exists(running.input_file.name)
