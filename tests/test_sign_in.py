"""Signing in as a person meets it: the real login form, lockout after failed sign-ins and its lifting by an
administrator, the idle timeout, two-factor enrolment and sign-in, and the headers every page carries."""

import base64

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib.admin.models import LogEntry
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal import security
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
LOGIN = "/admin/login/"
INDEX = "/admin/"
LOCKOUTS = "/admin/axes/accessattempt/"
ENROL = "/admin/two-factor/"
VERIFY = "/admin/two-factor/verify/"


def sign_in(client, username, password, follow=False):
    return client.post(LOGIN, {"username": username, "password": password, "next": INDEX}, follow=follow)


def signed_in(client) -> bool:
    return client.get(INDEX).status_code == 200


# Lockout ------------------------------------------------------------------------------------------------------


def test_thirty_wrong_passwords_lock_the_account_even_against_the_right_one(client, officer):
    answers = [sign_in(client, officer.username, f"wrong guess {n}").status_code for n in range(30)]

    # Four wrong passwords are answered by the login form; the fifth locks the account.
    assert answers[:4] == [200] * 4
    assert set(answers[4:]) == {429}
    locked = sign_in(client, officer.username, PASSWORD)
    assert locked.status_code == 429
    assert "This account is locked" in locked.text
    assert "after 5 failed sign-ins in a row" in locked.text
    assert not signed_in(client)
    assert AccessFailureLog.objects.filter(username=officer.username).count() >= 5


def test_the_limit_is_a_setting(client, officer, settings):
    settings.AXES_FAILURE_LIMIT = 3
    answers = [sign_in(client, officer.username, "nope").status_code for _ in range(3)]
    assert answers == [200, 200, 429]


def test_a_right_password_before_the_limit_resets_the_count(client, officer):
    for _ in range(4):
        sign_in(client, officer.username, "nope")
    assert sign_in(client, officer.username, PASSWORD).status_code == 302
    client.logout()
    # Counting starts again: four more wrong passwords do not lock.
    assert [sign_in(client, officer.username, "nope").status_code for _ in range(4)] == [200] * 4


def test_another_persons_sign_in_from_the_same_address_does_not_reset_the_count(client, officer, auditor):
    for _ in range(4):
        sign_in(client, officer.username, "nope")
    assert sign_in(client, auditor.username, PASSWORD).status_code == 302
    client.logout()
    assert sign_in(client, officer.username, "nope").status_code == 429


def test_an_administrator_sees_the_lockout_and_lifts_it_and_the_lift_is_recorded(client, officer, admin_client):
    for _ in range(5):
        sign_in(client, officer.username, "nope")
    assert sign_in(client, officer.username, PASSWORD).status_code == 429

    listing = admin_client.get(LOCKOUTS + "?locked_out=yes")
    assert listing.status_code == 200
    assert officer.username in listing.text and "Locked Out" in listing.text
    attempt = AccessAttempt.objects.get(username=officer.username)
    lifted = admin_client.post(
        LOCKOUTS, {"action": "lift_lockout", "_selected_action": [attempt.pk], "index": 0}, follow=True
    )
    assert f"Lifted the lockout of {officer.username}." in lifted.text
    assert not AccessAttempt.objects.filter(username=officer.username).exists()
    entry = LogEntry.objects.get(object_repr=f"Lockout of {officer.username}")
    assert entry.user.username == "admin"
    assert "Lifted the lockout" in entry.get_change_message()

    assert sign_in(client, officer.username, PASSWORD).status_code == 302
    assert signed_in(client)


def test_officers_do_not_see_the_lockouts(officer_client):
    assert officer_client.get(LOCKOUTS).status_code == 403
    assert officer_client.get("/admin/axes/accessfailurelog/").status_code == 403


def test_failed_sign_in_records_cannot_be_edited_or_deleted_even_by_a_superuser(client, officer, admin_client):
    sign_in(client, officer.username, "nope")
    failure = AccessFailureLog.objects.get(username=officer.username)
    assert admin_client.get(f"/admin/axes/accessfailurelog/{failure.pk}/delete/").status_code == 403
    assert admin_client.post(f"/admin/axes/accessfailurelog/{failure.pk}/change/", {}).status_code == 403
    assert AccessFailureLog.objects.filter(pk=failure.pk).exists()


# Idle timeout -------------------------------------------------------------------------------------------------


def idle_for(client, seconds: int) -> None:
    """Move this session's clock: its last request (and its sign-in) happened `seconds` earlier (no sleeping)."""
    session = client.session
    session[security.LAST_ACTIVITY] -= seconds
    session[security.SIGNED_IN_AT] -= seconds
    session.save()


def test_a_session_idle_for_thirty_minutes_is_signed_out_with_a_message(client, officer):
    assert sign_in(client, officer.username, PASSWORD).status_code == 302
    assert signed_in(client)

    idle_for(client, 31 * 60)
    page = client.get("/admin/licensing/application/", follow=True)

    assert page.redirect_chain[-1][0].startswith(LOGIN)
    assert "You were signed out after 30 minutes of inactivity." in page.text
    assert not signed_in(client)


def test_activity_slides_the_idle_limit(officer_client):
    assert signed_in(officer_client)
    idle_for(officer_client, 29 * 60)
    assert signed_in(officer_client)
    # 58 minutes since sign-in, but never 30 without a request: still signed in.
    idle_for(officer_client, 29 * 60)
    assert signed_in(officer_client)
    idle_for(officer_client, 30 * 60 + 1)
    assert not signed_in(officer_client)


def test_the_idle_limit_is_a_setting(officer_client, settings):
    settings.SESSION_IDLE_MINUTES = 5
    assert signed_in(officer_client)
    idle_for(officer_client, 6 * 60)
    page = officer_client.get(INDEX, follow=True)
    assert "You were signed out after 5 minutes of inactivity." in page.text


def test_a_session_ends_after_its_absolute_age_whatever_the_activity(officer_client, settings):
    assert signed_in(officer_client)
    session = officer_client.session
    session[security.SIGNED_IN_AT] -= settings.SESSION_COOKIE_AGE + 1
    session.save()
    page = officer_client.get(INDEX, follow=True)
    assert "Your session ended 8 hours after you signed in." in page.text
    assert not signed_in(officer_client)


# Two-factor sign-in -------------------------------------------------------------------------------------------


def code_for(device: TOTPDevice) -> str:
    """The code an authenticator app shows now, computed from the device's key."""
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift):06d}"


def app_code(secret: str) -> str:
    """The code an authenticator app shows now for the secret the enrolment page gave."""
    key = base64.b32decode(secret.replace(" ", "") + "=" * (-len(secret.replace(" ", "")) % 8))
    return f"{totp(key):06d}"


def test_enrolment_shows_the_secret_and_a_qr_code_and_a_right_code_turns_it_on(officer_client, officer):
    page = officer_client.get(ENROL)
    assert page.status_code == 200
    secret = page.context["secret"]
    assert page.context["otpauth_url"].startswith("otpauth://totp/CPT%20compliance%3Aofficer-a?secret=")
    assert secret.replace(" ", "") in page.context["otpauth_url"]
    assert 'src="data:image/svg+xml' in page.text
    # Showing the page saves nothing, and a second look shows the same secret.
    assert not TOTPDevice.objects.exists()
    assert officer_client.get(ENROL).context["secret"] == secret

    right_code = app_code(secret)
    wrong = officer_client.post(ENROL, {"code": "000000" if right_code != "000000" else "111111"})
    assert "That code is not right." in wrong.text
    assert not TOTPDevice.objects.exists()
    assert "That code is not right." in officer_client.post(ENROL, {"code": "<b>12</b>"}).text

    right = officer_client.post(ENROL, {"code": right_code})
    assert right.status_code == 200
    device = TOTPDevice.objects.get(user=officer)
    assert device.confirmed and base64.b32encode(device.bin_key).decode().startswith(secret.replace(" ", ""))
    codes = right.context["codes"]
    assert len(codes) == 10 and all(code in right.text for code in codes)
    assert StaticDevice.objects.get(user=officer).token_set.count() == 10
    # This session passed the second factor while enrolling.
    assert signed_in(officer_client)
    assert "Two-factor sign-in is on" in officer_client.get(ENROL).text


def test_the_code_used_to_enrol_does_not_sign_in_again(client, officer):
    client.force_login(officer)
    secret = client.get(ENROL).context["secret"]
    code = app_code(secret)
    assert client.post(ENROL, {"code": code}).status_code == 200
    client.logout()
    sign_in(client, officer.username, PASSWORD)
    assert "That code is not right." in client.post(VERIFY, {"code": code}).text


def with_device(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def test_sign_in_asks_for_the_code_and_refuses_a_wrong_one(client, officer):
    device = with_device(officer)
    first = sign_in(client, officer.username, PASSWORD, follow=True)
    assert first.redirect_chain[-1][0].startswith(VERIFY)
    assert "Enter your sign-in code" in first.text
    # Nothing else opens before the code.
    assert client.get("/admin/licensing/organization/").url.startswith(VERIFY)

    wrong = client.post(VERIFY, {"code": "12345x", "next": INDEX})
    assert wrong.status_code == 200 and "That code is not right." in wrong.text
    assert client.get(INDEX).url.startswith(VERIFY)

    device.refresh_from_db()
    device.throttle_reset()
    right = client.post(VERIFY, {"code": code_for(device), "next": "/admin/licensing/organization/"})
    assert right.status_code == 302 and right.url == "/admin/licensing/organization/"
    assert signed_in(client)


def test_a_backup_code_signs_in_once(client, officer):
    with_device(officer)
    backup = StaticDevice.objects.create(user=officer, name="Backup codes")
    backup.token_set.create(token="abcd1234")
    sign_in(client, officer.username, PASSWORD)
    assert client.post(VERIFY, {"code": "abcd1234"}).status_code == 302
    assert signed_in(client)
    client.logout()
    sign_in(client, officer.username, PASSWORD)
    assert "That code is not right." in client.post(VERIFY, {"code": "abcd1234"}).text


def test_a_verify_page_never_sends_a_person_to_another_site(client, officer):
    device = with_device(officer)
    sign_in(client, officer.username, PASSWORD)
    answer = client.post(VERIFY, {"code": code_for(device), "next": "https://evil.example.org/"})
    assert answer.status_code == 302 and answer.url == INDEX


def test_people_without_a_device_sign_in_with_the_password_alone_unless_required(client, officer, settings):
    assert sign_in(client, officer.username, PASSWORD).status_code == 302
    assert signed_in(client)

    settings.REQUIRE_TWO_FACTOR = True
    answer = client.get("/admin/licensing/organization/", follow=True)
    assert answer.redirect_chain[0][0] == ENROL + "?next=%2Fadmin%2Flicensing%2Forganization%2F"
    assert "Set up two-factor sign-in before going on" in answer.text
    assert "two-factor-secret" in answer.text


def test_two_factor_is_required_by_default_in_production_only():
    from tests.test_settings import PRODUCTION, manage

    code = "from django.conf import settings; print(settings.REQUIRE_TWO_FACTOR)"
    assert manage("shell", "--no-imports", "-c", code, **PRODUCTION).stdout.strip() == "True"
    assert manage("shell", "--no-imports", "-c", code).stdout.strip() == "False"


def test_the_two_factor_pages_need_a_signed_in_person(client):
    for address in (ENROL, VERIFY):
        answer = client.get(address)
        assert answer.status_code == 302 and answer.url.startswith(LOGIN), address
    assert not TOTPDevice.objects.exists()


def test_only_staff_reach_the_two_factor_pages(client):
    person = UserFactory(username="not-staff", is_staff=False)
    client.force_login(person)
    assert client.get(ENROL).url.startswith(LOGIN)
    assert not TOTPDevice.objects.filter(user=person).exists()


# Headers ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("address", [LOGIN, "/admin/no-such-page/", "/favicon.ico"])
def test_every_answer_carries_a_strict_csp_and_a_permissions_policy(client, address):
    answer = client.get(address)
    policy = answer.headers["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ):
        assert directive in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    features = answer.headers["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()"):
        assert feature in features
