"""An officer's acceptance of a reconciliation finding (licensing.reconciliation): the finding stays listed, with
who accepted it, when and why, so the review itself is evidence."""

from django.conf import settings
from django.db import models
from django.urls import reverse

from licensing.audit.records import AuditedHistoricalRecords
from licensing.models.organizations import Organization
from licensing.models.years import LICENSE_YEAR_VALIDATORS, license_year_constraint
from licensing.ownership import OwnedBy
from licensing.reconciliation import FindingKind

__all__ = ["FindingAcceptance", "FindingKind"]


class FindingAcceptance(models.Model):
    """One finding of an organization's reconciliation for a year, accepted with a reason.

    The finding is named by its kind and the person's identifier as reconciliation compares it (lower case), so
    it stays accepted when the next roster lists the same person again; a finding the rosters no longer show
    keeps its acceptance on the record.
    """

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="finding_acceptances")
    license_year = models.PositiveSmallIntegerField(validators=LICENSE_YEAR_VALIDATORS)
    kind = models.CharField("finding", max_length=20, choices=FindingKind.choices)
    identifier = models.CharField(max_length=100, help_text="The person's identifier, in lower case.")
    person_name = models.CharField("person", max_length=200, blank=True, help_text="As the rosters named them.")
    reason = models.TextField(help_text="Why the finding is accepted, e.g. 'Contracted coder, covered by our license'.")
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Kept as text too, so deleting an account never blanks who accepted the finding.
    accepted_by_name = models.CharField("accepted by", max_length=150, blank=True)
    accepted_at = models.DateTimeField()

    history = AuditedHistoricalRecords()
    ownership = OwnedBy(
        "organization", label="{kind} {license_year}: {person_name} ({identifier})", reason_required=True
    )

    class Meta:
        ordering = ["organization", "-license_year", "kind", "identifier"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "license_year", "kind", "identifier"],
                name="finding_accepted_once",
                violation_error_message="This finding is already accepted.",
            ),
            license_year_constraint("findingacceptance"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.person_name} ({self.identifier})"

    def get_absolute_url(self):
        return reverse("admin:licensing_findingacceptance_change", args=[self.pk])
