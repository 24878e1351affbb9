"""Not collected on its own (no test_ prefix): tests/browser/test_failure_screenshot.py runs it to prove that a
click on a button that is not there fails the suite and leaves a screenshot of the page behind."""

import pytest


@pytest.mark.django_db(transaction=True)
def test_clicks_a_renamed_button(page):
    # Only the click has the short timeout: on a busy machine the page itself may take longer to arrive.
    page.goto("/admin/login/", timeout=120_000)
    page.locator("#login-form").wait_for(timeout=120_000)
    page.get_by_role("button", name="Sign in").click()  # the button says "Log in"
