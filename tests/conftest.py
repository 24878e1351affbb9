import pytest

from tests.factories import OrganizationFactory, UserFactory, member


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # PBKDF2 costs ~0.3 s per user; tests check behaviour, not hash strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def uploads_in_a_temporary_folder(settings, tmp_path):
    # Imports keep the uploaded file for the confirm step; tests leave nothing in the project's var/.
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def org_a(db):
    return OrganizationFactory(name="Alpha Health", slug="alpha-health")


@pytest.fixture
def org_b(db):
    return OrganizationFactory(name="Beta Clinics", slug="beta-clinics")


@pytest.fixture
def officer(org_a):
    user = UserFactory(username="officer-a")
    member(user, org_a, "officer")
    return user


@pytest.fixture
def auditor(org_a):
    user = UserFactory(username="auditor-a")
    member(user, org_a, "auditor")
    return user


@pytest.fixture
def officer_client(client, officer):
    client.force_login(officer)
    return client


@pytest.fixture
def auditor_client(client, auditor):
    client.force_login(auditor)
    return client


@pytest.fixture
def restorable_database():
    """Make sure the database can be restored after a test that commits its data (a browser test, a real
    worker's), whatever ran before it.

    Such a test commits its data (the live server or the worker must see it), so Django empties the database after
    it and restores the content serialized when the test database was created (serialized_rollback).
    Seen here: after ordinary database tests ran first in the same process, the connection carried no
    serialized content, so nothing was restored and the next test found no reference data. The database
    still holds exactly its initial content when a browser test starts, so it is serialized then.
    """
    from django.db import connections

    connection = connections["default"]
    if not hasattr(connection, "_test_serialized_contents"):
        connection._test_serialized_contents = connection.creation.serialize_db_to_string()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    # The real-worker tests commit their data and flush it with the migrations' reference data: run them last
    # (after pytest-django's own ordering), so no test after them in a process needs that data.
    last = [item for item in items if item.path.name == "test_job_worker.py"]
    if last:
        items[:] = [item for item in items if item.path.name != "test_job_worker.py"] + last
