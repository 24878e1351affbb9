"""The squashed first migration a new database runs builds what 0001-0022 built, so old and new installs agree."""

from django.db.migrations.loader import MigrationLoader

SQUASHED = ("licensing", "0001_squashed_0022_person_looks_shared")
LAST_REPLACED = ("licensing", "0022_person_looks_shared")


def described(state) -> dict:
    """Every licensing model as its fields' deconstruction and its indexes, constraints and options."""
    models = {}
    for (app, name), model in state.models.items():
        if app != "licensing":
            continue
        models[name] = {
            "fields": {field_name: field.deconstruct()[1:] for field_name, field in model.fields.items()},
            "indexes": sorted(repr(index.deconstruct()) for index in model.options.get("indexes", [])),
            "constraints": sorted(
                (constraint.name, repr(constraint.deconstruct())) for constraint in model.options.get("constraints", [])
            ),
            "options": {key: value for key, value in model.options.items() if key not in {"indexes", "constraints"}},
            "bases": model.bases,
        }
    return models


def test_the_squashed_migration_ends_where_the_original_chain_ends():
    original = MigrationLoader(None, ignore_no_migrations=True, replace_migrations=False)
    squashed = MigrationLoader(None, ignore_no_migrations=True)
    assert SQUASHED in squashed.graph.nodes and LAST_REPLACED not in squashed.graph.nodes
    before = described(original.project_state(LAST_REPLACED))
    after = described(squashed.project_state(SQUASHED))
    assert sorted(after) == sorted(before)
    for name in before:
        assert after[name] == before[name], name


def test_the_squashed_migration_replaces_the_whole_original_chain():
    original = MigrationLoader(None, ignore_no_migrations=True, replace_migrations=False)
    chain = {key for key in original.graph.nodes if key[0] == "licensing" and key != SQUASHED}
    replaced = set(MigrationLoader(None, ignore_no_migrations=True).replacements[SQUASHED].replaces)
    assert replaced == chain


def test_a_new_database_loads_the_reference_data_and_the_roles(db):
    from django.contrib.auth.models import Group

    from licensing.models import DataFileRate, ProxyFactor, RateSchedule
    from licensing.reference_data import SCHEDULES

    assert set(RateSchedule.objects.values_list("license_year", flat=True)) == set(SCHEDULES)
    assert DataFileRate.objects.count() == sum(len(rates) for *_, rates in SCHEDULES.values())
    assert ProxyFactor.objects.filter(base_metric="physicians").exists()
    assert all(group.permissions.exists() for group in Group.objects.all()) and Group.objects.count() == 2
