"""The two role groups and their permissions, derived from each model's ownership declaration.

An officer may do what each model's declaration lets officers do (`officers_may`, plus view) and read
every history; an auditor views everything and changes nothing. The groups are synced after every
`migrate` (LicensingConfig.ready), so a new model's permissions reach the roles without a hand-written
data migration.
"""

from licensing import ownership

OFFICER_GROUP = "Compliance officer"
AUDITOR_GROUP = "Auditor"
ROLE_GROUPS = (OFFICER_GROUP, AUDITOR_GROUP)


def _codenames(actions, model_names) -> list[str]:
    return [f"{action}_{name}" for name in model_names for action in actions]


def role_permissions() -> dict[str, list[str]]:
    """Permission codenames per role group, from the declarations of the models installed now."""
    officer, auditor = [], []
    for model in ownership.declared_models():
        declared = ownership.declaration(model)
        name = model._meta.model_name
        officer += _codenames(declared.officer_actions, [name])
        auditor += _codenames(["view"], [name])
        if hasattr(model, "history"):
            # Reading a record's history is part of reading the record.
            officer += _codenames(["view"], [f"historical{name}"])
            auditor += _codenames(["view"], [f"historical{name}"])
    return {OFFICER_GROUP: officer, AUDITOR_GROUP: auditor}


def sync_roles_in_migration(apps, schema_editor) -> None:
    """Data-migration step kept for the migrations that already call it: sync what exists so far.

    Permissions are normally created after all migrations, so this creates them itself; the full
    sync runs after `migrate` anyway (LicensingConfig.ready).
    """
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    sync_roles(apps, strict=False)


ROLE_SYNC_REASON = "Role groups synced with the models' declarations"


def sync_roles(apps=None, *, strict: bool = True) -> None:
    """Create or update the role groups so they hold exactly the declared permissions.

    With the installed models (after `migrate`), a group that changes is saved through licensing.services, so
    its history says why; a migration's own models keep no history.
    """
    recorded = apps is None
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in role_permissions().items():
        group = Group.objects.filter(name=name).first() or Group(name=name)
        permissions = list(Permission.objects.filter(content_type__app_label="licensing", codename__in=codenames))
        missing = set(codenames) - {permission.codename for permission in permissions}
        if missing and strict:
            raise RuntimeError(f"Permissions missing for role {name}: {sorted(missing)}")
        held = set(group.permissions.values_list("pk", flat=True)) if group.pk else None
        if held == {permission.pk for permission in permissions}:
            continue
        if recorded:
            from licensing import services

            services.group_save(group=group, actor=None, reason=ROLE_SYNC_REASON, permissions=permissions)
        else:
            group.save()
            group.permissions.set(permissions)
