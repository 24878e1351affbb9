"""People (accounts), groups and memberships: who may do what, every change recorded with who and why.

Each save of a person or a group is one history row through licensing.services (person_save, group_save),
with the reason the page asks for; a password set or reset is recorded as such, never its hash.
"""

import copy
import functools

from django import forms
from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied

from licensing import services
from licensing.admin.base import AuditedAdmin, ScopedAdmin, reason_from
from licensing.models import Contact, Membership

RESET_REASON_MISSING = (
    "Say why the password is set or reset, e.g. 'Forgotten, ticket 4711'. It is kept in the history "
    "(the password itself never is)."
)


class PasswordResetForm(AdminPasswordChangeForm):
    """The administrator's password page, asking why; the new password is saved as one history row."""

    change_reason = forms.CharField(
        label="Reason for this change",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Shown to auditors in the history, with who and when; the password itself is never kept there.",
        error_messages={"required": RESET_REASON_MISSING},
    )

    def __init__(self, user, *args, actor=None, **kwargs):
        super().__init__(user, *args, **kwargs)
        self.actor = actor

    def save(self, commit=True):
        user = super().save(commit=False)
        if commit:
            services.person_save(person=user, actor=self.actor, reason=self.cleaned_data["change_reason"])
        return user


class OneRowAdmin(AuditedAdmin):
    """A record saved together with its many-to-many choices, as one history row (people and groups)."""

    reason_required = True

    def save_model(self, request, obj, form, change):
        # Saved in save_related, together with the choices the form holds.
        pass

    def save_related(self, request, form, formsets, change):
        self.save_whole(
            form.instance, form.cleaned_data, actor=request.user, reason=self.change_reason_of(form, change)
        )

    def save_whole(self, obj, cleaned, *, actor, reason) -> None:
        raise NotImplementedError

    def refuse_unless_allowed(self, request) -> None:
        # Refused before the record is looked up, so that a missing id and an existing one answer alike.
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied

    def change_view(self, request, object_id, form_url="", extra_context=None):
        self.refuse_unless_allowed(request)
        return super().change_view(request, object_id, form_url, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        self.refuse_unless_allowed(request)
        return super().history_view(request, object_id, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        self.refuse_unless_allowed(request)
        return super().delete_view(request, object_id, extra_context)


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class PersonAdmin(OneRowAdmin, auth_admin.UserAdmin):
    change_password_form = PasswordResetForm
    # Set by Django, not by people; the page shows them to the second, so saving them would cut the microseconds.
    readonly_fields = ["last_login", "date_joined"]
    change_user_password_template = "admin/licensing/person_password.html"  # noqa: S105  # nosec B105 # a template name

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs.setdefault("form", self.add_form)
        return super().get_form(request, obj, change, **kwargs)

    def save_whole(self, obj, cleaned, *, actor, reason):
        services.person_save(
            person=obj,
            actor=actor,
            reason=reason,
            groups=cleaned.get("groups"),
            permissions=cleaned.get("user_permissions"),
        )

    def delete_model(self, request, obj):
        reason = reason_from(request.POST, default="Deleted in the admin")
        services.person_delete(person=obj, actor=request.user, reason=reason)

    def user_change_password(self, request, id, form_url=""):
        # The form records who set the password; a copy of this admin carries it for this request only.
        bound = copy.copy(self)
        bound.change_password_form = functools.partial(self.change_password_form, actor=request.user)
        return auth_admin.UserAdmin.user_change_password(bound, request, id, form_url)


@admin.register(Group)
class GroupAdmin(OneRowAdmin, auth_admin.GroupAdmin):
    def save_whole(self, obj, cleaned, *, actor, reason):
        services.group_save(group=obj, actor=actor, reason=reason, permissions=cleaned.get("permissions"))


@admin.register(Membership)
class MembershipAdmin(ScopedAdmin):
    list_display = ["user", "organization", "role"]
    list_select_related = ["user", "organization"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__email", "organization__name"]
    ordering = ["organization__name", "user__username", "pk"]
    autocomplete_fields = ["user", "organization"]

    def has_add_permission(self, request):
        # Granting access is an administrator's job: an officer must not widen their own reach.
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def save_model(self, request, obj, form, change):
        services.membership_save(membership=obj, actor=request.user, reason=self.change_reason_of(form, change))

    def delete_model(self, request, obj):
        # Revoking, not just deleting: the person's groups and admin access follow what remains.
        reason = reason_from(request.POST, default="Revoked in the admin")
        services.membership_revoke(membership=obj, actor=request.user, reason=reason)


@admin.register(Contact)
class ContactAdmin(ScopedAdmin):
    list_display = ["name", "role", "organization", "title", "email", "phone"]
    list_select_related = ["organization"]
    list_filter = ["role"]
    search_fields = ["name", "email", "organization__name"]
    ordering = ["organization__name", "role", "pk"]
    autocomplete_fields = ["organization"]
