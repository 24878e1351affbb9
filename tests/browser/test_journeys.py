"""The portal as people use it, in a real browser: the officer's day, the auditor's day, and the boundary
between organizations. Every page visited is checked for health (title, labels, console, requests, axe,
width); the screenshots in docs/screenshots come from here (`make screenshots`).
"""

import csv
import io
import time

import pytest
from django.utils import timezone
from openpyxl import load_workbook
from playwright.sync_api import expect
from pypdf import PdfReader

from licensing import demo, services, standing
from licensing.identifiers import npi_check_digit
from licensing.models import Application, Filing, License, Organization, UserCount
from tests.browser.conftest import pdf_first_page_png
from tests.browser.steps import choose, field_errors, log_in, save, submit, success_message

# Browser tests share the live server's database, so each runs in its own transaction-free database state;
# the reference data that migrations loaded is restored after each.
pytestmark = pytest.mark.django_db(transaction=True)

OFFICER = (demo.OFFICER_LOGIN.username, demo.OFFICER_LOGIN.password)
AUDITOR = (demo.AUDITOR_LOGIN.username, demo.AUDITOR_LOGIN.password)
HOSPITAL = "Riverbend Memorial Hospital"


def dollars(amount) -> str:
    return f"${amount:,.2f}"


def shot(page, folder, name: str, *, focus: str | None = None) -> None:
    """A screenshot of what the person sees (the screen, not the whole page), scrolled to `focus` if given."""
    if focus:
        page.locator(focus).first.scroll_into_view_if_needed()
    page.screenshot(path=str(folder / name))


def no_save_button(page) -> None:
    expect(page.locator("input[name='_save'], button[name='_save'], input[name='_continue']")).to_have_count(0)


# ---------------------------------------------------------------------------------------------
# The officer's day
# ---------------------------------------------------------------------------------------------


def test_the_officers_day(page, screenshots, tmp_path):
    demo.seed_demo()
    year = standing.current_license_year()
    per_user = standing.rate_table().for_year(year).per_user["cpt-standard"]

    log_in(page, *OFFICER)
    page.health.check()

    # The demo hospital's page: its details and this year's royalty.
    page.get_by_role("link", name="Organizations").first.click()
    page.health.check()
    page.get_by_role("link", name=HOSPITAL, exact=True).click()
    expect(page.locator(".field-year_summary")).to_contain_text("Total")
    page.health.check()
    shot(page, screenshots, "organization.png", focus=".field-year_summary")

    # A new affiliate: a mistyped NPI is refused at its field, the corrected one saves.
    page.goto("/admin/licensing/organization/add/")
    page.health.check()
    page.locator("#id_name").press_sequentially("Riverbend South Clinic")
    expect(page.locator("#id_slug")).to_have_value("riverbend-south-clinic")
    page.locator("#id_kind").select_option(label="Ambulatory clinic")
    choose(page, "parent", "Riverbend Health")
    page.locator("#id_npi").fill("1234567890")
    save(page)
    assert "fails its check digit" in field_errors(page, "npi")
    page.health.check()
    page.locator("#id_npi").fill("123456789" + str(npi_check_digit("123456789")))
    save(page)
    assert "was added successfully" in success_message(page)
    page.health.check()
    clinic = Organization.objects.get(slug="riverbend-south-clinic")
    assert clinic.parent.name == "Riverbend Health"

    # An application counted by the User Proxy Model: 1 physician x 4 = 4 users, and its royalty.
    page.goto("/admin/licensing/application/add/")
    page.health.check()
    choose(page, "organization", "Riverbend South Clinic")
    page.locator("#id_name").fill("Clinic EHR")
    page.locator("#id_category").select_option(label="Ambulatory EHR")
    page.get_by_label("CPT Standard").check()
    page.get_by_role("button", name="Add another User count").click()
    page.locator("#id_user_counts-0-license_year").fill(str(year))
    page.locator("#id_user_counts-0-method").select_option(label="User Proxy Model")
    page.locator("#id_user_counts-0-base_metric").select_option(label="Physicians")
    page.locator("#id_user_counts-0-metric_value").fill("1")
    page.locator("#id_user_counts-0-factor").fill("4")
    save(page)
    assert "was added successfully" in success_message(page)
    summary = page.locator(".field-standing_summary")
    expect(summary).to_contain_text("Users: 4")
    expect(summary).to_contain_text(f"Royalty: {dollars(4 * per_user)}")
    page.health.check()

    # Its license for the year, in the same page.
    page.get_by_role("button", name="Add another License").click()
    page.locator("#id_licenses-0-license_year").fill(str(year))
    page.locator("#id_licenses-0-status").select_option(label="Active")
    page.locator("#id_licenses-0-licensed_users").fill("4")
    page.locator("#id_licenses-0-agreement_number").fill(f"AMA-IU-{year}-0417")
    save(page)
    expect(page.locator(".field-standing_summary")).to_contain_text("Position: Compliant")
    page.health.check()
    shot(page, screenshots, "application.png", focus="#user_counts-group")
    application = Application.objects.get(name="Clinic EHR")
    assert License.objects.get(application=application, license_year=year).status == "active"

    # Changing the count without saying why is refused; with a reason it is kept, reason and all.
    count = UserCount.objects.get(application=application, license_year=year)
    page.goto(f"/admin/licensing/usercount/{count.pk}/change/")
    page.locator("#id_factor").fill("5")
    save(page, "Save")
    assert "Say why this changed" in field_errors(page, "change_reason")
    page.health.check()
    page.get_by_role("textbox", name="Reason for this change").fill("Recount: the clinic's physician works two sites")
    shot(page, screenshots, "user-count.png")
    save(page, "Save")
    assert "was changed successfully" in success_message(page)
    page.health.check()
    count.refresh_from_db()
    assert (count.users, count.history.latest("history_id").history_change_reason) == (
        5,
        "Recount: the clinic's physician works two sites",
    )

    # The licensing application: prepared, previewed, completed, submitted, downloaded, verified.
    page.goto(f"/admin/licensing/organization/{clinic.pk}/change/")
    page.get_by_role("link", name="Prepare application").click()
    expect(page.locator("#included-applications")).to_have_text("Clinic EHR")
    page.health.check()
    shot(page, screenshots, "prepare-application.png")
    page.get_by_role("button", name="Prepare draft application").click()
    assert "Draft application" in success_message(page)
    page.health.check()
    with page.expect_download() as preview:
        page.get_by_role("link", name="Preview PDF (draft)").click()
    assert preview.value.suggested_filename.endswith("_DRAFT.pdf")
    page.locator("#id_signatory_name").fill("Tomas Herrera")
    page.locator("#id_signatory_title").fill("Clinic Practice Manager")
    page.get_by_label("Information is accurate and complete").check()
    page.get_by_label("Will notify the AMA of changes").check()
    save(page)
    page.get_by_role("button", name="Submit to the AMA and freeze").click()
    assert "Submitted and frozen" in success_message(page)
    page.health.check()
    filing = Filing.objects.get(organization=clinic)
    assert filing.status == "submitted"

    with page.expect_download() as sent:
        page.get_by_role("link", name="Download PDF as sent").click()
    pdf_path = tmp_path / sent.value.suggested_filename
    sent.value.save_as(pdf_path)
    text = " ".join(page_text.extract_text() for page_text in PdfReader(pdf_path).pages)
    assert "Riverbend South Clinic" in text and "Clinic EHR" in text
    assert "Users and counting 5 — User Proxy Model: physicians 1 × factor 5" in text, text
    pdf_first_page_png(pdf_path, screenshots / "application-pdf.png")

    page.get_by_role("link", name="Verify stored PDF").click()
    assert f"Match: the stored PDF still has SHA-256 {filing.pdf_sha256}" in success_message(page)
    page.health.check()


# ---------------------------------------------------------------------------------------------
# The auditor's day
# ---------------------------------------------------------------------------------------------


def test_the_auditors_day(page, screenshots, tmp_path):
    seeded = demo.seed_demo()
    year = standing.current_license_year()
    hospital = Organization.objects.get(name=HOSPITAL)
    count = UserCount.objects.filter(application__organization=hospital, license_year=year, method="counted").first()
    before = count.direct_users
    # A moment between the demo data and the officer's recount, to the second the as-of form takes.
    time.sleep(1.1)
    between = timezone.localtime().replace(microsecond=0)
    time.sleep(1.1)
    officer = type(seeded.admin).objects.get(username=OFFICER[0])
    count.direct_users = before + 7
    services.record_save(count, actor=officer, reason="March recount of coders")

    log_in(page, *AUDITOR)
    page.get_by_role("link", name="Organizations").first.click()
    page.get_by_role("link", name=HOSPITAL, exact=True).click()
    page.health.check()
    no_save_button(page)

    # The audit trail, narrowed to one person, then to one kind of record.
    page.get_by_role("link", name="Audit trail").click()
    page.health.check()
    page.get_by_label("Changed by").select_option(OFFICER[0])
    submit(page, "Show changes")
    people = page.locator("#audit-trail tbody td.person").all_inner_texts()
    assert people and set(people) == {OFFICER[0]}
    page.health.check()
    page.get_by_label("Changed by").select_option("")
    page.get_by_label("User count").check()
    submit(page, "Show changes")
    kinds = page.locator("#audit-trail tbody td.record-type").all_inner_texts()
    assert kinds and set(kinds) == {"User count"}
    page.health.check()
    shot(page, screenshots, "audit-trail.png")

    # Both exports, opened and read.
    with page.expect_download() as csv_file:
        page.get_by_role("link", name="CSV", exact=True).click()
    csv_path = tmp_path / csv_file.value.suggested_filename
    csv_file.value.save_as(csv_path)
    lines = list(csv.reader(io.StringIO(csv_path.read_text(encoding="utf-8-sig"))))
    assert lines[0][1:] == ["Person", "Record type", "Record id", "Record", "Action", "Field", "Old value",
                            "New value", "Reason", "Import"]  # fmt: skip
    assert [OFFICER[0], "User count", str(count.pk)] == lines[1][1:4]
    assert lines[1][6:] == ["(a) access CPT directly", str(before), str(before + 7), "March recount of coders", ""]
    with page.expect_download() as xlsx_file:
        page.get_by_role("link", name="XLSX", exact=True).click()
    xlsx_path = tmp_path / xlsx_file.value.suggested_filename
    xlsx_file.value.save_as(xlsx_path)
    sheet = load_workbook(xlsx_path, read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][1:4] == (OFFICER[0], "User count", count.pk)
    assert rows[1][6:10] == ("(a) access CPT directly", str(before), str(before + 7), "March recount of coders")

    # The record's own history: who, when, why, and the field as old -> new.
    page.locator("#audit-trail tbody a", has_text=count.application.name).first.click()
    expect(page.locator("body")).to_contain_text(f"(a) access CPT directly: {before} → {before + 7}")
    expect(page.locator("body")).to_contain_text("March recount of coders")
    page.health.check()
    shot(page, screenshots, "record-history.png")
    no_save_button(page)

    # The organization as it stood between the demo data and the recount.
    page.goto(f"/admin/licensing/organization/{hospital.pk}/as-of/")
    page.health.check()
    page.get_by_label("As of").fill(between.strftime("%Y-%m-%dT%H:%M:%S"))
    page.get_by_role("button", name="Show").click()
    row = page.locator("table tbody tr", has_text=count.application.name).first
    expect(row).to_contain_text(f"{before} (a)")
    page.health.check()
    shot(page, screenshots, "as-of.png", focus="#content-main table")

    # Read-only everywhere: no save button, and a change posted from the page is refused.
    page.goto(f"/admin/licensing/usercount/{count.pk}/change/")
    page.health.check()
    no_save_button(page)
    status = page.evaluate(
        """async () => {
            const token = document.cookie.split('; ').find(c => c.startsWith('csrftoken=')).split('=')[1];
            const body = new URLSearchParams({csrfmiddlewaretoken: token, direct_users: '999', change_reason: 'x'});
            const response = await fetch(location.pathname, {method: 'POST', body, credentials: 'same-origin'});
            return response.status;
        }"""
    )
    assert status == 403
    count.refresh_from_db()
    assert count.direct_users == before + 7


# ---------------------------------------------------------------------------------------------
# The boundary between organizations
# ---------------------------------------------------------------------------------------------


def test_an_officer_never_reaches_another_organization(page):
    seeded = demo.seed_demo()
    other = services.record_save(
        Organization(name="Lakeview Partners", slug="lakeview-partners", kind="physician_group"),
        actor=seeded.admin,
        reason="Another customer",
    )
    application = services.record_save(
        Application(organization=other, name="Lakeview Billing", category="billing_rcm", cpt_coverage="no_cpt"),
        actor=seeded.admin,
        reason="Another customer",
    )
    filing = services.record_save(
        Filing(organization=other, license_year=standing.current_license_year()), actor=seeded.admin, reason="x"
    )

    log_in(page, *OFFICER)
    for path in [
        f"/admin/licensing/organization/{other.pk}/change/",
        f"/admin/licensing/organization/{other.pk}/history/",
        f"/admin/licensing/organization/{other.pk}/audit-trail/",
        f"/admin/licensing/organization/{other.pk}/as-of/",
        f"/admin/licensing/organization/{other.pk}/prepare-filing/",
        f"/admin/licensing/application/{application.pk}/change/",
        f"/admin/licensing/application/{application.pk}/history/",
        f"/admin/licensing/filing/{filing.pk}/change/",
        f"/admin/licensing/filing/{filing.pk}/pdf/",
    ]:
        response = page.goto(path)
        assert response.status == 404, path
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
        assert "Lakeview" not in page.content(), path
        page.health.check(expect_status=404)

    # Nor through the lists and the search a person would try.
    page.goto("/admin/licensing/organization/?q=Lakeview")
    expect(page.locator("#result_list tbody tr")).to_have_count(0)
    assert "Lakeview" not in page.locator("#changelist").inner_text()
    page.health.check()
    page.goto("/admin/licensing/application/add/")
    page.locator("#id_organization + .select2").click()
    page.locator(".select2-container--open .select2-search__field").fill("Lakeview")
    expect(page.locator(".select2-results__option")).to_have_text(["No results found"])
    page.keyboard.press("Escape")
    page.health.check()


# ---------------------------------------------------------------------------------------------
# Spreadsheets: export, edit, import with a preview, find the import on the audit trail
# ---------------------------------------------------------------------------------------------


def edited_workbook(path, changes: dict[tuple[str, str], object], out) -> dict[str, object]:
    """Change cells of an exported workbook, found by system name and column heading; returns the old values."""
    workbook = load_workbook(path)
    sheet = workbook.active
    headers = [cell.value for cell in sheet[1]]
    old = {}
    for row in sheet.iter_rows(min_row=2):
        for (system, column), value in changes.items():
            if row[headers.index("System name")].value == system:
                cell = row[headers.index(column)]
                old[f"{system}/{column}"] = cell.value
                cell.value = value
    workbook.save(out)
    return old


def test_the_officer_imports_a_spreadsheet(page, screenshots, tmp_path):
    demo.seed_demo()
    hospital = Organization.objects.get(name=HOSPITAL)
    systems = list(Application.objects.filter(organization=hospital).order_by("name").values_list("name", flat=True))
    first, second = systems[0], systems[1]
    # Next year's version: the demo's versions follow the current year, so this one is always a change.
    version = f"{standing.current_license_year() + 1}.2"
    log_in(page, *OFFICER)

    # The hospital's applications, exported to XLSX from the filtered list.
    page.goto('/admin/licensing/application/?q="Riverbend Memorial Hospital"')
    page.health.check()
    # A download is a navigation: the page's own icons are loaded first, so none is cut off by it.
    page.wait_for_load_state("networkidle")
    with page.expect_download() as exported:
        page.get_by_role("link", name="Export XLSX").click()
    path = tmp_path / "applications.xlsx"
    exported.value.save_as(path)
    assert {row[1] for row in load_workbook(path).active.iter_rows(min_row=2, values_only=True)} == set(systems)

    # Two cells changed, as in a spreadsheet program.
    edited = tmp_path / "applications-edited.xlsx"
    old = edited_workbook(
        path, {(first, "Product version"): version, (second, "System owner"): "Clinical informatics"}, edited
    )
    history_before = Application.history.count()

    page.get_by_role("link", name="Import", exact=True).click()
    page.health.check()
    page.get_by_label("File").set_input_files(str(edited))
    page.get_by_label("Reason").fill("Versions and owners from the January inventory")
    page.get_by_role("button", name="Preview the import").click()
    expect(page.locator("#import-outcome")).to_contain_text("Previewed")
    page.health.check()
    expect(page.locator("#import-totals")).to_contain_text("0 new, 2 updated")
    rows = page.locator("#import-rows tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text=first)).to_contain_text(
        f"Product version: {old[f'{first}/Product version'] or '(empty)'} → {version}"
    )
    expect(rows.filter(has_text=second)).to_contain_text("→ Clinical informatics")
    assert Application.history.count() == history_before  # nothing written by the preview
    shot(page, screenshots, "import-preview.png", focus="#import-rows")

    page.get_by_role("button", name="Confirm import").click()
    expect(page.locator("ul.messagelist li.success")).to_contain_text("2 updated")
    page.health.check()
    assert Application.objects.get(organization=hospital, name=first).product_version == version
    assert Application.history.count() == history_before + 2

    # The import on the hospital's audit trail: its two changes, each naming the import.
    page.get_by_role("link", name="audit trail, filtered to import").click()
    page.health.check()
    trail = page.locator("#audit-trail tbody tr")
    expect(trail).to_have_count(2)
    expect(trail.first).to_contain_text("Versions and owners from the January inventory")
    expect(page.locator("#audit-trail")).to_contain_text(version)
    expect(page.locator("#audit-trail")).to_contain_text("Clinical informatics")

    # A file with one bad row shows that row's error and writes nothing.
    bad = tmp_path / "applications-bad.xlsx"
    edited_workbook(edited, {(first, "Category"): "Spaceship", (second, "Product version"): "9.9"}, bad)
    page.goto("/admin/licensing/application/import/")
    page.get_by_label("File").set_input_files(str(bad))
    page.get_by_role("button", name="Preview the import").click()
    expect(page.locator("#import-outcome")).to_contain_text("Refused")
    page.health.check()
    error_row = page.locator("#import-rows tbody tr").first
    expect(error_row).to_contain_text("Error")
    expect(error_row).to_contain_text("'Spaceship' is not a category")
    expect(page.locator("#confirm-form")).to_have_count(0)
    assert Application.objects.get(organization=hospital, name=second).product_version != "9.9"
    assert Application.history.count() == history_before + 2


# ---------------------------------------------------------------------------------------------
# Compliance at a glance
# ---------------------------------------------------------------------------------------------


def test_the_officer_reads_the_dashboard_and_the_roll_up(page, screenshots):
    demo.seed_demo()
    year = standing.current_license_year()

    log_in(page, *OFFICER)
    expect(page.locator(".dashboard-year h2")).to_have_text(f"License year {year}")
    page.health.check()
    shot(page, screenshots, "dashboard.png")

    # A figure and the list behind it show the same number of records.
    row = page.locator("tr[data-figure='under_licensed']")
    figure = int(row.locator(".figure-count a").inner_text())
    assert figure >= 1
    row.locator("th a").click()
    page.health.check()
    expect(page.locator("#result_list tbody tr")).to_have_count(figure)
    expect(page.locator("#changelist-filter")).to_contain_text("Under-licensed")
    shortfall = page.locator("#result_list tbody tr td.field-shortfall_this_year").first.inner_text()
    assert shortfall.isdigit() and int(shortfall) > 0

    # Last year's dashboard: switching the year changes what is counted.
    page.goto("/admin/")
    page.get_by_role("link", name=str(year - 1), exact=True).first.click()
    expect(page.locator(".dashboard-year h2")).to_have_text(f"License year {year - 1}")
    page.health.check()
    expect(page.locator(".royalty-total")).to_contain_text(f"Total royalty {year - 1}")

    # The health system's roll-up: each legal entity, and the total across them.
    page.goto("/admin/licensing/organization/")
    page.get_by_role("link", name="Riverbend Health", exact=True).click()
    summary = page.locator(".field-year_summary")
    expect(summary).to_contain_text("Health-system roll-up")
    expect(summary.locator("table.rollup tbody tr")).to_have_count(
        Organization.objects.filter(parent__slug="riverbend-health").count() + 1
    )
    expect(summary.locator("table.rollup tfoot")).to_contain_text("Total of")
    page.health.check()
    shot(page, screenshots, "roll-up.png", focus="table.rollup")

    # Renew one license for next year from the licenses list: a new row, the old year untouched.
    cedarline = License.objects.get(application__name="Cedarline Inpatient EHR", license_year=year)
    page.goto(f"/admin/licensing/license/?license_year__exact={year}")
    page.health.check()
    page.get_by_role("row", name=f"Cedarline Inpatient EHR {HOSPITAL}").get_by_role("checkbox").check()
    page.locator("select[name='action']").select_option(label=f"Renew for {year + 1}")
    page.get_by_role("button", name="Go", exact=True).click()
    page.health.check()
    page.get_by_role("button", name=f"Renew for {year + 1}").click()
    assert f"for {year + 1}" in success_message(page)
    renewal = License.objects.get(application__name="Cedarline Inpatient EHR", license_year=year + 1)
    assert (renewal.status, renewal.renewal_of_id) == ("needed", cedarline.pk)
    cedarline_after = License.objects.get(pk=cedarline.pk)
    assert (cedarline_after.status, cedarline_after.licensed_users) == (cedarline.status, cedarline.licensed_users)

    # The health system's compliance report, with its affiliates, as CSV: every entity's total is in it.
    system = Organization.objects.get(slug="riverbend-health")
    page.goto(f"/admin/licensing/organization/{system.pk}/change/")
    page.get_by_role("link", name="Compliance report").click()
    page.health.check()
    page.get_by_label("Include affiliates").check()
    page.get_by_label("CSV").check()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the report").click()
    assert download.value.suggested_filename == f"riverbend-health-{year}-compliance-report.csv"
    text = download.value.path().read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    flat = "\n".join(",".join(row) for row in rows)
    for org in Organization.objects.filter(slug__startswith="riverbend"):
        assert org.name in flat, org.name
    assert "Cedarline Inpatient EHR" in flat
