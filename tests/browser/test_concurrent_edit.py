"""Two officers edit the same user count in two browsers (issue 11): the second save is refused, shows what the
first changed, keeps the second officer's entries, and a second click saves them over the first change."""

import pytest
from playwright.sync_api import expect

from licensing.models import UserCount
from tests.browser.conftest import ACTION_TIMEOUT_MS, VIEWPORT
from tests.browser.health import PageHealth
from tests.browser.steps import log_in, save, success_message
from tests.factories import ApplicationFactory, OrganizationFactory, UserCountFactory, UserFactory, member

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"


@pytest.fixture
def second_page(browser, live_server):
    """A second browser (its own cookies): another person at another desk."""
    context = browser.new_context(viewport=VIEWPORT, base_url=live_server.url)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    other = context.new_page()
    other.health = PageHealth(other, origin=live_server.url)
    yield other
    context.close()


def test_two_officers_saving_the_same_count(page, second_page, screenshots):
    organization = OrganizationFactory(name="Alpha Health", slug="alpha-health")
    count = UserCountFactory(
        application=ApplicationFactory(organization=organization, name="Billing"), direct_users=10, evidence=""
    )
    for name in ("dana", "sam"):
        member(UserFactory(username=name), organization, "officer")
    url = f"/admin/licensing/usercount/{count.pk}/change/"

    # Both open the count.
    log_in(page, "dana", PASSWORD)
    page.goto(url)
    page.health.check()
    log_in(second_page, "sam", PASSWORD)
    second_page.goto(url)
    second_page.health.check()

    # Dana recounts and saves first.
    page.locator("#id_direct_users").fill("12")
    page.get_by_role("textbox", name="Reason for this change").fill("January recount")
    save(page)
    assert "was changed successfully" in success_message(page)

    # Sam, on the page opened before, adds evidence and saves: refused, with Dana's change shown.
    second_page.locator("#id_evidence").fill("HR roster, March")
    second_page.get_by_role("textbox", name="Reason for this change").fill("Evidence added")
    save(second_page)
    refusal = second_page.locator(".errornote, ul.errorlist.nonfield")
    expect(refusal.last).to_contain_text("changed by someone else after you opened it")
    expect(refusal.last).to_contain_text("dana")
    expect(refusal.last).to_contain_text("(a) access CPT directly: 10 → 12")
    second_page.health.check()
    # Sam's entry is kept; Dana's new figure is shown where Sam changed nothing.
    expect(second_page.locator("#id_evidence")).to_have_value("HR roster, March")
    expect(second_page.locator("#id_direct_users")).to_have_value("12")
    second_page.screenshot(path=str(screenshots / "concurrent-edit-refused.png"))
    stored = UserCount.objects.get(pk=count.pk)
    assert (stored.direct_users, stored.evidence, stored.version) == (12, "", 2)
    assert [row.history_user_name for row in stored.history.order_by("history_id")] == ["", "dana"]

    # Having read Dana's change, Sam saves again: both edits are kept.
    save(second_page)
    assert "was changed successfully" in success_message(second_page)
    stored = UserCount.objects.get(pk=count.pk)
    assert (stored.direct_users, stored.evidence, stored.version) == (12, "HR roster, March", 3)
