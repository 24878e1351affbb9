"""Reference data: AMA data files, royalty rates 2021-2026, the public proxy factor (licensing.reference_data)."""

from django.db import migrations

from licensing.reference_data import load_reference_data


class Migration(migrations.Migration):
    dependencies = [("licensing", "0001_initial")]

    operations = [migrations.RunPython(load_reference_data, migrations.RunPython.noop)]
