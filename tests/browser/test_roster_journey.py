"""Counting users from a roster, in a real browser: the officer imports the analytics warehouse's new roster (the demo's
hand-import file, licensing/demo_rosters/), is stopped by its unmapped role, maps it, imports again, reads the count
derived from it, reconciles the rosters and accepts a finding, and finds the other legal entity in the prepared
application's PDF; then clears the physician group's draft of its plausibility warning. Every page is checked for
health (console, labels, axe, width) under the Content-Security-Policy; the screenshots go to docs/screenshots with
`make screenshots`.
"""

import io

import pytest
from django.utils import timezone
from playwright.sync_api import expect
from pypdf import PdfReader

from licensing import demo, standing
from licensing.models import Application, Filing, UserCount
from licensing.models.reconciliation import FindingAcceptance
from licensing.models.rosters import RoleMapping, Roster
from tests.browser.steps import choose, log_in, save, success_message
from tests.browser.test_content_security_policy import RECORD_VIOLATIONS

pytestmark = pytest.mark.django_db(transaction=True)

OFFICER = (demo.OFFICER_LOGIN.username, demo.OFFICER_LOGIN.password)
WAREHOUSE = "Enterprise analytics warehouse"
# Not the January roster's source: a second roster of the same application, year, date and source is refused, and
# in the first half of January the demo's roster is taken today too.
SOURCE = "Keystone report subscription list, update"


def shot(page, folder, name: str, *, focus: str) -> None:
    page.locator(focus).first.scroll_into_view_if_needed()
    page.screenshot(path=str(folder / name))


def watch_the_policy(page) -> None:
    """Record what the browser refuses under the Content-Security-Policy, on every page from now on."""
    page.context.add_init_script(RECORD_VIOLATIONS)


def healthy(page) -> None:
    """The page's health (console quiet, labelled, accessible, no wider than the screen), and nothing refused."""
    page.health.check()
    assert page.evaluate("window.__cspViolations") == [], page.url


def upload_roster(page, *, application: str, taken_on: str, reason: str) -> None:
    page.goto("/admin/licensing/rosterline/import/")
    healthy(page)
    choose(page, "application", application, search=application.split(" (")[0])
    page.get_by_label("Taken on").fill(taken_on)
    page.get_by_label("Source").fill(SOURCE)
    page.get_by_label("File").set_input_files(str(demo.DEMO_ROSTERS_DIR / demo.HAND_IMPORT_ROSTER))
    page.get_by_label("Reason").fill(reason)
    page.get_by_role("button", name="Preview the import").click()


def expect_finding_totals(page, finding: str, *, people: str, accepted: str) -> None:
    cells = page.locator("#reconcile-findings-summary tbody tr", has_text=finding).locator("td")
    expect(cells.nth(1)).to_have_text(people)
    expect(cells.nth(2)).to_have_text(accepted)


def test_the_officer_counts_users_from_a_roster(page, screenshots, tmp_path):
    demo.seed_demo()
    year = standing.current_license_year()
    today = timezone.localdate()
    warehouse = Application.objects.get(name=WAREHOUSE)
    label = f"{WAREHOUSE} (Riverbend Health)"
    watch_the_policy(page)
    log_in(page, *OFFICER)

    # The new roster names a role the warehouse's mapping does not know: refused, the role and its line named.
    upload_roster(page, application=label, taken_on=today.isoformat(), reason="February subscription list")
    expect(page.locator("#import-outcome")).to_have_text("Refused (nothing written)")
    healthy(page)
    problem = page.locator("#import-problems li").first
    expect(problem).to_contain_text(
        f"1 role of this file has no mapping for {WAREHOUSE}: 'Budget analyst' (line 12). Say how each counts"
    )
    expect(page.locator("#import-refused")).to_contain_text("Nothing was written.")
    expect(page.get_by_role("button", name="Confirm import")).to_have_count(0)
    assert Roster.objects.filter(application=warehouse).count() == 1

    # The refusal links to the role mappings page, with the warehouse chosen already.
    problem.get_by_role("link", name="the role mappings page").click()
    healthy(page)
    expect(page.locator("#id_application")).to_have_value(str(warehouse.pk))
    page.get_by_label("Role as exported").fill("Budget analyst")
    page.get_by_label("Counts as").select_option(label="(c) uses its output")
    page.get_by_label("Explanation").fill("Reads the budget reports built on CPT codes and RVUs.")
    page.get_by_role("textbox", name="Reason for this change").fill("New role in the February list")
    save(page, "Save")
    expect(page.locator("ul.messagelist li.success")).to_contain_text("was added successfully")
    healthy(page)
    assert RoleMapping.objects.get(application=warehouse, role="Budget analyst").kind == "c"

    # Again: previewed, compared with January's roster, the person listed twice named, the count it will give.
    upload_roster(page, application=label, taken_on=today.isoformat(), reason="February subscription list")
    expect(page.locator("#import-outcome")).to_have_text("Previewed (dry run, nothing written)")
    healthy(page)
    notes = page.locator("ul.messagelist li.info")
    expect(notes.first).to_contain_text(
        f"Roster of {today:%Y-%m-%d} from {SOURCE}: 2 (a) + 2 (b) + 5 (c) = 9 users; 1 excluded as not users. "
        f"This roster replaces the {year} user count of {WAREHOUSE} (now Roster of "
    )
    expect(page.locator(".messagelist")).to_contain_text(f"Compared with the previous roster of {WAREHOUSE}")
    expect(page.locator(".messagelist")).to_contain_text(
        "1 person is listed more than once, each counted once: Nadia Petrov (RB1002) on lines 3, 7: counted once, "
        "under (a) accesses CPT directly."
    )
    expect(page.locator("#import-totals")).to_contain_text("1 new, 0 updated")
    new = page.locator("#import-rows tbody tr", has_text="Irene Walsh (RB4001)")
    expect(new).to_contain_text("Role: Budget analyst")
    expect(new).to_contain_text("Counts as: (c) uses its output")
    assert Roster.objects.filter(application=warehouse).count() == 1  # the preview wrote nothing
    shot(page, screenshots, "roster-import-preview.png", focus="#import-facts, .import-facts")

    page.get_by_role("button", name="Confirm import").click()
    expect(page.locator("ul.messagelist li.success")).to_be_visible()
    healthy(page)

    # The count now follows the new roster, and says how it was reached.
    count = UserCount.objects.get(application=warehouse, license_year=year)
    roster = Roster.objects.filter(application=warehouse).latest("pk")
    assert count.roster_id == roster.pk and count.users == 9
    page.goto(f"/admin/licensing/usercount/{count.pk}/change/")
    healthy(page)
    expect(page.locator(".field-explanation")).to_contain_text(
        f"Roster of {today:%Y-%m-%d} from {SOURCE}: 2 (a) + 2 (b) + 5 (c) = 9 users; 1 excluded as not users"
    )
    expect(page.locator(".field-users")).to_contain_text("9")
    expect(page.locator(".field-roster")).to_contain_text(SOURCE)
    shot(page, screenshots, "roster-count.png", focus=".field-explanation")

    # Reconciling the system's rosters: the Lakeshore Clinic's budget analyst uses the system's warehouse.
    page.goto(f"/admin/licensing/organization/{warehouse.organization_id}/change/")
    page.get_by_role("link", name="Reconcile rosters").click()
    healthy(page)
    expect(page.locator("#reconcile-total")).to_contain_text("23 distinct people across the organization, 20 of them")
    expect_finding_totals(page, "At another legal entity", people="5", accepted="0")
    expect_finding_totals(page, "Outside the US", people="1", accepted="0")
    expect_finding_totals(page, "Looks shared or generic", people="2", accepted="0")
    page.get_by_role("link", name="At another legal entity").click()
    healthy(page)
    row = page.locator("#reconcile-findings tbody tr", has_text="Irene Walsh")
    expect(row).to_contain_text("Riverbend Lakeshore Clinic")
    expect(row).to_contain_text(f"{WAREHOUSE} (Riverbend Health: Budget analyst)")
    row.get_by_label("Reason").fill("Lakeshore's budget analyst; named on the application as another entity's user")
    row.get_by_role("button", name="Accept").click()
    expect(page.locator("ul.messagelist li.success")).to_have_text(
        "At another legal entity: the finding for RB4001 is accepted."
    )
    healthy(page)
    accepted = page.locator("#reconcile-findings tbody tr", has_text="Irene Walsh")
    expect(accepted).to_contain_text(
        f"Accepted by {OFFICER[0]} on {today:%Y-%m-%d}: Lakeshore's budget analyst; named on the application"
    )
    expect_finding_totals(page, "At another legal entity", people="5", accepted="1")
    assert FindingAcceptance.objects.get(identifier="rb4001").kind == "other_entity"
    shot(page, screenshots, "reconciliation.png", focus="#reconcile-findings")

    # The application prepared for the AMA names the Lakeshore Clinic among the warehouse's other entities.
    page.goto(f"/admin/licensing/organization/{warehouse.organization_id}/change/")
    page.get_by_role("link", name="Prepare application").click()
    healthy(page)
    page.get_by_role("button", name="Prepare draft application").click()
    healthy(page)
    page.wait_for_load_state("networkidle")
    with page.expect_download() as downloaded:
        page.get_by_role("link", name="Preview PDF (draft)").click()
    pdf = tmp_path / "draft.pdf"
    downloaded.value.save_as(pdf)
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.read_bytes())).pages).split())
    section = text[text.index(WAREHOUSE) :]
    assert "Users at other entities: Riverbend Lakeshore Clinic; Riverbend Memorial Hospital; Riverbend Physician" in (
        section
    ), section[:1500]


def test_a_plausibility_warning_holds_the_filing_until_acknowledged(page, screenshots):
    demo.seed_demo()
    year = standing.current_license_year()
    draft = Filing.objects.get(organization__slug="riverbend-physician-partners", license_year=year)
    watch_the_policy(page)
    log_in(page, *OFFICER)

    # The dashboard lists the count far below the User Proxy Model.
    page.goto("/admin/")
    implausible = page.locator(".dashboard-implausible")
    expect(implausible).to_contain_text("1 not acknowledged")
    expect(implausible).to_contain_text("Bluestem Ambulatory EHR")
    healthy(page)

    page.goto(f"/admin/licensing/filing/{draft.pk}/change/")
    healthy(page)
    warning = page.locator(".filing-plausibility li", has_text="Bluestem Ambulatory EHR")
    expect(warning).to_contain_text(
        "8 users counted; the User Proxy Model from 72 physicians gives about 288 (estimate); under half"
    )
    expect(page.locator(".field-readiness")).to_contain_text("correct the count, or acknowledge this warning")

    # Submitting is refused while the warning stands.
    page.get_by_role("button", name="Submit to the AMA and freeze").click()
    expect(page.locator("ul.messagelist li.error").first).to_have_text("Not submitted. Fix these first:")
    expect(page.locator("ul.messagelist li.error").nth(1)).to_contain_text("Bluestem Ambulatory EHR: 8 users counted")
    healthy(page)
    draft.refresh_from_db()
    assert draft.status == "draft"

    # Acknowledged with a reason, it no longer holds the filing back; then it goes out.
    warning = page.locator(".filing-plausibility li", has_text="Bluestem Ambulatory EHR")
    warning.get_by_label("Why the count is right").fill("Most of the group's physicians chart in the hospital's EHR")
    warning.get_by_role("button", name="Acknowledge with this reason").click()
    healthy(page)
    expect(page.locator(".filing-plausibility li")).to_contain_text(
        f"Acknowledged by {OFFICER[0]} on {timezone.localdate():%Y-%m-%d}: Most of the group's physicians chart"
    )
    expect(page.locator(".field-readiness")).to_contain_text("Yes: everything the AMA asks for is filled in.")
    page.get_by_role("button", name="Submit to the AMA and freeze").click()
    healthy(page)
    draft.refresh_from_db()
    assert draft.status == "submitted"
    assert success_message(page) == f"Submitted and frozen. PDF SHA-256: {draft.pdf_sha256}"
