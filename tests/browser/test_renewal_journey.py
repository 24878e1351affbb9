"""The officer renews an organization for next year in a real browser, then reviews the copied user count."""

import datetime

import pytest
from playwright.sync_api import expect

from licensing import standing
from licensing.models import License, UserCount
from tests.browser.steps import log_in, save, success_message
from tests.factories import (
    ApplicationFactory,
    LicenseFactory,
    OrganizationFactory,
    UserCountFactory,
    UserFactory,
    member,
)

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"


def test_the_officer_renews_for_next_year_and_reviews_the_count(page):
    this = standing.current_license_year()
    hospital = OrganizationFactory(name="Lakeside Hospital")
    officer = UserFactory(username="renewing-officer")
    member(officer, hospital, "officer")
    billing = ApplicationFactory(organization=hospital, name="Lakeside Billing")
    LicenseFactory(application=billing, license_year=this, licensed_users=25)
    UserCountFactory(application=billing, license_year=this, direct_users=25, counted_on=datetime.date(this, 1, 15))

    log_in(page, officer.username, PASSWORD)
    page.goto("/admin/licensing/organization/")
    page.health.check()
    page.get_by_role("row", name="Lakeside Hospital").get_by_role("checkbox").check()
    page.locator("select[name='action']").select_option(label=f"Renew for {this + 1}")
    page.get_by_role("button", name="Go", exact=True).click()

    # The confirmation page says what will be opened and asks why; nothing is written yet.
    expect(page.locator("#renewal-lines")).to_contain_text(f"from the {this} license")
    expect(page.get_by_label("Reason for this renewal")).to_have_value(f"Renewal for {this + 1} from {this}")
    page.health.check()
    assert not License.objects.filter(license_year=this + 1).exists()
    page.get_by_label("Reason for this renewal").fill("Annual renewal for the new CPT release")
    page.get_by_role("button", name=f"Renew for {this + 1}").click()
    assert success_message(page) == (
        f"Renewed 1 application for {this + 1}: 1 license (needed) and 1 user count to review."
    )
    page.health.check()

    # The copied count waits in the user count list's "needs review" filter; checked and unticked, it leaves it.
    page.goto("/admin/licensing/usercount/?needs_review__exact=1")
    page.health.check()
    page.get_by_role("link", name="Lakeside Billing").click()
    page.health.check()
    expect(page.locator("#id_evidence")).to_contain_text(f"Copied from the {this} user count")
    page.get_by_label("Needs review").uncheck()
    page.locator("#id_change_reason").fill("Checked against the January roster")
    save(page, "Save")
    assert "was changed successfully" in success_message(page)
    count = UserCount.objects.get(application=billing, license_year=this + 1)
    assert count.needs_review is False
    assert count.history.latest("history_id").history_change_reason == "Checked against the January roster"
