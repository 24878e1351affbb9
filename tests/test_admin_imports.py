"""The import and export pages as a logged-in person meets them: upload, preview, confirm; exports that follow
the list's filters; templates; who may see and confirm what."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import load_workbook

from licensing.models import DataImport, UserCount
from tests.factories import ApplicationFactory, UserCountFactory, UserFactory, member, record

pytestmark = pytest.mark.django_db

HEADER = (
    "Organization,System name,License year,Method,(a) access CPT directly,(b) produce output with it,(c) use its output"
)


def counts_file(*lines: str, name="counts.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, ("\n".join([HEADER, *lines]) + "\n").encode(), content_type="text/csv")


def csv_rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


@pytest.fixture
def systems(org_a, org_b):
    billing = ApplicationFactory(organization=org_a, name="Billing")
    ehr = ApplicationFactory(organization=org_a, name="Clinic EHR")
    other = ApplicationFactory(organization=org_b, name="Beta Billing")
    UserCountFactory(application=billing, license_year=2026, direct_users=10)
    UserCountFactory(application=other, license_year=2026, direct_users=99)
    return {"billing": billing, "ehr": ehr, "other": other}


def upload(client, file, reason=""):
    return client.post(reverse("admin:licensing_usercount_import"), {"file": file, "change_reason": reason})


def test_upload_previews_and_confirm_writes_with_the_reason(officer_client, officer, systems):
    response = upload(
        officer_client,
        counts_file("alpha-health,Billing,2026,Counted,12,0,0", "alpha-health,Clinic EHR,2026,Counted,5,1,0"),
        reason="January recount",
    )
    preview = DataImport.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "admin:licensing_dataimport_change", args=[preview.pk]
    )
    page = officer_client.get(response["Location"])
    text = page.content.decode()
    assert "1 new, 1 updated, 0 unchanged, 0 with errors" in text
    assert "(a) access CPT directly</strong>: 10 &rarr; 12" in text
    assert 'value="Confirm import"' in text
    assert UserCount.objects.get(application=systems["billing"]).direct_users == 10

    confirmed = officer_client.post(response["Location"])
    done = DataImport.objects.get(outcome=DataImport.Outcome.CONFIRMED)
    assert confirmed["Location"] == reverse("admin:licensing_dataimport_change", args=[done.pk])
    assert UserCount.objects.get(application=systems["billing"]).direct_users == 12
    written = UserCount.history.filter(data_import_id=done.pk)
    assert sorted(written.values_list("history_type", flat=True)) == ["+", "~"]
    assert set(written.values_list("history_change_reason", "history_user_name")) == {("January recount", "officer-a")}
    # The done page links to its changes on the trail, and a second confirm writes nothing more.
    done_page = officer_client.get(confirmed["Location"]).content.decode()
    assert f"?data_import={done.pk}" in done_page
    officer_client.post(response["Location"])
    assert DataImport.objects.filter(outcome=DataImport.Outcome.CONFIRMED).count() == 1


def test_a_bad_row_shows_its_error_and_offers_no_confirm(officer_client, systems):
    upload(
        officer_client,
        counts_file("alpha-health,Billing,2026,Counted,12,0,0", "alpha-health,Billing,2026,Counted,x,0,0"),
    )
    record = DataImport.objects.get()
    text = officer_client.get(reverse("admin:licensing_dataimport_change", args=[record.pk])).content.decode()
    assert record.outcome == DataImport.Outcome.REFUSED
    assert "Nothing was written." in text and "Confirm import" not in text
    # The second line repeats the first one's key: refused on its own line, naming the first.
    assert "Line 2 has the same" in text


def test_an_empty_upload_is_refused_on_the_form(officer_client, systems):
    response = officer_client.post(reverse("admin:licensing_usercount_import"), {"change_reason": "x"})
    assert response.status_code == 200 and "Choose the file to import." in response.content.decode()
    assert not DataImport.objects.exists()


def test_only_the_uploader_confirms_and_other_organizations_see_nothing(client, officer_client, systems, org_a, org_b):
    upload(officer_client, counts_file("alpha-health,Billing,2026,Counted,12,0,0"))
    record = DataImport.objects.get()
    url = reverse("admin:licensing_dataimport_change", args=[record.pk])

    colleague = UserFactory(username="colleague")
    member(colleague, org_a, "officer")
    client.force_login(colleague)
    assert client.get(url).status_code == 200
    assert client.post(url).status_code == 403

    stranger = UserFactory(username="stranger")
    member(stranger, org_b, "officer")
    client.force_login(stranger)
    assert client.get(url).status_code == 404
    assert "counts.csv" not in client.get(reverse("admin:licensing_dataimport_changelist")).content.decode()
    assert UserCount.objects.get(application=systems["billing"]).direct_users == 10


def test_auditors_export_but_do_not_import(auditor_client, systems):
    assert auditor_client.get(reverse("admin:licensing_usercount_import")).status_code == 403
    listing = auditor_client.get(reverse("admin:licensing_usercount_changelist")).content.decode()
    assert "Export XLSX" in listing and ">Import<" not in listing
    rows = csv_rows(auditor_client.get(reverse("admin:licensing_usercount_export") + "?format=csv"))
    assert rows[0][:3] == ["Organization", "System name", "License year"]
    assert [row[1] for row in rows[1:]] == ["Billing"]


def test_export_follows_the_lists_search_and_filters(officer_client, systems):
    UserCountFactory(application=systems["ehr"], license_year=2025, direct_users=3)
    base = reverse("admin:licensing_usercount_export")
    by_year = csv_rows(officer_client.get(base + "?license_year=2025&format=csv"))
    assert [(row[1], row[2]) for row in by_year[1:]] == [("Clinic EHR", "2025")]
    searched = csv_rows(officer_client.get(base + "?q=Billing&format=csv"))
    assert [row[1] for row in searched[1:]] == ["Billing"]
    workbook = load_workbook(io.BytesIO(officer_client.get(base + "?format=xlsx").content))
    assert sorted(row[1] for row in workbook.active.iter_rows(min_row=2, values_only=True)) == ["Billing", "Clinic EHR"]
    assert officer_client.get(base + "?format=pdf").status_code == 404


def test_template_has_an_example_row_and_a_sheet_explaining_each_column(officer_client, systems):
    response = officer_client.get(reverse("admin:licensing_license_import_template") + "?format=xlsx")
    workbook = load_workbook(io.BytesIO(response.content))
    assert workbook.sheetnames == ["Licenses", "Columns"]
    header, example = [list(row) for row in workbook["Licenses"].iter_rows(max_row=2, values_only=True)]
    assert header[:3] == ["Organization", "System name", "License year"] and example[2] == 2026
    guide = {row[0]: row for row in workbook["Columns"].iter_rows(min_row=2, values_only=True)}
    assert set(guide) == set(header)
    assert "Needed" in guide["Status"][3] and guide["License year"][1].startswith("Yes")


def test_the_preview_page_reads_the_same_few_queries_for_ten_and_three_hundred_rows(
    officer_client, officer, systems, django_assert_max_num_queries
):
    def preview_with(count: int) -> str:
        entries = [
            {"line": n + 2, "kind": "new", "label": f"row {n}", "changes": [["(a) access CPT directly", "", str(n)]]}
            for n in range(count)
        ]
        made = record(
            DataImport,
            actor=officer,
            resource="user-counts",
            file_name="f.csv",
            file_sha256="0" * 64,
            outcome=DataImport.Outcome.PREVIEWED,
            reason="x",
            organization=systems["billing"].organization,
            report={"entries": entries, "totals": {}, "notes": [], "problems": []},
        )
        return reverse("admin:licensing_dataimport_change", args=[made.pk])

    small, large = preview_with(10), preview_with(300)
    officer_client.get(small)
    with django_assert_max_num_queries(12) as counted_small:
        officer_client.get(small)
    with django_assert_max_num_queries(len(counted_small.captured_queries)):
        page = officer_client.get(large)
    assert "Rows 1 to 100 of 300" in page.content.decode()


def test_a_file_whose_record_the_uploader_could_not_see_is_refused_on_the_form(client, org_a):
    from tests.factories import OrganizationFactory

    north = OrganizationFactory(name="North Clinic", slug="north", parent=org_a)
    south = OrganizationFactory(name="South Clinic", slug="south", parent=org_a)
    ApplicationFactory(organization=north, name="Scheduler")
    ApplicationFactory(organization=south, name="Scheduler")
    person = UserFactory(username="two-clinics")
    member(person, north, "officer")
    member(person, south, "officer")
    client.force_login(person)
    response = upload(client, counts_file("north,Scheduler,2026,Counted,4,0,0", "south,Scheduler,2026,Counted,5,0,0"))
    assert response.status_code == 200
    assert "Import each organization&#x27;s rows in a file of its own" in response.content.decode()
    assert not UserCount.objects.exists()
