"""The history record class every audited model uses, and the registry of audited models.

Each historical model (django-simple-history) carries extra audit columns (AuditedHistory), filled by
licensing.audit.stamping whether the row comes from a save or from the audited bulk helpers.
"""

from django.apps import apps
from django.db import models, transaction
from simple_history.models import HistoricalRecords

# The reason on the first history row of reference data that data migrations loaded.
MIGRATION_BASELINE_REASON = "Reference data loaded by a data migration"


class AuditedHistory(models.Model):
    """Audit columns every historical model adds to what simple-history records."""

    organization_id = models.BigIntegerField(null=True, blank=True, editable=False)
    history_user_name = models.CharField(max_length=150, blank=True, editable=False)
    changed_fields = models.TextField(
        blank=True, editable=False, help_text="Comma-framed names: ,status,licensed_users,"
    )
    previous_history_id = models.BigIntegerField(null=True, blank=True, editable=False)
    previous_hash = models.CharField(max_length=64, blank=True, editable=False)
    row_hash = models.CharField(max_length=64, blank=True, editable=False)
    # The import that wrote this row (licensing.models.DataImport), if any; kept as a plain id so history
    # never depends on the import record.
    data_import_id = models.BigIntegerField(null=True, blank=True, editable=False)

    class Meta:
        abstract = True


class AuditedHistoricalRecords(HistoricalRecords):
    """HistoricalRecords with the audit columns and the index the organization audit trail reads by."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("bases", [AuditedHistory])
        super().__init__(*args, **kwargs)

    def finalize(self, sender, **kwargs):
        super().finalize(sender, **kwargs)
        if sender is self.cls:
            sender._audited_history = self

    def create_historical_record(self, instance, history_type, using=None):
        # One transaction around read-previous, stamp and insert, so the chain lock holds until the row exists.
        with transaction.atomic(using=using):
            super().create_historical_record(instance, history_type, using)

    def get_meta_options(self, model):
        options = super().get_meta_options(model)
        short = model._meta.model_name[:14]
        options["indexes"] = [
            # The audit trail pages newest first per organization; the id breaks ties on equal dates.
            models.Index(fields=["organization_id", "-history_date", "-history_id"], name=f"hist_{short}_org_date"),
            # The audit trail's person filter lists who appears in an organization's history.
            models.Index(fields=["organization_id", "history_user_name"], name=f"hist_{short}_org_user"),
            # The audit trail's import filter, and an import's page listing the changes it made.
            models.Index(fields=["organization_id", "data_import_id"], name=f"hist_{short}_org_imp"),
        ]
        return options


def is_audited(model) -> bool:
    return getattr(model, "_audited_history", None) is not None and model._audited_history.cls is model


def tracked_models() -> list:
    """Every model whose history carries the audit columns, in registration order."""
    return [model for model in apps.get_models() if is_audited(model)]


def record_type(history_model) -> str:
    """The key of a record's chain head: the tracked model's label, e.g. "licensing.license"."""
    return history_model.instance_type._meta.label_lower
