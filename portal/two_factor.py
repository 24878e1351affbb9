"""Two-factor sign-in pages (django-otp): enrol an authenticator app, and give its code after the password.

Both are admin views (signed in, staff); portal.security.TwoFactorMiddleware sends people here. The QR code is
drawn on the server as an SVG data address, so the page needs no script and no outside service.
"""

import base64
import time

import segno
from django import forms
from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp import devices_for_user
from django_otp import login as otp_login
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice, default_key

from portal.security import HAS_DEVICE

APP_DEVICE_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"
BACKUP_CODES = 10
ENROL_KEY = "portal_two_factor_new_key"


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=16,
        strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
        help_text="The 6-digit code your authenticator app shows now.",
    )

    def clean_code(self) -> str:
        return self.cleaned_data["code"].replace(" ", "")


def _next_url(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False)
    return target if allowed and target.startswith("/") else default


def _secret(device: TOTPDevice) -> str:
    # Grouped by four, as authenticator apps show it for typing by hand.
    raw = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def enrol_view(site, request):
    """Show the secret and QR code of a new TOTP device; a right code saves it and shows the backup codes once.
    A person who already has a device sees that it is on."""
    user = request.user
    confirmed = TOTPDevice.objects.devices_for_user(user, confirmed=True).first()
    context = {**site.each_context(request), "title": "Two-factor sign-in", "next": _next_url(request, "")}
    if confirmed is not None:
        backup = StaticDevice.objects.filter(user=user, name=BACKUP_DEVICE_NAME).first()
        context.update(device=confirmed, backup_left=backup.token_set.count() if backup else 0)
        return TemplateResponse(request, "admin/two_factor/enrolled.html", context)

    # The new secret waits in the session and is saved only once a right code confirms it: a page view writes no row.
    key = request.session.get(ENROL_KEY) or default_key()
    request.session[ENROL_KEY] = key
    device = TOTPDevice(user=user, name=APP_DEVICE_NAME, key=key, confirmed=False)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if _code_matches(device, form.cleaned_data["code"]):
            codes = _confirm(request, device)
            messages.success(
                request, "Two-factor sign-in is on: from now on the portal asks for a code after the password."
            )
            context.update(codes=codes, next=_next_url(request, reverse("admin:index")))
            return TemplateResponse(request, "admin/two_factor/backup_codes.html", context)
        form.add_error("code", "That code is not right. Enter the code your app shows now (it changes every 30 s).")
    context.update(
        form=form,
        secret=_secret(device),
        otpauth_url=device.config_url,
        qr_code=segno.make(device.config_url, error="m").svg_data_uri(scale=5, dark="#000", light="#fff"),
    )
    return TemplateResponse(request, "admin/two_factor/enrol.html", context)


def _code_matches(device: TOTPDevice, code: str) -> bool:
    """Whether `code` is the device's code now (or one step either side); the step is kept so the same code cannot
    sign in again right after enrolment."""
    if not code.isdigit():
        return False
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    if not totp.verify(int(code), device.tolerance):
        return False
    device.last_t = totp.t()
    return True


@transaction.atomic
def _confirm(request, device: TOTPDevice) -> list[str]:
    device.confirmed = True
    device.save()
    request.session.pop(ENROL_KEY, None)
    StaticDevice.objects.filter(user=request.user, name=BACKUP_DEVICE_NAME).delete()
    backup = StaticDevice.objects.create(user=request.user, name=BACKUP_DEVICE_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=backup, token=code) for code in codes])
    otp_login(request, device)
    request.session[HAS_DEVICE] = True
    return codes


def verify_view(site, request):
    """After the password: the code from the person's app (or a backup code) finishes signing in."""
    user = request.user
    done = _next_url(request, reverse("admin:index"))
    if user.is_verified():
        return redirect(done)
    form = CodeForm(request.POST or None)
    form.fields["code"].help_text = "The 6-digit code your authenticator app shows now, or one of your backup codes."
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            # Locked rows: two requests with the same code cannot both pass.
            for device in devices_for_user(user, for_verify=True):
                if device.verify_token(form.cleaned_data["code"]):
                    otp_login(request, device)
                    return redirect(done)
        form.add_error("code", "That code is not right. Enter the code your app shows now, or a backup code.")
    context = {**site.each_context(request), "title": "Enter your sign-in code", "form": form, "next": done}
    return TemplateResponse(request, "admin/two_factor/verify.html", context)
