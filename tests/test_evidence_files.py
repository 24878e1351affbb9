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
