"""Files that back up a count, a license, a vendor's distribution letter or the AMA's correspondence on a filing."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from licensing.audit.records import AuditedHistoricalRecords
from licensing.models import ranges
from licensing.models.applications import Vendor
from licensing.models.counts import UserCount
from licensing.models.filings import Filing
from licensing.models.licenses import License
from licensing.models.organizations import Organization
from licensing.ownership import OwnedBy

TARGETS = ("user_count", "license", "vendor", "filing", "roster")
ONE_RECORD = "Attach the file to exactly one record: a user count, a license, a vendor, a filing or a roster."


def _exactly_one_target() -> models.Q:
    """One of the target keys set, the others empty."""
    condition = models.Q()
    for chosen in TARGETS:
        condition |= models.Q(**{f"{name}__isnull": name != chosen for name in TARGETS})
    return condition


class EvidenceFile(models.Model):
    """One stored file with its SHA-256, attached to exactly one record.

    Owned by the organization that attached it, also when it is about a vendor: vendors are shared reference data,
    but the letter a vendor sent one organization is that organization's evidence, seen only by its people.
    """

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="evidence_files")
    user_count = models.ForeignKey(
        UserCount, on_delete=models.PROTECT, null=True, blank=True, related_name="evidence_files"
    )
    license = models.ForeignKey(License, on_delete=models.PROTECT, null=True, blank=True, related_name="evidence_files")
    vendor = models.ForeignKey(
        Vendor,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="evidence_files",
        help_text="A vendor's distribution letter or agreement, kept for this organization only.",
    )
    filing = models.ForeignKey(
        Filing,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="evidence_files",
        help_text="Correspondence with the AMA about this application.",
    )
    # A roster's source file, kept by the roster import (services.keep_roster_source); the purge removes its bytes.
    roster = models.ForeignKey(
        "licensing.Roster",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="evidence_files",
        help_text="The roster whose imported file this is.",
    )
    title = models.CharField(max_length=200)
    file = models.FileField(upload_to="evidence/%Y/%m/", max_length=300, editable=False)
    original_name = models.CharField("file name", max_length=255, editable=False)
    kind = models.CharField(max_length=16, editable=False)
    size = models.PositiveBigIntegerField("size in bytes", editable=False, default=0)
    sha256 = models.CharField("SHA-256", max_length=64, editable=False)
    review_on = models.DateField(
        "review by",
        null=True,
        blank=True,
        validators=ranges.dates_of_agreements("Review by"),
        help_text="When this evidence should be looked at again (e.g. a letter's expiry); optional.",
    )
    notes = models.TextField(blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, editable=False, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    history = AuditedHistoricalRecords()
    ownership = OwnedBy("organization", label="{title}", reason_required=True)

    class Meta:
        ordering = ["organization", "-uploaded_at", "-pk"]
        indexes = [models.Index(fields=["review_on"])]
        constraints = [
            models.CheckConstraint(
                condition=_exactly_one_target(),
                name="evidence_file_one_record",
                violation_error_message=ONE_RECORD,
            ),
        ]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("admin:licensing_evidencefile_change", args=[self.pk])

    @property
    def target(self):
        for name in TARGETS:
            if getattr(self, f"{name}_id") is not None:
                return getattr(self, name)
        return None

    def clean(self):
        chosen = [name for name in TARGETS if getattr(self, f"{name}_id") is not None]
        if len(chosen) != 1:
            raise ValidationError(ONE_RECORD)
        target = self.target
        owner = {
            "user_count": lambda: target.application.organization_id,
            "license": lambda: target.application.organization_id,
            "filing": lambda: target.organization_id,
            "vendor": lambda: self.organization_id,
            "roster": lambda: target.application.organization_id,
        }[chosen[0]]()
        if self.organization_id is not None and owner != self.organization_id:
            raise ValidationError({chosen[0]: "That record belongs to another organization than the one chosen."})
