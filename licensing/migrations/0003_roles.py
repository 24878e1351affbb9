"""The "Compliance officer" and "Auditor" groups, from the permission lists in licensing.roles."""

from django.db import migrations

from licensing.roles import sync_roles_in_migration


class Migration(migrations.Migration):
    dependencies = [
        ("licensing", "0002_reference_data"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(sync_roles_in_migration, migrations.RunPython.noop)]
