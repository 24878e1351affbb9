from django.apps import AppConfig
from django.db.models.signals import post_migrate

REFERENCE_MODELS = ["DataFile", "RateSchedule", "DataFileRate", "ProxyFactor"]


def record_reference_history(sender, using="default", **kwargs):
    """Reference data arrives by data migrations, which write no history; give each row its first version."""
    from django.db import transaction

    from licensing import history

    with transaction.atomic(using=using):
        for name in REFERENCE_MODELS:
            history.record_missing(sender.get_model(name), reason=history.MIGRATION_BASELINE_REASON)


class LicensingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "licensing"
    verbose_name = "CPT licensing"

    def ready(self):
        post_migrate.connect(record_reference_history, sender=self, dispatch_uid="licensing-reference-history")
