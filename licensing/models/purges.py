"""Purges of the people of old rosters (issue 13, personal data kept to the need): one record per organization and
run, itself audited, and the chains whose older history rows it redacted (licensing.audit.purging)."""

from django.conf import settings
from django.db import models
from django.urls import reverse

from licensing.audit.records import AuditedHistoricalRecords
from licensing.models.organizations import Organization
from licensing.ownership import OwnedBy


class RosterPurge(models.Model):
    """An administrator's purge of the people of an organization's rosters taken before a date.

    The people's identifier, name, e-mail and NPI are gone from their rows and from every history row written
    before the purge; the rosters, their lines, the counts derived from them and the files' SHA-256 remain. The
    digests let `verify_audit_trail` tell the redacted rows from tampered ones.
    """

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="roster_purges")
    purged_at = models.DateTimeField("when")
    purged_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    # Kept as text too, so deleting an account never blanks who purged.
    purged_by_name = models.CharField("by", max_length=150, blank=True)
    retention_years = models.PositiveSmallIntegerField("retention period (years)")
    taken_before = models.DateField("rosters taken before")
    rosters = models.TextField("rosters", help_text="The rosters whose people were purged, one a line.")
    roster_count = models.PositiveIntegerField("rosters purged")
    people_purged = models.PositiveIntegerField("people purged")
    chains_purged = models.PositiveIntegerField("history chains redacted")
    digest_before = models.CharField(
        "chain heads before (SHA-256)",
        max_length=64,
        help_text="SHA-256 over the redacted chains' newest hashes and lengths before the purge, as "
        "verify_audit_trail's digest lines write them.",
    )
    digest_after = models.CharField(
        "redacted rows (SHA-256)", max_length=64, help_text="SHA-256 over the redacted rows' contents after the purge."
    )

    history = AuditedHistoricalRecords()
    ownership = OwnedBy("organization", label="Purge of {taken_before} rosters", officers_may=[])

    class Meta:
        ordering = ["-purged_at", "-pk"]
        verbose_name = "roster purge"

    def __str__(self):
        return f"Purge of the people of {self.roster_count} roster(s) taken before {self.taken_before:%Y-%m-%d}"

    def get_absolute_url(self):
        return reverse("admin:licensing_rosterpurge_change", args=[self.pk])


class PurgedChain(models.Model):
    """One record's history chain whose rows up to `last_history_id` a purge redacted.

    Not itself tracked, like ChainHead: an index the verification reads. The redacted rows keep their original
    row_hash and previous_hash, so the links and digests kept outside the database still hold; their content is
    checked against `redacted_digest` instead of each row's hash.
    """

    # A plain id, as history rows keep their import's: this index never holds up anything, and declares no owner.
    purge_id = models.BigIntegerField()
    record_type = models.CharField(max_length=100)
    object_id = models.BigIntegerField()
    last_history_id = models.BigIntegerField()
    head_hash = models.CharField(max_length=64)
    rows = models.PositiveIntegerField()
    redacted_digest = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["record_type", "object_id", "purge_id"], name="purged_chain_once_per_purge")
        ]
        indexes = [models.Index(fields=["record_type", "object_id"])]

    def __str__(self):
        return f"{self.record_type} {self.object_id}: rows to {self.last_history_id} redacted"
