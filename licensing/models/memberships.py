"""Who may see and change which organizations."""

from django.conf import settings
from django.db import models

from licensing.audit.records import AuditedHistoricalRecords
from licensing.choices import MembershipRole
from licensing.models.organizations import Organization
from licensing.ownership import OwnedBy


class Membership(models.Model):
    """A person's role at an organization; it also covers the organization's affiliates."""

    Role = MembershipRole

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)

    history = AuditedHistoricalRecords()
    # Granting access is an administrator's job: officers see who else has access, and change nothing.
    ownership = OwnedBy("organization", label="{user} ({role})", officers_may=[])

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
