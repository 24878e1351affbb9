"""The compliance report: an organization (with or without affiliates) and a year, downloaded as CSV, XLSX or PDF,
read back row by row against the standings, scoped to what the person may see."""

import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook
from pypdf import PdfReader

from licensing import counting, reports, standing
from licensing.models import Job
from tests.factories import (
    ApplicationFactory,
    LicenseFactory,
    OrganizationFactory,
    ProxyCountFactory,
    UserCountFactory,
    UserFactory,
    VendorFactory,
    member,
)

pytestmark = pytest.mark.django_db

YEAR = 2026
PROJECTED = 2027  # no rate schedule: projected from 2026, so every priced figure is an estimate


def report_url(organization) -> str:
    return f"/admin/licensing/organization/{organization.pk}/report/"


def download(client, organization, file_format, *, year=YEAR, affiliates=True):
    params = {"year": year, "format": file_format}
    if affiliates:
        params["include_affiliates"] = "on"
    response = client.get(report_url(organization), params)
    assert response.status_code == 200, response.content[:500]
    assert response.get("Content-Disposition", "").startswith("attachment"), response.content[:500]
    return response


def csv_sections(data: bytes) -> list[list[list[str]]]:
    """The CSV's blank-line-separated parts: header lines, applications (with their header), summary."""
    assert data.startswith("\ufeff".encode())
    sections, current = [], []
    for row in csv.reader(io.StringIO(data.decode("utf-8-sig"))):
        if row:
            current.append(row)
        else:
            sections.append(current)
            current = []
    sections.append(current)
    return sections


def as_dicts(rows: list[list]) -> list[dict]:
    header, *lines = rows
    return [dict(zip(header, line, strict=True)) for line in lines]


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def text(value) -> str:
    """A cell as the CSV writes it."""
    if value is None:
        return ""
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


@pytest.fixture
def system(org_a):
    """Alpha Health (five applications in every position) and its affiliate Alpha Physicians."""
    billing = ApplicationFactory(
        organization=org_a, name="Patient Accounting", category="billing_rcm", data_files=["cpt-standard", "cpt-rvu"]
    )
    coder = ApplicationFactory(organization=org_a, name="Encoder Pro", category="coding")
    clinic = ApplicationFactory(organization=org_a, name="Clinic EHR", category="ambulatory_ehr")
    vendor = VendorFactory(name="Cedar Vendor", processing_fee_per_user=Decimal("1.00"))
    covered = ApplicationFactory(
        organization=org_a, name="Vendor EHR", category="ambulatory_ehr", cpt_coverage="vendor", vendor=vendor
    )
    ApplicationFactory(organization=org_a, name="Scheduler", category="other", cpt_coverage="no_cpt", data_files=[])
    ApplicationFactory(organization=org_a, name="Lab Interface", category="lab_radiology")
    UserCountFactory(
        application=billing, license_year=YEAR, direct_users=40, program_users=5, output_users=3, counted_by="R. Diaz"
    )
    LicenseFactory(application=billing, license_year=YEAR, licensed_users=48, agreement_number="AMA-IU-000048")
    UserCountFactory(application=coder, license_year=YEAR, direct_users=12)
    LicenseFactory(application=coder, license_year=YEAR, licensed_users=10)
    ProxyCountFactory(
        application=clinic, license_year=YEAR, metric_value=Decimal("3"), factor=Decimal("4"), metric_source="Roster"
    )
    UserCountFactory(application=covered, license_year=YEAR, direct_users=5)

    affiliate = OrganizationFactory(name="Alpha Physicians", slug="alpha-physicians", parent=org_a)
    affiliate_billing = ApplicationFactory(organization=affiliate, name="Affiliate Billing")
    UserCountFactory(application=affiliate_billing, license_year=YEAR, direct_users=7)
    LicenseFactory(application=affiliate_billing, license_year=YEAR, licensed_users=7)
    return org_a


def expected_lines(organizations, year):
    """What the selectors say, application by application: the report must show exactly this."""
    rollup = standing.roll_up(organizations, year)
    return {(org.name, item.application.name): item for org, entity in rollup.entities for item in entity.standings}


# ---------------------------------------------------------------------------------------------
# CSV and XLSX, row by row
# ---------------------------------------------------------------------------------------------


def test_csv_rows_match_the_standings(officer_client, system):
    response = download(officer_client, system, "csv")
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="alpha-health-2026-compliance-report.csv"' in response["Content-Disposition"]
    header, applications, summary = csv_sections(response.content)
    assert header[:3] == [
        ["Compliance report", "Alpha Health"],
        ["License year", "2026"],
        ["Legal entities", "Alpha Health and 1 affiliate"],
    ]
    assert header[3] == ["Rates", "2026 published rates"]

    rows = as_dicts(applications)
    expected = expected_lines(standing.with_affiliates(system), YEAR)
    assert [(row["Legal entity"], row["Application"]) for row in rows] == list(expected)
    assert len(rows) == 7
    for row in rows:
        item = expected[row["Legal entity"], row["Application"]]
        line, status = item.royalty, item.position
        assert row["Category"] == item.application.get_category_display()
        assert row["CPT covered by"] == item.application.get_cpt_coverage_display()
        assert row["Users"] == text(item.users)
        assert row["How the users were derived"] == (
            counting.explain(item.count) + ("; source: Roster" if item.count.method == "proxy" else "")
            if item.count
            else "not counted"
        )
        assert row["License status"] == (item.license.get_status_display() if item.license else "No license")
        assert row["Licensed users"] == text(item.license.licensed_users if item.license else None)
        assert row["AMA agreement number"] == (item.license.agreement_number if item.license else "")
        assert row["Position"] == status.label
        assert row["Position detail"] == status.reason
        assert row["Shortfall"] == (str(status.shortfall) if status.shortfall else "")
        assert row["True-up cost"] == (text(status.true_up_cost) if status.shortfall else "")
        assert row["Per user"] == text(line.per_user)
        assert row["Royalty"] == text(line.amount)
        # 2026 has published per-user rates: no line is an estimate; a basis is empty where its amount is.
        assert row["Per user basis"] == "published"
        assert row["Royalty basis"] == ("published" if line.amount is not None else "")
        assert row["True-up cost basis"] == ("published" if status.shortfall else "")

    by_name = {row["Application"]: row for row in rows}
    billing = by_name["Patient Accounting"]
    assert (billing["Users"], billing["How the users were derived"]) == (
        "48",
        "40 (a) + 5 (b) + 3 (c) = 48 counted users",
    )
    assert (billing["Per user"], billing["Royalty"], billing["Position"]) == ("37.00", "1776.00", "Compliant")
    assert (billing["License starts"], billing["License ends"], billing["Counted by"]) == (
        "2026-01-01",
        "2026-12-31",
        "R. Diaz",
    )
    assert by_name["Clinic EHR"]["How the users were derived"] == (
        "3.00 physicians x 4.000 = 12 users (User Proxy Model); source: Roster"
    )
    coder = by_name["Encoder Pro"]
    assert (coder["Position"], coder["Shortfall"], coder["True-up cost"]) == ("Under-licensed", "2", "37.00")
    assert (by_name["Lab Interface"]["Users"], by_name["Lab Interface"]["Position"]) == ("", "Users not counted")
    assert by_name["Vendor EHR"]["Per user"] == "19.50"  # $18.50 royalty + the vendor's $1 fee

    entities = as_dicts(summary)
    assert [row["Legal entity"] for row in entities] == ["Alpha Health", "Alpha Physicians", "All legal entities"]
    alpha, physicians, grand = entities
    assert (alpha["Applications in service"], alpha["Needing action"]) == ("6", "3")
    assert (alpha["Applications total"], alpha["Applications total basis"]) == ("2317.50", "published")
    assert (alpha["Entity fee"], alpha["Entity fee basis"], alpha["Entity fee note"]) == (
        "82.50",
        "estimate",
        "Entity fee (estimated)",
    )
    assert (alpha["Total"], alpha["Total basis"]) == ("2400.00", "estimate")
    assert (physicians["Relationship"], physicians["Total"]) == ("Affiliate of Alpha Health", "212.00")
    assert (grand["Applications in service"], grand["Needing action"]) == ("7", "3")
    assert (grand["Applications total"], grand["Entity fee"], grand["Total"], grand["Total basis"]) == (
        "2447.00",
        "165.00",
        "2612.00",
        "estimate",
    )
    assert (grand["Applications total basis"], grand["Entity fee basis"]) == ("published", "estimate")
    rollup = standing.roll_up(standing.with_affiliates(system), YEAR)
    assert Decimal(grand["Total"]) == rollup.total and Decimal(grand["Entity fee"]) == rollup.entity_fees
    assert alpha["May post CPT codes in its chargemaster"] == "yes"  # Patient Accounting: active billing license
    assert alpha["Chargemaster posting"].startswith("Yes: Patient Accounting holds an active 2026 license")


def test_xlsx_sheets_match_the_csv_with_numbers_as_numbers(auditor_client, system):
    response = download(auditor_client, system, "xlsx")
    assert 'filename="alpha-health-2026-compliance-report.xlsx"' in response["Content-Disposition"]
    workbook = load_workbook(io.BytesIO(response.content))
    assert workbook.sheetnames == ["Applications", "Summary"]

    sheet_rows = [list(row) for row in workbook["Applications"].iter_rows(values_only=True)]
    csv_rows = csv_sections(download(auditor_client, system, "csv").content)[1]
    assert sheet_rows[0] == csv_rows[0] == reports.APPLICATION_COLUMNS
    assert len(sheet_rows) == len(csv_rows) == 8
    for cells, line in zip(sheet_rows[1:], csv_rows[1:], strict=True):
        assert_same_cells(cells, line)
    columns = reports.APPLICATION_COLUMNS
    billing = next(row for row in sheet_rows if row[1] == "Patient Accounting")
    assert billing[columns.index("Users")] == 48
    assert billing[columns.index("Royalty")] == 1776
    assert billing[columns.index("Per user")] == 37
    assert isinstance(billing[columns.index("License starts")], datetime.datetime)

    summary = [list(row) for row in workbook["Summary"].iter_rows(values_only=True)]
    assert summary[0] == ["Compliance report", "Alpha Health"] + [None] * (len(summary[0]) - 2)
    start = next(index for index, row in enumerate(summary) if row[0] == "Legal entity")
    assert summary[start] == reports.SUMMARY_COLUMNS
    entities = {row[0]: dict(zip(reports.SUMMARY_COLUMNS, row, strict=True)) for row in summary[start + 1 :]}
    assert list(entities) == ["Alpha Health", "Alpha Physicians", "All legal entities"]
    grand = entities["All legal entities"]
    assert (Decimal(str(grand["Total"])), grand["Total basis"]) == (Decimal("2612"), "estimate")
    assert (Decimal(str(grand["Entity fee"])), grand["Entity fee basis"]) == (Decimal("165"), "estimate")
    assert entities["Alpha Health"]["Applications total basis"] == "published"


def assert_same_cells(cells, line) -> None:
    """Cell by cell: numbers equal as decimals, dates as ISO dates, text as text, empty as empty."""
    for cell, value in zip(cells, line, strict=True):
        if isinstance(cell, datetime.datetime):
            cell = cell.date()
        if isinstance(cell, int | float):
            assert Decimal(str(cell)) == Decimal(value), (cell, value)
        else:
            assert text(cell) == value, (cell, value)


def test_spreadsheet_cells_cannot_run_as_formulas(officer_client, org_a):
    application = ApplicationFactory(organization=org_a, name='=HYPERLINK("http://evil.example","x")')
    UserCountFactory(application=application, license_year=YEAR, counted_by="@SUM(A1)")
    rows = as_dicts(csv_sections(download(officer_client, org_a, "csv").content)[1])
    assert rows[0]["Application"] == '\'=HYPERLINK("http://evil.example","x")'
    assert rows[0]["Counted by"] == "'@SUM(A1)"
    sheet = load_workbook(io.BytesIO(download(officer_client, org_a, "xlsx").content))["Applications"]
    assert sheet.cell(row=2, column=2).value.startswith("'=")
    assert sheet.cell(row=2, column=2).data_type == "s"


# ---------------------------------------------------------------------------------------------
# PDF
# ---------------------------------------------------------------------------------------------


def test_pdf_through_the_page_lists_every_application_and_the_totals(officer_client, system):
    response = download(officer_client, system, "pdf")
    assert response["Content-Type"] == "application/pdf"
    assert 'filename="alpha-health-2026-compliance-report.pdf"' in response["Content-Disposition"]
    reader = PdfReader(io.BytesIO(response.content))
    assert reader.metadata.title == "CPT compliance report 2026 — Alpha Health"
    content = pdf_text(response.content)
    for name in [
        "Patient Accounting",
        "Encoder Pro",
        "Clinic EHR",
        "Vendor EHR",
        "Scheduler",
        "Lab Interface",
        "Affiliate Billing",
        "Alpha Physicians",
    ]:
        assert name in content, name
    for figure in [
        "40 (a) + 5 (b) + 3 (c) = 48 counted users",
        "3.00 physicians x 4.000 = 12 users (User Proxy Model)",
        "royalty $1,776.00",
        "2 short, true-up $37.00",
        "$2,317.50",  # Alpha Health's applications
        "$2,447.00",  # both entities' applications
        "$2,400.00 (est.)",  # its total, with the estimated entity fee
        "$212.00 (est.)",
        "$165.00 (est.)",  # entity fees of both
        "$2,612.00 (est.)",  # grand total
        "Chargemaster and price-transparency posting: Yes: Patient Accounting holds an active 2026 license.",
    ]:
        assert figure in content, figure
    assert "Needs action in 2026" in content
    assert "Encoder Pro, Alpha Health: Under-licensed, true-up $37.00" in content


# ---------------------------------------------------------------------------------------------
# Affiliates, scope
# ---------------------------------------------------------------------------------------------


def test_affiliates_are_included_only_when_asked(officer_client, system):
    without = csv_sections(download(officer_client, system, "csv", affiliates=False).content)
    assert without[0][2] == ["Legal entities", "Alpha Health only"]
    assert {row["Legal entity"] for row in as_dicts(without[1])} == {"Alpha Health"}
    assert [row["Legal entity"] for row in as_dicts(without[2])] == ["Alpha Health", "All legal entities"]
    assert as_dicts(without[2])[-1]["Total"] == "2400.00"
    assert "Alpha Physicians" not in pdf_text(download(officer_client, system, "pdf", affiliates=False).content)

    with_them = csv_sections(download(officer_client, system, "csv").content)
    assert "Affiliate Billing" in {row["Application"] for row in as_dicts(with_them[1])}


def test_the_affiliates_choice_is_offered_only_to_an_organization_with_affiliates(officer_client, system, org_a):
    page = officer_client.get(report_url(system))
    assert page.status_code == 200
    assert "include_affiliates" in page.context["form"].fields
    assert 'name="include_affiliates"' in page.content.decode() and "Alpha Physicians" in page.content.decode()
    affiliate = system.affiliates.get()
    page = officer_client.get(report_url(affiliate))
    assert "include_affiliates" not in page.context["form"].fields
    assert 'name="include_affiliates"' not in page.content.decode()


def test_officer_of_one_organization_cannot_download_anothers(officer_client, system, org_b):
    assert officer_client.get(report_url(org_b)).status_code == 404
    assert officer_client.get(report_url(org_b), {"year": YEAR, "format": "csv"}).status_code == 404


def test_an_affiliate_officer_cannot_download_the_systems_report(client, system):
    person = UserFactory(username="affiliate-officer")
    affiliate = system.affiliates.get()
    member(person, affiliate, "officer")
    client.force_login(person)
    assert client.get(report_url(system), {"year": YEAR, "format": "csv"}).status_code == 404
    rows = as_dicts(csv_sections(download(client, affiliate, "csv").content)[1])
    assert {row["Legal entity"] for row in rows} == {"Alpha Physicians"}


def test_an_affiliate_outside_the_persons_scope_is_left_out(client, org_a):
    """A membership covers two levels below its organization. An organization nested deeper (data that skipped
    the three-level rule) is an affiliate with_affiliates finds but the person may not see: the report omits it."""
    member_org = OrganizationFactory(name="Alpha Member", slug="alpha-member", parent=org_a)
    department = OrganizationFactory(name="Alpha Department", slug="alpha-department", parent=member_org)
    hidden = OrganizationFactory(name="Hidden Unit", slug="hidden-unit", parent=department)
    for organization in (member_org, department, hidden):
        UserCountFactory(
            application=ApplicationFactory(organization=organization, name=f"{organization.name} billing"),
            license_year=YEAR,
        )
    person = UserFactory(username="system-auditor")
    member(person, org_a, "auditor")
    client.force_login(person)
    assert hidden in standing.with_affiliates(member_org)

    sections = csv_sections(download(client, member_org, "csv").content)
    assert {row["Legal entity"] for row in as_dicts(sections[1])} == {"Alpha Member", "Alpha Department"}
    assert [row["Legal entity"] for row in as_dicts(sections[2])][:-1] == ["Alpha Member", "Alpha Department"]
    assert "Hidden Unit" not in response_text(download(client, member_org, "pdf"))
    assert client.get(report_url(hidden)).status_code == 404


def response_text(response) -> str:
    return pdf_text(response.content)


def test_auditors_download_but_the_page_only_reads(auditor_client, system):
    assert download(auditor_client, system, "pdf")["Content-Type"] == "application/pdf"
    # Preparing it as a job writes the job's record: officers only.
    assert auditor_client.post(report_url(system), {"job-year": YEAR, "job-format": "csv"}).status_code == 403
    assert not Job.objects.exists()


def test_the_organization_page_links_to_the_report(auditor_client, system):
    page = auditor_client.get(f"/admin/licensing/organization/{system.pk}/change/").content.decode()
    assert f'href="{report_url(system)}"' in page and "Compliance report" in page


# ---------------------------------------------------------------------------------------------
# Estimates
# ---------------------------------------------------------------------------------------------


def test_a_projected_year_labels_every_priced_figure_as_an_estimate(officer_client, system):
    coder = system.applications.get(name="Encoder Pro")
    UserCountFactory(application=coder, license_year=PROJECTED, direct_users=12)
    LicenseFactory(application=coder, license_year=PROJECTED, licensed_users=12)
    billing = system.applications.get(name="Patient Accounting")
    UserCountFactory(application=billing, license_year=PROJECTED, direct_users=20)

    header, applications, summary = csv_sections(download(officer_client, system, "csv", year=PROJECTED).content)
    assert header[3] == ["Rates", "2027 estimate, projected from 2026"]
    rows = {row["Application"]: row for row in as_dicts(applications)}
    assert (rows["Encoder Pro"]["Per user"], rows["Encoder Pro"]["Per user basis"]) == ("19.00", "estimate")
    assert (rows["Encoder Pro"]["Royalty"], rows["Encoder Pro"]["Royalty basis"]) == ("228.00", "estimate")
    unlicensed = rows["Patient Accounting"]
    assert (unlicensed["Position"], unlicensed["True-up cost"], unlicensed["True-up cost basis"]) == (
        "Unlicensed",
        "760.00",
        "estimate",
    )
    for row in rows.values():
        if row["Royalty"] and Decimal(row["Royalty"]):
            assert row["Royalty basis"] == "estimate", row
    # A CPT-free system's $0.00 is never an estimate.
    assert (rows["Scheduler"]["Royalty"], rows["Scheduler"]["Royalty basis"]) == ("0.00", "published")
    alpha = as_dicts(summary)[0]
    assert (alpha["Applications total"], alpha["Applications total basis"]) == ("988.00", "estimate")
    assert (alpha["Total"], alpha["Total basis"]) == ("1070.50", "estimate")

    content = pdf_text(download(officer_client, system, "pdf", year=PROJECTED).content)
    assert "royalty $228.00 (est.)" in content and "$19.00 (est.) per user" in content
    assert "$988.00 (est.)" in content and "$1,070.50 (est.)" in content
    assert "Amounts marked (est.) rest on projected rates or an estimated entity fee." in content


# ---------------------------------------------------------------------------------------------
# Queries
# ---------------------------------------------------------------------------------------------


def populate(parent, affiliates: int, applications: int, start: int = 0):
    """`affiliates` more affiliates of `parent`, and `applications` counted, licensed applications for each entity."""
    entities = [parent] + [
        OrganizationFactory(name=f"Affiliate {start + n}", slug=f"affiliate-{start + n}", parent=parent)
        for n in range(affiliates)
    ]
    for organization in entities:
        for n in range(applications):
            application = ApplicationFactory(
                organization=organization,
                name=f"{organization.slug} system {start + n}",
                vendor=VendorFactory() if n % 2 else None,
                data_files=["cpt-standard", "cpt-rvu"],
            )
            (ProxyCountFactory if n % 3 == 0 else UserCountFactory)(application=application, license_year=YEAR)
            LicenseFactory(application=application, license_year=YEAR, distributor=VendorFactory())


def test_the_report_makes_the_same_queries_for_a_small_and_a_large_system(officer, org_a):
    populate(org_a, affiliates=1, applications=2)
    with CaptureQueriesContext(connection) as few:
        small = reports.compliance_report(org_a, YEAR, include_affiliates=True, viewer=officer)
        reports.as_csv(small)
        reports.as_xlsx(small)
    populate(org_a, affiliates=4, applications=6, start=100)
    with CaptureQueriesContext(connection) as many:
        large = reports.compliance_report(org_a, YEAR, include_affiliates=True, viewer=officer)
        reports.as_csv(large)
        reports.as_xlsx(large)
    assert (len(small.entities), len(small.applications)) == (2, 4)
    assert len(large.entities) == 6 and len(large.applications) > 30
    assert len(few) == len(many)


def test_the_download_makes_the_same_queries_at_two_sizes(officer_client, org_a, django_assert_max_num_queries):
    populate(org_a, affiliates=1, applications=2)
    with CaptureQueriesContext(connection) as few:
        download(officer_client, org_a, "xlsx")
    populate(org_a, affiliates=3, applications=5, start=100)
    with django_assert_max_num_queries(len(few)):
        download(officer_client, org_a, "xlsx")


# ---------------------------------------------------------------------------------------------
# The form
# ---------------------------------------------------------------------------------------------


def test_the_form_starts_at_the_year_shown(officer_client, system):
    page = officer_client.get(report_url(system))
    assert page.status_code == 200 and "Content-Disposition" not in page
    assert page.context["form"]["year"].value() == standing.current_license_year()
    assert page.context["form"]["include_affiliates"].value() is True
    page = officer_client.get(report_url(system), {"year": "2025"})
    assert page.context["form"]["year"].value() == 2025


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"year": "1999", "format": "csv"}, "Choose a license year from 2000 to 2100."),
        ({"year": "2101", "format": "pdf"}, "Choose a license year from 2000 to 2100."),
        ({"year": "twenty", "format": "csv"}, "Enter the license year as four digits, e.g. 2026."),
        ({"year": "", "format": "csv"}, "Enter the license year, e.g. 2026."),
        ({"year": "2026", "format": "docx"}, "“docx” is not a format of the report; choose CSV, XLSX or PDF."),
        ({"year": "2026", "format": ""}, "Choose a format: CSV, XLSX or PDF."),
    ],
)
def test_bad_input_shows_the_form_again_with_what_to_fix(officer_client, system, params, message):
    response = officer_client.get(report_url(system), params)
    assert response.status_code == 200
    assert "Content-Disposition" not in response
    assert response.context["problems"] == [message]
    page = response.content.decode()
    assert 'id="report-form"' in page and message in page
