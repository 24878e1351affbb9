from django.contrib import admin

from licensing import services
from licensing.admin.base import ScopedAdmin
from licensing.models import Contact, Membership


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
        services.membership_revoke(membership=obj, actor=request.user, reason="Revoked in the admin")


@admin.register(Contact)
class ContactAdmin(ScopedAdmin):
    list_display = ["name", "role", "organization", "title", "email", "phone"]
    list_select_related = ["organization"]
    list_filter = ["role"]
    search_fields = ["name", "email", "organization__name"]
    ordering = ["organization__name", "role", "pk"]
    autocomplete_fields = ["organization"]
