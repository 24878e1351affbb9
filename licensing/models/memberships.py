"""Who may see and change which organizations."""

from django.conf import settings
from django.db import models

from licensing.history import AuditedHistoricalRecords
from licensing.models.organizations import Organization


class Membership(models.Model):
    """A person's role at an organization; it also covers the organization's affiliates."""

    class Role(models.TextChoices):
        OFFICER = "officer", "Compliance officer"
        AUDITOR = "auditor", "Auditor"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)

    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["organization", "user"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organization"],
                name="membership_one_per_person_and_organization",
                violation_error_message="This person already has a role at this organization; change it instead.",
            )
        ]

    def __str__(self):
        return f"{self.user} - {self.get_role_display()} at {self.organization}"
