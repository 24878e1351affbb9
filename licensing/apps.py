from django.apps import AppConfig
from django.db.models.signals import post_migrate


def after_migrate(sender, using="default", **kwargs):
    """After every `migrate`: reference data loaded by data migrations gets its first history row, so do people
    and groups, and the role groups are synced with the models' declarations (so a new model needs no data
    migration of its own)."""
    from django.db import transaction

    from licensing import ownership, roles
    from licensing.audit import bulk
    from licensing.audit.people import PEOPLE_BASELINE_REASON, people_models
    from licensing.audit.records import MIGRATION_BASELINE_REASON

    with transaction.atomic(using=using):
        for model in ownership.reference_models():
            if ownership.declaration(model).seeded_by_migration:
                bulk.record_missing(model, reason=MIGRATION_BASELINE_REASON)
        # People and groups that existed before their history began get a first version, then roles follow.
        for model in people_models():
            bulk.record_missing(model, reason=PEOPLE_BASELINE_REASON)
        roles.sync_roles()


class LicensingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "licensing"
    verbose_name = "CPT licensing"

    def ready(self):
        from licensing import (
            checks,  # noqa: F401  (registers the ownership system check)
            job_kinds,  # noqa: F401  (registers what each kind of job does)
        )
        from licensing.audit import signals

        signals.connect()
        post_migrate.connect(after_migrate, sender=self, dispatch_uid="licensing-after-migrate")
