"""Officers attach evidence files through the admin; files are served only to people who may see their record."""

import datetime
import hashlib

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from licensing.models import EvidenceFile
from tests.factories import ApplicationFactory, UserCountFactory, UserFactory, VendorFactory, member

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


@pytest.fixture
def count(org_a):
    return UserCountFactory(application=ApplicationFactory(organization=org_a, name="Clinic EHR"), license_year=2026)


def attach(client, org, *, content=PDF, name="roster.pdf", review_on="", **target):
    data = {
        "organization": org.pk,
        "title": "Epic access list, January",
        "upload": SimpleUploadedFile(name, content),
        "review_on": review_on,
        "notes": "",
        "change_reason": "Roster kept as evidence",
        **{key: value.pk for key, value in target.items()},
    }
    return client.post("/admin/licensing/evidencefile/add/", data, follow=True)


def stored_files() -> list[str]:
    try:
        folders, _files = default_storage.listdir("evidence")
    except FileNotFoundError:
        return []
    found = []
    for year in folders:
        for month in default_storage.listdir(f"evidence/{year}")[0]:
            found += default_storage.listdir(f"evidence/{year}/{month}")[1]
    return found


def test_an_officer_attaches_a_file_and_its_hash_is_kept(officer_client, officer, org_a, count):
    response = attach(officer_client, org_a, user_count=count)
    assert response.status_code == 200
    item = EvidenceFile.objects.get()
    assert (item.user_count, item.organization, item.kind, item.size) == (count, org_a, "pdf", len(PDF))
    assert item.sha256 == hashlib.sha256(PDF).hexdigest() and item.uploaded_by == officer
    assert item.history.count() == 1 and item.history.first().history_change_reason == "Roster kept as evidence"
    page = officer_client.get(item.get_absolute_url()).content.decode()
    assert item.sha256 in page and "/media/" not in page

    download = officer_client.get(f"/admin/licensing/evidencefile/{item.pk}/download/")
    assert download.status_code == 200 and download.content == PDF
    assert download["Content-Type"] == "application/pdf" and "roster.pdf" in download["Content-Disposition"]


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"MZ\x90\x00\x03", "letter.pdf", "letter.pdf is not a file type the portal keeps as evidence"),
        (b"%PDF-" + b"x" * 1_100_000, "big.pdf", "big.pdf is 1.1 MB; evidence files may be at most 1 MB."),
    ],
)
def test_wrong_type_or_too_big_is_refused_and_nothing_is_stored(
    officer_client, org_a, count, settings, content, name, message
):
    settings.EVIDENCE_MAX_UPLOAD_MB = 1
    response = attach(officer_client, org_a, content=content, name=name, user_count=count)
    assert message in response.content.decode()
    assert EvidenceFile.objects.count() == 0 and stored_files() == []


def test_an_officer_of_another_organization_gets_404(client, officer_client, org_a, org_b, count):
    attach(officer_client, org_a, user_count=count)
    item = EvidenceFile.objects.get()
    stranger = UserFactory(username="officer-b")
    member(stranger, org_b, "officer")
    client.force_login(stranger)
    assert client.get(f"/admin/licensing/evidencefile/{item.pk}/download/").status_code == 404


def test_a_changed_stored_file_is_not_served(officer_client, org_a, count):
    attach(officer_client, org_a, user_count=count)
    item = EvidenceFile.objects.get()
    with default_storage.open(item.file.name, "wb") as stored:
        stored.write(b"%PDF-1.4 altered")
    response = officer_client.get(f"/admin/licensing/evidencefile/{item.pk}/download/")
    assert response.status_code == 409 and b"no longer matches the SHA-256" in response.content


def test_vendor_letters_are_the_attaching_organizations_own(client, officer_client, org_a, org_b):
    vendor = VendorFactory()
    attach(officer_client, org_a, vendor=vendor, name="distribution-letter.pdf")
    item = EvidenceFile.objects.get()
    assert (item.vendor, item.organization) == (vendor, org_a)
    stranger = UserFactory(username="officer-b")
    member(stranger, org_b, "officer")
    client.force_login(stranger)
    assert client.get(f"/admin/licensing/evidencefile/{item.pk}/download/").status_code == 404
    assert "distribution-letter" not in client.get("/admin/licensing/evidencefile/").content.decode()


def test_a_file_must_hang_on_exactly_one_record_of_its_organization(officer_client, org_a, org_b, count):
    other = UserCountFactory(application=ApplicationFactory(organization=org_b), license_year=2026)
    response = attach(officer_client, org_a, user_count=other)
    assert EvidenceFile.objects.count() == 0
    response = attach(officer_client, org_a)
    assert "Attach the file to exactly one record" in response.content.decode()
    assert EvidenceFile.objects.count() == 0 and stored_files() == []


def test_the_dashboard_lists_evidence_past_its_review_date(officer_client, org_a, count):
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    attach(officer_client, org_a, user_count=count, review_on=yesterday.isoformat())
    page = officer_client.get("/admin/").content.decode()
    assert "Evidence past its review date" in page
    listed = officer_client.get("/admin/licensing/evidencefile/?attention=evidence_overdue").content.decode()
    assert "Epic access list, January" in listed


def test_an_auditor_downloads_but_cannot_attach(client, auditor, officer_client, org_a, count):
    attach(officer_client, org_a, user_count=count)
    item = EvidenceFile.objects.get()
    client.force_login(auditor)
    assert client.get(f"/admin/licensing/evidencefile/{item.pk}/download/").status_code == 200
    response = attach(client, org_a, user_count=count)
    assert EvidenceFile.objects.count() == 1
    assert response.status_code == 403 or response.redirect_chain


def test_html_uploaded_as_text_is_refused_with_the_allowed_types(officer_client, org_a, count):
    page = attach(officer_client, org_a, content=b"<html><body>x</body></html>", name="letter.txt", user_count=count)
    text = page.content.decode()
    assert "letter.txt is HTML, SVG or XML markup" in text and "upload a PDF, PNG, JPEG, CSV or plain text" in text
    assert EvidenceFile.objects.count() == 0 and stored_files() == []


def test_deleting_an_evidence_record_deletes_its_file_after_the_commit(
    client, org_a, count, officer_client, django_capture_on_commit_callbacks
):
    attach(officer_client, org_a, user_count=count)
    item = EvidenceFile.objects.get()
    assert stored_files() != []
    client.force_login(UserFactory(username="admin", is_superuser=True))
    with django_capture_on_commit_callbacks() as removals:
        response = client.post(f"/admin/licensing/evidencefile/{item.pk}/delete/", {"post": "yes"})
        # Until the deletion commits, the file stays (a rolled-back deletion keeps it).
        assert stored_files() != []
    assert response.status_code == 302 and not EvidenceFile.objects.exists()
    for removal in removals:
        removal()
    assert stored_files() == []
    deleted = EvidenceFile.history.model.objects.filter(id=item.pk, history_type="-").get()
    assert deleted.history_user_name == "admin" and deleted.sha256 == item.sha256 and deleted.history_change_reason


def test_evidence_of_another_organization_cannot_be_deleted_through_the_service(org_a, org_b, count, officer_client):
    from django.core.exceptions import PermissionDenied

    from licensing import services

    attach(officer_client, org_a, user_count=count)
    item = EvidenceFile.objects.get()
    stranger = UserFactory(username="stranger")
    member(stranger, org_b, "officer")
    with pytest.raises(PermissionDenied):
        services.evidence_delete(evidence_file=item, actor=stranger, reason="Not mine")
    assert EvidenceFile.objects.filter(pk=item.pk).exists() and stored_files() != []


def test_a_roster_import_keeps_its_file_as_the_rosters_evidence(officer_client, officer, org_a):
    from licensing.models.rosters import Roster
    from tests.test_rosters import MAPPING, confirm, map_roles, preview_of, roster_file, upload

    epic = ApplicationFactory(organization=org_a, name="Epic Ambulatory")
    map_roles(officer_client, epic, {"Physician": MAPPING["Physician"]})
    content = roster_file(["E1,Pat Lee,pat.lee@example.org,,US,Physician"])
    preview = preview_of(upload(officer_client, epic, content))
    # A preview keeps nothing: its writes are rolled back, and storage would not be.
    assert not EvidenceFile.objects.exists() and stored_files() == []
    confirm(officer_client, preview)
    roster = Roster.objects.get()
    kept = EvidenceFile.objects.get()
    assert (kept.roster, kept.organization, kept.sha256) == (roster, org_a, roster.file_sha256)
    download = officer_client.get(f"/admin/licensing/evidencefile/{kept.pk}/download/")
    assert download.status_code == 200 and download.content == content


def post_with_evidence(client, url, row: dict):
    """The record's change page posted back as shown, with one new evidence row (its file uploaded)."""
    from tests.admin_forms import page_form_data

    page = client.get(url)
    assert page.status_code == 200
    data = page_form_data(page)
    prefix = next(name[: -len("-TOTAL_FORMS")] for name in data if name.endswith("-TOTAL_FORMS"))
    start = int(data[f"{prefix}-TOTAL_FORMS"])
    data.update({f"{prefix}-{start}-{name}": value for name, value in row.items()})
    data[f"{prefix}-TOTAL_FORMS"] = str(start + 1)
    data["change_reason"] = "Evidence attached on the record's page"
    return client.post(url, data, follow=True)


def test_a_counts_page_lists_its_evidence_and_uploads_through_the_same_checks(officer_client, org_a, count):
    url = f"/admin/licensing/usercount/{count.pk}/change/"
    html = {"title": "Saved page", "upload": SimpleUploadedFile("letter.txt", b"<html><body>x</body></html>")}
    refused = post_with_evidence(officer_client, url, html)
    assert "letter.txt is HTML, SVG or XML markup" in refused.content.decode()
    assert not EvidenceFile.objects.exists() and stored_files() == []

    done = post_with_evidence(
        officer_client, url, {"title": "HR report", "upload": SimpleUploadedFile("hr.pdf", PDF), "review_on": ""}
    )
    assert done.status_code == 200
    item = EvidenceFile.objects.get()
    assert (item.user_count, item.organization, item.sha256) == (count, org_a, hashlib.sha256(PDF).hexdigest())
    assert item.history.get().history_change_reason == "Evidence attached on the record's page"
    page = officer_client.get(url).content.decode()
    assert f"/admin/licensing/evidencefile/{item.pk}/download/" in page and item.sha256 in page


def letters_of_two_organizations(officer_client, org_a, org_b):
    """A vendor with a letter attached by Alpha Health's officer (ours.pdf) and one by Beta's (theirs.pdf); the
    vendor and Beta's officer's client."""
    from django.test import Client

    vendor = VendorFactory(name="Letters Inc")
    attach(officer_client, org_a, name="ours.pdf", vendor=vendor)
    colleague = UserFactory(username="officer-b")
    member(colleague, org_b)
    theirs = Client()
    theirs.force_login(colleague)
    attach(theirs, org_b, name="theirs.pdf", vendor=vendor)
    return vendor, theirs


def test_a_vendors_page_lists_only_the_readers_own_letters(officer_client, org_a, org_b):
    vendor, theirs = letters_of_two_organizations(officer_client, org_a, org_b)
    assert EvidenceFile.objects.count() == 2
    url = f"/admin/licensing/vendor/{vendor.pk}/change/"
    ours = officer_client.get(url).content.decode()
    assert "Download ours.pdf" in ours and "theirs.pdf" not in ours
    seen_by_them = theirs.get(url).content.decode()
    assert "Download theirs.pdf" in seen_by_them and "ours.pdf" not in seen_by_them


def test_on_a_vendors_page_letters_of_an_organization_the_officer_only_audits_stay_as_they_are(
    officer_client, officer, org_a, org_b
):
    from django.contrib.auth.models import Permission

    from tests.admin_forms import field_errors, post_admin_form

    vendor, _theirs = letters_of_two_organizations(officer_client, org_a, org_b)
    member(officer, org_b, "auditor")  # officer of Alpha Health, auditor of Beta
    # Vendors are reference data administrators keep; this officer has been allowed to keep them too.
    officer.user_permissions.add(Permission.objects.get(codename="change_vendor"))
    ours, audited = EvidenceFile.objects.get(organization=org_a), EvidenceFile.objects.get(organization=org_b)
    url = f"/admin/licensing/vendor/{vendor.pk}/change/"
    page = officer_client.get(url).content.decode()
    assert "Download ours.pdf" in page and "Download theirs.pdf" in page

    # Both rows posted with a new title, as an altered page could: only the officer's own letter takes it.
    changes = {f"evidence_files-{row}-title": "Retitled" for row in (0, 1)}
    response = post_admin_form(officer_client, url, {**changes, "change_reason": "Titles tidied"})
    assert response.status_code == 302, field_errors(response)
    ours.refresh_from_db()
    audited.refresh_from_db()
    assert ours.title == "Retitled" and audited.title == "Epic access list, January"
    assert audited.history.count() == 1
