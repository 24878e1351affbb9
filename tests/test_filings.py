"""Officers prepare, preview, submit and re-download the AMA application; what was sent never changes."""

import datetime
import hashlib
import io
import re
import zipfile

import pytest
from django.db import connection
from pypdf import PdfReader

from licensing import services
from licensing.models import Contact, Filing, Job
from tests.admin_forms import field_errors, post_admin_form
from tests.factories import ApplicationFactory, LicenseFactory, UserCountFactory, VendorFactory, record

pytestmark = pytest.mark.django_db


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]] if response.context else []


@pytest.fixture
def hospital(org_a):
    record(Contact, organization=org_a, role="legal", name="Morgan Lee", title="General Counsel")
    billing = ApplicationFactory(
        organization=org_a, name="Patient Accounting", category="billing_rcm", data_files=["cpt-standard", "cpt-rvu"]
    )
    coder = ApplicationFactory(organization=org_a, name="Encoder Pro", category="coding")
    ApplicationFactory(
        organization=org_a, name="Vendor EHR", category="ambulatory_ehr", cpt_coverage="vendor", vendor=VendorFactory()
    )
    UserCountFactory(application=billing, license_year=2026, direct_users=40, program_users=5, output_users=3)
    UserCountFactory(application=coder, license_year=2026, direct_users=12)
    LicenseFactory(application=billing, license_year=2026, licensed_users=48)
    return org_a


def prepare(client, organization, year=2026) -> Filing:
    response = client.post(f"/admin/licensing/organization/{organization.pk}/prepare-filing/", {"license_year": year})
    assert response.status_code == 302, response.content[:500]
    return Filing.objects.get(organization=organization, license_year=year)


def test_prepare_includes_direct_applications_and_the_signatory(officer_client, hospital):
    filing = prepare(officer_client, hospital)
    assert sorted(app.name for app in filing.applications.all()) == ["Encoder Pro", "Patient Accounting"]
    assert (filing.status, filing.signatory_name, filing.signatory_title) == ("draft", "Morgan Lee", "General Counsel")
    page = officer_client.get(f"/admin/licensing/filing/{filing.pk}/change/").content.decode()
    assert "Preview PDF (draft)" in page


def test_draft_preview_is_watermarked_and_prefilled(officer_client, hospital):
    filing = prepare(officer_client, hospital)
    response = officer_client.get(f"/admin/licensing/filing/{filing.pk}/pdf/")
    assert response["Content-Type"] == "application/pdf"
    assert "CPT-license-application_alpha-health_2026_DRAFT.pdf" in response["Content-Disposition"]
    text = pdf_text(response.content)
    for expected in ["DRAFT", "Alpha Health", "Patient Accounting", "Encoder Pro", "48", "12"]:
        assert expected in text, expected
    assert "Vendor EHR" not in text


def test_an_unchanged_draft_is_rendered_once_and_a_change_renders_it_again(officer_client, hospital, monkeypatch):
    from licensing import pdf

    renderings = []
    render = pdf.render_application
    monkeypatch.setattr(pdf, "render_application", lambda *a, **k: renderings.append(1) or render(*a, **k))
    filing = prepare(officer_client, hospital)
    url = f"/admin/licensing/filing/{filing.pk}/pdf/"
    first, again = officer_client.get(url).content, officer_client.get(url).content
    assert len(renderings) == 1 and again == first

    count = hospital.applications.get(name="Encoder Pro").user_counts.get(license_year=2026)
    recount = {"direct_users": 173, "change_reason": "Recount"}
    response = post_admin_form(officer_client, f"/admin/licensing/usercount/{count.pk}/change/", recount)
    assert response.status_code == 302, field_errors(response)
    changed = officer_client.get(url).content
    assert len(renderings) == 2 and changed != first
    assert "173" in pdf_text(changed) and "173" not in pdf_text(first)


def test_a_prepared_draft_is_rendered_once_it_commits_so_the_first_preview_renders_nothing(
    officer_client, hospital, monkeypatch, django_capture_on_commit_callbacks
):
    from licensing import pdf

    with django_capture_on_commit_callbacks(execute=True):
        filing = prepare(officer_client, hospital)
    renderings = []
    monkeypatch.setattr(pdf, "render_application", lambda *a, **k: renderings.append(1) or b"not this")
    preview = officer_client.get(f"/admin/licensing/filing/{filing.pk}/pdf/").content
    assert renderings == [] and preview.startswith(b"%PDF")
    assert "Patient Accounting" in pdf_text(preview)


def test_a_failed_rendering_ahead_leaves_the_prepared_draft_and_its_preview_works(
    officer_client, hospital, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    from licensing import pdf

    render = pdf.render_application

    def broken(*args, **kwargs):
        raise pdf.RenderError("font missing")

    monkeypatch.setattr(pdf, "render_application", broken)
    with django_capture_on_commit_callbacks(execute=True):
        filing = prepare(officer_client, hospital)
    assert filing.status == "draft" and "render_draft_preview" in caplog.text
    monkeypatch.setattr(pdf, "render_application", render)
    assert officer_client.get(f"/admin/licensing/filing/{filing.pk}/pdf/").content.startswith(b"%PDF")


def test_with_a_broker_the_rendering_ahead_is_queued_for_a_worker(
    officer_client, hospital, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from licensing import tasks

    settings.JOBS_IN_PROCESS = False
    queued = []
    monkeypatch.setattr(tasks.render_draft_preview, "apply_async", lambda args: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        filing = prepare(officer_client, hospital)
    assert queued == [(filing.pk,)]


def test_a_cached_draft_is_not_handed_to_someone_without_access(officer_client, hospital, client, org_b):
    from tests.factories import UserFactory, member

    filing = prepare(officer_client, hospital)
    assert officer_client.get(f"/admin/licensing/filing/{filing.pk}/pdf/").status_code == 200
    outsider = UserFactory(username="officer-b")
    member(outsider, org_b, "officer")
    client.force_login(outsider)
    response = client.get(f"/admin/licensing/filing/{filing.pk}/pdf/")
    assert response.status_code in (403, 404) and not response.content.startswith(b"%PDF")


def test_submit_refuses_with_what_is_missing(officer_client, hospital):
    filing = prepare(officer_client, hospital)
    uncounted = ApplicationFactory(organization=hospital, name="Lab Interface")
    filing.applications.add(uncounted)
    response = officer_client.post(f"/admin/licensing/filing/{filing.pk}/submit/", follow=True)
    shown = " ".join(messages_of(response))
    assert "Not submitted" in shown
    assert "Lab Interface: no user count for 2026" in shown
    assert "attestations" in shown
    filing.refresh_from_db()
    assert (filing.status, filing.pdf_sha256, filing.pdf) == ("draft", "", None)


def test_filing_without_signatory_or_applications_cannot_be_submitted(officer_client, org_a):
    filing = prepare(officer_client, org_a)
    response = officer_client.post(f"/admin/licensing/filing/{filing.pk}/submit/", follow=True)
    shown = " ".join(messages_of(response))
    assert "signatory's name and title" in shown and "includes no applications" in shown
    assert Filing.objects.get(pk=filing.pk).status == "draft"


def attest(client, filing):
    response = post_admin_form(
        client,
        f"/admin/licensing/filing/{filing.pk}/change/",
        {"attests_accurate": True, "attests_will_report_changes": True},
    )
    assert response.status_code == 302, field_errors(response)


def submit(client, filing) -> Filing:
    attest(client, filing)
    response = client.post(f"/admin/licensing/filing/{filing.pk}/submit/", follow=True)
    assert any("Submitted and frozen" in message for message in messages_of(response)), messages_of(response)
    return Filing.objects.get(pk=filing.pk)


def test_submission_freezes_bytes_that_later_changes_never_touch(officer_client, hospital):
    filing = submit(officer_client, prepare(officer_client, hospital))
    assert filing.status == "submitted" and filing.submitted_at is not None
    assert filing.pdf_sha256 == hashlib.sha256(bytes(filing.pdf)).hexdigest()
    assert filing.snapshot["applications"][0]["count"]["users"] == 12  # Encoder Pro, sorted by name
    first = officer_client.get(f"/admin/licensing/filing/{filing.pk}/pdf/").content
    assert "DRAFT" not in pdf_text(first)

    count = hospital.applications.get(name="Encoder Pro").user_counts.get()
    count.direct_users = 99
    services.record_save(count, actor=None, reason="Recount after submission")
    again = officer_client.get(f"/admin/licensing/filing/{filing.pk}/pdf/").content
    assert hashlib.sha256(again).hexdigest() == hashlib.sha256(first).hexdigest() == filing.pdf_sha256
    text = pdf_text(again)
    # The fee table still lists the 12 users counted when it was sent, not today's 99.
    assert "Encoder Pro 12 $18.50" in text
    assert "Encoder Pro 99" not in text

    response = officer_client.get(f"/admin/licensing/filing/{filing.pk}/verify/", follow=True)
    assert any("Match" in message for message in messages_of(response))


def test_a_submitted_filings_change_and_history_pages_leave_its_pdf_unread_and_its_download_reads_it(
    officer_client, hospital
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    filing = submit(officer_client, prepare(officer_client, hospital))
    pdf_column = f'"{Filing._meta.db_table}"."pdf"'
    # (Its delete page is refused: what was sent to the AMA is never deleted.)
    for page in ("change", "history"):
        with CaptureQueriesContext(connection) as queries:
            response = officer_client.get(f"/admin/licensing/filing/{filing.pk}/{page}/")
        assert response.status_code == 200, (page, response.status_code)
        assert not [query["sql"] for query in queries if pdf_column in query["sql"]], page
    with CaptureQueriesContext(connection) as queries:
        download = officer_client.get(f"/admin/licensing/filing/{filing.pk}/pdf/")
    assert hashlib.sha256(download.content).hexdigest() == filing.pdf_sha256
    assert [query for query in queries if pdf_column in query["sql"]]


def test_a_correction_is_rendered_ahead_too_and_a_submitted_filing_is_not(
    officer_client, officer, hospital, monkeypatch
):
    from licensing import tasks

    filing = submit(officer_client, prepare(officer_client, hospital))
    rendered = []
    monkeypatch.setattr(services, "filing_pdf", lambda filing: rendered.append(filing.pk))
    tasks.render_draft_preview(filing.pk)
    assert rendered == []
    ahead = []
    monkeypatch.setattr(services, "_render_preview_ahead", lambda draft: ahead.append(draft.pk))
    correction = services.filing_correct(filing=filing, actor=officer, reason="Wrong count")
    assert ahead == [correction.pk]


def test_verify_reports_a_stored_pdf_altered_in_the_database(officer_client, hospital):
    filing = submit(officer_client, prepare(officer_client, hospital))
    with connection.cursor() as cursor:
        cursor.execute("UPDATE licensing_filing SET pdf = %s WHERE id = %s", [b"%PDF-1.7 forged", filing.pk])
    response = officer_client.get(f"/admin/licensing/filing/{filing.pk}/verify/", follow=True)
    assert any("Mismatch" in message for message in messages_of(response))


def test_submitted_filing_cannot_be_edited_and_correction_supersedes(officer_client, hospital):
    filing = submit(officer_client, prepare(officer_client, hospital))
    url = f"/admin/licensing/filing/{filing.pk}/change/"
    assert officer_client.post(url, {"signatory_name": "Someone Else"}).status_code == 403
    assert Filing.objects.get(pk=filing.pk).signatory_name == "Morgan Lee"
    response = officer_client.post(f"/admin/licensing/filing/{filing.pk}/correct/", follow=True)
    correction = Filing.objects.get(supersedes=filing)
    assert correction.status == "draft"
    assert sorted(a.name for a in correction.applications.all()) == ["Encoder Pro", "Patient Accounting"]
    assert any("Correction" in message for message in messages_of(response))
    original = Filing.objects.get(pk=filing.pk)
    assert (original.status, original.pdf_sha256) == ("submitted", filing.pdf_sha256)


def test_recording_the_amas_answer(officer_client, hospital):
    filing = submit(officer_client, prepare(officer_client, hospital))
    officer_client.post(
        f"/admin/licensing/filing/{filing.pk}/outcome/", {"status": "accepted", "ama_reference": "AMA-2026-7781"}
    )
    filing.refresh_from_db()
    assert (filing.status, filing.ama_reference) == ("accepted", "AMA-2026-7781")
    row = filing.history.order_by("-history_id").first()
    assert row.history_user_name == "officer-a" and "accepted" in row.history_change_reason


def test_an_ama_reference_with_a_nul_character_is_refused_in_words(officer_client, hospital):
    filing = submit(officer_client, prepare(officer_client, hospital))
    response = officer_client.post(
        f"/admin/licensing/filing/{filing.pk}/outcome/",
        {"status": "accepted", "ama_reference": "AMA\x00-7781"},
        follow=True,
    )
    assert response.status_code == 200
    assert any("NUL character" in message for message in messages_of(response))
    filing.refresh_from_db()
    assert (filing.status, filing.ama_reference) == ("submitted", "")


def test_zip_of_selected_filings_is_built_by_a_job_and_downloaded_from_its_page(
    officer_client, hospital, org_a, django_capture_on_commit_callbacks
):
    submitted = submit(officer_client, prepare(officer_client, hospital))
    draft = prepare(officer_client, hospital, year=2027)
    with django_capture_on_commit_callbacks(execute=True):
        started = officer_client.post(
            "/admin/licensing/filing/", {"action": "download_zip", "_selected_action": [submitted.pk, draft.pk]}
        )
    job = Job.objects.get()
    assert started.status_code == 302 and started["Location"] == f"/admin/licensing/job/{job.pk}/change/"
    assert (job.state, job.progress_done, job.progress_total, job.organization) == ("done", 2, 2, org_a)
    page = officer_client.get(started["Location"]).content.decode()
    assert f'href="/admin/licensing/job/{job.pk}/download/"' in page and "2 of 2 filings" in page
    response = officer_client.get(f"/admin/licensing/job/{job.pk}/download/")
    assert response["Content-Disposition"] == 'attachment; filename="CPT-license-applications.zip"'
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = sorted(archive.namelist())
    assert names == sorted(
        [
            "CPT-license-application_alpha-health_2026.pdf",
            f"CPT-license-application_alpha-health_2027_DRAFT-{draft.pk}.pdf",
        ]
    )
    assert archive.read("CPT-license-application_alpha-health_2026.pdf") == bytes(submitted.pdf)
    for name in names:
        assert len(PdfReader(io.BytesIO(archive.read(name))).pages) >= 1


def test_auditor_downloads_but_cannot_submit(client, auditor, officer_client, hospital):
    filing = prepare(officer_client, hospital)
    attest(officer_client, filing)
    client.force_login(auditor)
    assert client.get(f"/admin/licensing/filing/{filing.pk}/pdf/").status_code == 200
    assert client.post(f"/admin/licensing/filing/{filing.pk}/submit/").status_code == 403
    assert (
        client.post(f"/admin/licensing/organization/{hospital.pk}/prepare-filing/", {"license_year": 2026}).status_code
        == 403
    )
    assert Filing.objects.get(pk=filing.pk).status == "draft"


def test_other_organizations_filings_are_not_found(client, officer_client, hospital, org_b):
    from tests.factories import UserFactory, member

    filing = prepare(officer_client, hospital)
    outsider = UserFactory(username="officer-b")
    member(outsider, org_b, "officer")
    client.force_login(outsider)
    for suffix in ["change/", "pdf/", "verify/"]:
        assert client.get(f"/admin/licensing/filing/{filing.pk}/{suffix}").status_code == 404
    assert client.post(f"/admin/licensing/filing/{filing.pk}/submit/").status_code == 404
    zipped = client.post("/admin/licensing/filing/", {"action": "download_zip", "_selected_action": [filing.pk]})
    assert zipped.status_code == 302  # nothing selectable: the admin says no items were selected


def test_prepare_page_lists_exactly_what_the_draft_will_include(officer_client, hospital):
    retired = ApplicationFactory(
        organization=hospital, name="Legacy Billing", in_service_from=datetime.date(2015, 1, 1),
        in_service_to=datetime.date(2025, 6, 30),
    )  # fmt: skip
    page = officer_client.get(f"/admin/licensing/organization/{hospital.pk}/prepare-filing/")
    listed = re.findall(
        r"<li>([^<]+)</li>", page.content.decode().split('id="included-applications"')[1].split("</ul>")[0]
    )
    filing = prepare(officer_client, hospital)
    assert listed == sorted(app.name for app in filing.applications.all()) == ["Encoder Pro", "Patient Accounting"]
    assert retired.name not in listed


def test_submitted_by_is_a_name_not_a_link_to_an_account_page(officer_client, hospital):
    filing = submit(officer_client, prepare(officer_client, hospital))
    page = officer_client.get(f"/admin/licensing/filing/{filing.pk}/change/").content.decode()
    assert "/admin/auth/user/" not in page
    assert "officer-a" in page.split("Submitted by")[1][:400]
