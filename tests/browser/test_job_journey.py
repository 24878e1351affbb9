"""The officer uploads a large import: the upload and the confirmation each show a job's page, which reaches done
and leads on; a job still running moves its progress bar and shows its end without the person reloading."""

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from licensing import jobs, services, standing
from licensing.models import DataImport, Job, UserCount
from tests.browser.steps import log_in
from tests.factories import ApplicationFactory, OrganizationFactory, UserFactory, member, record

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"
SYSTEMS = 40
HEADER = (
    "Organization,System name,License year,Method,(a) access CPT directly,(b) produce output with it,(c) use its output"
)


def test_the_officer_imports_a_large_file_as_jobs(page, screenshots, settings, tmp_path):
    settings.IMPORT_JOB_MIN_ROWS = 25
    hospital = OrganizationFactory(name="Lakeside Health", slug="lakeside-health")
    officer = UserFactory(username="importing-officer")
    member(officer, hospital, "officer")
    for n in range(SYSTEMS):
        ApplicationFactory(organization=hospital, name=f"Clinic System {n:02}")
    year = standing.current_license_year()
    counts = tmp_path / "counts.csv"
    rows = [f"lakeside-health,Clinic System {n:02},{year},Counted,{5 + n},0,0" for n in range(SYSTEMS)]
    counts.write_text("\n".join([HEADER, *rows]) + "\n")

    log_in(page, officer.username, PASSWORD)
    page.goto("/admin/licensing/usercount/import/")
    page.get_by_label("File").set_input_files(str(counts))
    page.get_by_label("Reason").fill("Quarterly access review")
    page.get_by_role("button", name="Preview the import").click()

    # The upload returns with the preview's job, which has finished (no broker here: it ran after the upload).
    expect(page.locator("#job-state")).to_have_text("Done")
    expect(page.locator("#job-progress-text")).to_have_text(f"{SYSTEMS} of {SYSTEMS} rows")
    page.health.check()
    page.locator("#job-import a").click()
    expect(page.locator("#import-totals")).to_contain_text(f"{SYSTEMS} new")
    page.get_by_role("button", name="Confirm import").click()

    expect(page.locator("#job-state")).to_have_text("Done")
    expect(page.get_by_role("heading", level=1)).to_contain_text("confirmation")
    page.health.check()
    page.screenshot(path=str(screenshots / "import-job-done.png"))
    done = DataImport.objects.get(outcome=DataImport.Outcome.CONFIRMED)
    assert UserCount.objects.filter(application__organization=hospital).count() == SYSTEMS
    assert UserCount.history.filter(data_import_id=done.pk).count() == SYSTEMS
    page.locator("#job-import a").click()
    expect(page.locator("#import-outcome")).to_contain_text("Confirmed")


def test_a_running_jobs_page_follows_it_to_the_end(page, screenshots):
    hospital = OrganizationFactory(name="Lakeside Health", slug="lakeside-health")
    officer = UserFactory(username="watching-officer")
    member(officer, hospital, "officer")
    job = record(
        Job,
        kind=Job.Kind.IMPORT,
        organization=hospital,
        title="Import of counts-2027.csv: confirmation",
        started_by=officer,
        started_by_name=officer.username,
        progress_total=50_000,
    )
    job.state = Job.State.RUNNING
    services.record_save(job, actor=officer, reason="started (attempt 1)")
    progress = jobs.Progress(job)
    progress.advance(12_000)

    log_in(page, officer.username, PASSWORD)
    page.goto(job.get_absolute_url())
    expect(page.locator("#job-state")).to_have_text("Running")
    expect(page.locator("#job-progress-text")).to_have_text("12,000 of 50,000 rows")
    page.health.check()
    # The worker gets further: the bar moves without a reload.
    progress.advance(19_500)
    expect(page.locator("#job-progress-text")).to_have_text("31,500 of 50,000 rows", timeout=8000)
    expect(page.locator("#job-progress")).to_have_attribute("value", "31500")
    page.screenshot(path=str(screenshots / "import-job-running.png"))
    # The worker finishes: the page shows the end by itself.
    job.state, job.progress_done = Job.State.DONE, 50_000
    services.record_save(job, actor=officer, reason="done")
    cache.delete(jobs.PROGRESS_KEY.format(pk=job.pk))
    expect(page.locator("#job-state")).to_have_text("Done", timeout=8000)
    expect(page.locator("#job-progress-text")).to_have_text("50,000 of 50,000 rows")
