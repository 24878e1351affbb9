"""Roles declared in code as permission lists and synced idempotently (data migration, seed_demo)."""

OFFICER_GROUP = "Compliance officer"
AUDITOR_GROUP = "Auditor"

# Models holding an organization's own data: officers add, change and view them.
ORGANIZATION_DATA = ["organization", "contact", "basemetrics", "application", "usercount", "license", "filing"]
# Reference data shared by all organizations: officers may add a missing vendor, nothing else.
REFERENCE_DATA = ["vendor", "datafile", "proxyfactor", "rateschedule", "datafilerate"]
ALL_MODELS = ORGANIZATION_DATA + REFERENCE_DATA + ["membership"]


def _codenames(actions, models):
    return [f"{action}_{model}" for model in models for action in actions]


ROLE_PERMISSIONS = {
    OFFICER_GROUP: _codenames(["add", "change", "view"], ORGANIZATION_DATA)
    + _codenames(["view"], REFERENCE_DATA + ["membership"])
    + ["add_vendor"]
    + _codenames(["view"], [f"historical{model}" for model in ALL_MODELS]),
    AUDITOR_GROUP: _codenames(["view"], ALL_MODELS)
    + _codenames(["view"], [f"historical{model}" for model in ALL_MODELS]),
}


def sync_roles_in_migration(apps, schema_editor) -> None:
    """Data-migration step: create the permissions of models migrated so far, then sync the groups.

    Permissions are normally created after all migrations, so a migration creates them itself; models
    added by later migrations get theirs when those migrations sync again.
    """
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    sync_roles(apps, strict=False)


def sync_roles(apps=None, *, strict: bool = True) -> None:
    """Create or update the role groups so they hold exactly the declared permissions."""
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        permissions = list(Permission.objects.filter(content_type__app_label="licensing", codename__in=codenames))
        missing = set(codenames) - {permission.codename for permission in permissions}
        if missing and strict:
            raise RuntimeError(f"Permissions missing for role {name}: {sorted(missing)}")
        group.permissions.set(permissions)
