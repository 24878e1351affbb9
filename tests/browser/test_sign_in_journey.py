"""Signing in, in a real browser: a locked account says so; two-factor enrolment and sign-in with a code."""

import base64

import pytest
from django_otp.oath import totp
from playwright.sync_api import expect

from licensing import demo
from tests.browser.steps import log_in

pytestmark = pytest.mark.django_db(transaction=True)

OFFICER = (demo.OFFICER_LOGIN.username, demo.OFFICER_LOGIN.password)


def try_password(page, username: str, password: str) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def app_code(secret: str) -> str:
    raw = secret.replace(" ", "")
    return f"{totp(base64.b32decode(raw + '=' * (-len(raw) % 8))):06d}"


def test_five_wrong_passwords_lock_the_account_and_the_page_says_so(page, screenshots):
    demo.seed_demo()
    page.goto("/admin/login/")
    for attempt in range(4):
        try_password(page, OFFICER[0], f"guess {attempt}")
        expect(page.locator(".errornote")).to_contain_text("correct username and password")
    page.health.check()
    try_password(page, OFFICER[0], "guess 5")
    expect(page.locator("#locked-out")).to_have_text("This account is locked after 5 failed sign-ins in a row.")
    expect(page.get_by_text("ask an administrator of the portal to lift the lockout")).to_be_visible()
    page.health.check(expect_status=429)
    page.screenshot(path=str(screenshots / "sign-in-locked.png"))

    # Even the right password no longer opens it.
    page.get_by_role("link", name="Back to the login page").click()
    try_password(page, *OFFICER)
    expect(page.locator("#locked-out")).to_be_visible()
    page.health.check(expect_status=429)


def test_an_officer_turns_on_two_factor_and_signs_in_with_a_code(page, screenshots):
    demo.seed_demo()
    log_in(page, *OFFICER)
    page.get_by_role("link", name="Two-factor sign-in").click()
    page.health.check()
    expect(page.get_by_role("img", name="QR code of the two-factor secret for your account")).to_be_visible()
    secret = page.locator("#two-factor-secret").inner_text()
    page.screenshot(path=str(screenshots / "two-factor-enrol.png"))

    page.get_by_label("Code").fill("000000" if app_code(secret) != "000000" else "111111")
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.locator(".errorlist")).to_contain_text("That code is not right.")
    page.health.check()
    page.get_by_label("Code").fill(app_code(secret))
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.locator("#backup-codes li")).to_have_count(10)
    backup = page.locator("#backup-codes li").first.inner_text()
    page.health.check()

    # Signing in again asks for a code after the password; a backup code works once.
    page.get_by_role("button", name="Log out").click()
    page.goto("/admin/")
    try_password(page, *OFFICER)
    expect(page.get_by_role("heading", name="Enter your sign-in code")).to_be_visible()
    page.health.check()
    page.get_by_label("Code").fill(backup)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    page.health.check()
