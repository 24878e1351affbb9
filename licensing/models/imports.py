"""Imports of spreadsheets: one record per dry run or confirmed import, kept as evidence and never edited."""

from django.conf import settings
from django.db import models
from django.urls import reverse

from licensing.audit.records import AuditedHistoricalRecords
from licensing.choices import ImportOutcome
from licensing.models.organizations import Organization
from licensing.ownership import OwnedBy


class DataImport(models.Model):
    """One step of loading a file: a dry run (preview) or the confirmed import, by whom, why, and with what result.

    Every history row a confirmed import writes carries this record's id (licensing.audit.stamping), so the
    audit trail can list exactly what the import changed.
    """

    Outcome = ImportOutcome

    created_at = models.DateTimeField("when", auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Kept as text too, so deleting an account never blanks who imported what.
    actor_name = models.CharField("by", max_length=150, blank=True)
    resource = models.CharField("what was imported", max_length=40)
    file_name = models.CharField(max_length=255)
    file_sha256 = models.CharField("file SHA-256", max_length=64)
    file_size = models.PositiveBigIntegerField("file size (bytes)", default=0)
    upload = models.FileField(upload_to="imports/", blank=True, help_text="The file as uploaded, for the confirm step.")
    dry_run = models.BooleanField(default=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    reason = models.CharField(max_length=500)
    new_rows = models.PositiveIntegerField("new", default=0)
    updated_rows = models.PositiveIntegerField("updated", default=0)
    unchanged_rows = models.PositiveIntegerField("unchanged", default=0)
    error_rows = models.PositiveIntegerField("with errors", default=0)
    # The organization whose scope covers every organization the file touched (their nearest common
    # ancestor); empty when they share none, so only administrators see the record.
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, null=True, blank=True, related_name="imports"
    )
    preview_of = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="confirmations",
        help_text="The dry run this import confirmed.",
    )
    # What the import was told besides the file (a roster's application, license year, date and source); the
    # confirmation reads them from its preview, so it imports exactly what was previewed.
    parameters = models.JSONField(default=dict, blank=True)
    # The preview: notes, file-level problems, and each changed or refused row (licensing.imports.Report).
    report = models.JSONField(default=dict, blank=True)

    # The report can be large and is derived from the file, whose SHA-256 the history keeps.
    history = AuditedHistoricalRecords(excluded_fields=["report"])
    ownership = OwnedBy("organization", label="Import of {file_name}", officers_may=[])

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "import"
        indexes = [models.Index(fields=["organization", "-created_at"]), models.Index(fields=["file_sha256"])]

    def __str__(self):
        return f"Import of {self.file_name} ({self.get_outcome_display().split(' (')[0].lower()})"

    def get_absolute_url(self):
        return reverse("admin:licensing_dataimport_change", args=[self.pk])
