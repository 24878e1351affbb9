"""Sign-in protection in the admin: who is locked out (django-axes) and lifting a lockout, recorded as who did it.

axes and django-otp register their own admin classes on the portal's site (it is Django's default site); these
replace them with read-only logs, an audited "Lift the lockout" action, and device pages that only list and
remove. Only people given their permissions (in practice superusers) see these pages.
"""

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from axes.utils import reset
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django_otp.plugins.otp_static.admin import StaticDeviceAdmin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

for _model in (AccessAttempt, AccessLog, AccessFailureLog, TOTPDevice, StaticDevice):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


@admin.register(AccessAttempt)
class LockoutAdmin(AccessAttemptAdmin):
    actions = ["lift_lockout", "cleanup_expired_attempts"]

    @admin.action(description="Lift the lockout of the selected accounts", permissions=["delete"])
    def lift_lockout(self, request, queryset):
        with transaction.atomic():
            usernames = sorted({attempt.username for attempt in queryset if attempt.username})
            content_type = ContentType.objects.get_for_model(AccessAttempt)
            for username in usernames:
                lifted = reset(username=username)
                # Django's admin log keeps who lifted it and when (Recent actions, the record's history).
                LogEntry.objects.create(
                    user_id=request.user.pk,
                    content_type=content_type,
                    object_repr=f"Lockout of {username}"[:200],
                    action_flag=CHANGE,
                    change_message=f"Lifted the lockout of {username} ({lifted} failed sign-in record(s) cleared).",
                )
        if usernames:
            self.message_user(request, f"Lifted the lockout of {', '.join(usernames)}.", messages.SUCCESS)
        else:
            self.message_user(request, "None of the selected records names an account.", messages.WARNING)


class ReadOnlyLog:
    """Failed and successful sign-ins are evidence: nobody edits or deletes them here."""

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AccessFailureLog)
class FailedSignInAdmin(ReadOnlyLog, AccessFailureLogAdmin):
    pass


@admin.register(AccessLog)
class SignInAdmin(ReadOnlyLog, AccessLogAdmin):
    pass


class DeviceRemovalOnly:
    """A person enrols their own authenticator (portal.two_factor); an administrator may only see that a device
    exists and remove it (a lost phone), never type in or edit someone's secret."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(TOTPDevice)
class AuthenticatorAdmin(DeviceRemovalOnly, TOTPDeviceAdmin):
    pass


@admin.register(StaticDevice)
class BackupCodesAdmin(DeviceRemovalOnly, StaticDeviceAdmin):
    pass
