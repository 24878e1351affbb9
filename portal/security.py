"""Sessions and sign-in: idle and absolute session limits, the second factor, the lockout page, Permissions-Policy.

Each middleware does one thing and reads its limits from settings; the stamps they keep live in the session,
written at sign-in (`stamp_sign_in`) so an ordinary request costs no query and no session write.
"""

import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django_otp import user_has_device

LAST_ACTIVITY = "portal_last_activity"
SIGNED_IN_AT = "portal_signed_in_at"
# Whether the person had a confirmed TOTP device at sign-in (refreshed when they enrol).
HAS_DEVICE = "portal_has_two_factor_device"
# The activity stamp is rewritten at most this often: an ordinary request then writes no session.
STAMP_EVERY_SECONDS = 60


@receiver(user_logged_in)
def stamp_sign_in(sender, request, user, **kwargs):
    if request is None or not hasattr(request, "session"):
        return
    now = int(time.time())
    request.session[SIGNED_IN_AT] = now
    request.session[LAST_ACTIVITY] = now
    request.session[HAS_DEVICE] = user_has_device(user)


def idle_message(minutes: int) -> str:
    return f"You were signed out after {minutes} minutes of inactivity. Sign in again to go on."


class IdleTimeoutMiddleware:
    """Signs a person out after SESSION_IDLE_MINUTES without a request (sliding), or SESSION_COOKIE_AGE after
    they signed in whatever they did; the login page then says why."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            self._check(request)
        return self.get_response(request)

    def _check(self, request) -> None:
        session, now = request.session, int(time.time())
        idle_limit = settings.SESSION_IDLE_MINUTES * 60
        last, signed_in = session.get(LAST_ACTIVITY), session.get(SIGNED_IN_AT)
        # A stamp in the future (a clock set back) counts as activity now, never as idleness.
        if last is not None and now - last > idle_limit:
            logout(request)
            messages.warning(request, idle_message(settings.SESSION_IDLE_MINUTES))
        elif signed_in is not None and now - signed_in > settings.SESSION_COOKIE_AGE:
            logout(request)
            hours = round(settings.SESSION_COOKIE_AGE / 3600, 1)
            messages.warning(request, f"Your session ended {hours:g} hours after you signed in. Sign in again.")
        else:
            if last is None or now - last >= STAMP_EVERY_SECONDS:
                session[LAST_ACTIVITY] = now
            if signed_in is None:
                session[SIGNED_IN_AT] = now


def _exempt_from_two_factor(request) -> bool:
    """The pages a signed-in person must reach before the second factor: the code, enrolment, sign-out, static."""
    path = request.path_info
    allowed = (
        reverse("admin:two_factor_verify"),
        reverse("admin:two_factor"),
        reverse("admin:logout"),
        reverse("admin:jsi18n"),
        "/" + settings.STATIC_URL.lstrip("/"),
        "/favicon.ico",
    )
    return path.startswith(allowed)


class TwoFactorMiddleware:
    """After the password, a person with a TOTP device gives its code before anything else; with
    REQUIRE_TWO_FACTOR a person without one is sent to enrol first."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated and not user.is_verified() and not _exempt_from_two_factor(request):
            has_device = request.session.get(HAS_DEVICE)
            if has_device is None:
                has_device = request.session[HAS_DEVICE] = user_has_device(user)
            if has_device:
                return _redirect_with_next("admin:two_factor_verify", request)
            if settings.REQUIRE_TWO_FACTOR:
                messages.info(request, "Set up two-factor sign-in before going on: the portal requires it.")
                return _redirect_with_next("admin:two_factor", request)
        return self.get_response(request)


def _redirect_with_next(name: str, request):
    target = reverse(name)
    if request.method == "GET":
        target += "?" + urlencode({"next": request.get_full_path()})
    return redirect(target)


def locked_out(request, original_response=None, credentials=None):
    """The page axes answers once an account is locked: the login page's look, the reason and the way out."""
    from axes.helpers import get_cool_off

    cool_off = get_cool_off(request)
    context = {
        **admin.site.each_context(request),
        "title": "Account locked",
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cool_off_hours": round(cool_off.total_seconds() / 3600, 1) if cool_off else None,
    }
    return TemplateResponse(request, "admin/locked_out.html", context, status=429).render()


class PermissionsPolicyMiddleware:
    """The Permissions-Policy header: every browser feature in settings.PERMISSIONS_POLICY allowed to the listed
    origins only (an empty list: to nobody)."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.header = ", ".join(
            f"{feature}=({' '.join(origins)})" for feature, origins in settings.PERMISSIONS_POLICY.items()
        )

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Permissions-Policy", self.header)
        return response
