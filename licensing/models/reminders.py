"""Reminders e-mailed to compliance officers: one record per item sent, so nothing is sent twice and an auditor
can see what was sent to whom."""

from django.conf import settings
from django.db import models

from licensing.audit.records import AuditedHistoricalRecords
from licensing.choices import ReminderKind
from licensing.models.organizations import Organization
from licensing.ownership import OwnedBy


class ReminderSent(models.Model):
    """One item of one reminder e-mail: which situation of which record, sent to whom, when, in which digest.

    Written by `manage.py send_reminders` (licensing.reminders) after the e-mail went out, never edited. The
    same situation of the same record is sent to a person once: a license ending within 30 days gets one
    30-day reminder, whatever the number of runs. `due_on` is part of that identity, so a record that becomes
    due again on another day (a vendor agreement renewed and lapsing again, a license end date moved) is
    reminded of again.
    """

    Kind = ReminderKind

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="reminders_sent")
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Copied, so deleting an account never blanks who was told what.
    recipient_name = models.CharField("sent to", max_length=150)
    recipient_email = models.EmailField("e-mail address", max_length=254)
    kind = models.CharField("reminder", max_length=32, choices=Kind.choices)
    record_type = models.CharField(
        "record type", max_length=100, help_text='The record\'s model, e.g. "licensing.license".'
    )
    object_id = models.PositiveBigIntegerField("record id")
    record_label = models.CharField("about", max_length=300)
    due_on = models.DateField(
        "due on",
        help_text="The day the reminder is about: the license's end, the agreement's expiry, the day the count "
        "turned 12 months old, the 30th day without an answer.",
    )
    reminder_date = models.DateField("for the day", help_text="The day send_reminders ran for (its --date).")
    sent_at = models.DateTimeField("sent at")
    subject = models.CharField("e-mail subject", max_length=200)

    history = AuditedHistoricalRecords()
    # Written by the reminders job only: officers and auditors read what was sent; nobody edits it.
    ownership = OwnedBy("organization", label="{kind}: {record_label} to {recipient_name}", officers_may=[])

    class Meta:
        ordering = ["-sent_at", "-pk"]
        verbose_name = "reminder sent"
        verbose_name_plural = "reminders sent"
        indexes = [
            models.Index(fields=["organization", "-sent_at"]),
            models.Index(fields=["record_type", "object_id"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "kind", "record_type", "object_id", "due_on"],
                name="reminder_sent_once_per_person_and_threshold",
                violation_error_message="This reminder was already sent to this person.",
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.record_label} (to {self.recipient_name})"
