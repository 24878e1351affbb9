"""Reminders sent: what `manage.py send_reminders` e-mailed to whom and when, read-only for everyone."""

from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from licensing.admin.base import ScopedAdmin, WrittenByThePortalMixin
from licensing.models import ReminderSent


@admin.register(ReminderSent)
class ReminderSentAdmin(WrittenByThePortalMixin, ScopedAdmin):
    """The record of every reminder item sent; written by the reminders job only, so nobody adds or edits one."""

    list_display = ["sent_at", "recipient_name", "recipient_email", "kind", "about", "due_on", "organization"]
    list_select_related = ["organization"]
    # Only the organizations the person's rows belong to: a plain related filter would list every organization.
    list_filter = ["kind", ("organization", admin.RelatedOnlyFieldListFilter), "sent_at", "due_on"]
    search_fields = ["recipient_name", "recipient_email", "recipient__username", "record_label", "subject"]
    search_help_text = "Search by recipient (name, e-mail or username), record or e-mail subject."
    date_hierarchy = "sent_at"
    ordering = ["-sent_at", "-pk"]
    list_display_links = ["sent_at"]
    fields = [
        "organization",
        "recipient_name",
        "recipient_email",
        "recipient",
        "kind",
        "about",
        "record_type",
        "object_id",
        "due_on",
        "reminder_date",
        "sent_at",
        "subject",
    ]
    readonly_fields = fields

    @admin.display(description="About", ordering="record_label")
    def about(self, obj):
        """The record the reminder was about, linked to its page (from the stored type and id: no query)."""
        app_label, _, model_name = obj.record_type.partition(".")
        try:
            url = reverse(f"admin:{app_label}_{model_name}_change", args=[obj.object_id])
        except NoReverseMatch:
            return obj.record_label
        return format_html('<a href="{}">{}</a>', url, obj.record_label)
