import datetime
from unittest import mock

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections
from django.test import override_settings

from tests.factories import OrganizationFactory, UserFactory, member


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # PBKDF2 costs ~0.3 s per user; tests check behaviour, not hash strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def uploads_in_a_temporary_folder(settings, tmp_path):
    # Imports keep the uploaded file for the confirm step; tests leave nothing in the project's var/.
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture(autouse=True)
def empty_cache():
    # The cache keeps draft PDFs and job progress between requests; a test sees none a previous test left.
    from django.core.cache import cache

    cache.clear()


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


class FullPrecisionEncoder(DjangoJSONEncoder):
    # Django's encoder cuts datetimes to milliseconds; restored history rows would then fail their hashes.
    def default(self, o):
        if isinstance(o, (datetime.datetime, datetime.time)):
            return o.isoformat()
        return super().default(o)


INITIAL_CONTENT: list[str] = []


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Keep the test database's initial content (the migrations' reference data) right after it is created, to
    restore before every test that commits (below). Serialized as Django's serialized_rollback does, but at full
    precision: through Django's JSON, restored history rows would no longer match their hashes."""
    full_precision = mock.patch("django.core.serializers.json.DjangoJSONEncoder", FullPrecisionEncoder)
    with django_db_blocker.unblock(), full_precision:
        # Kept here, not on the connection as Django does: a test that changes DATABASES replaces the connections.
        INITIAL_CONTENT.append(connections["default"].creation.serialize_db_to_string())


def commits_its_data(item) -> bool:
    marker = item.get_closest_marker("django_db")
    transactional = marker is not None and (marker.kwargs.get("transaction") or (marker.args and marker.args[0]))
    return bool(transactional) or bool({"transactional_db", "live_server"} & set(item.fixturenames))


@pytest.fixture(autouse=True)
def committing_tests_start_from_the_initial_content(request, django_db_blocker):
    """A test that commits (a browser journey, a real worker, concurrent transactions) starts from exactly the
    initial content, whatever ran before it in this process.

    Django empties the database after such a test; its post_migrate re-creates content types and permissions but
    not the reference data the migrations load (the CPT data files, the rate tables), so a test landing after it
    in the same process found none (`KeyError: 'cpt-standard'`). One discipline for all of them: empty, restore.
    """
    if not commits_its_data(request.node):
        return
    from django.core.management import call_command

    (initial_content,) = INITIAL_CONTENT
    # Loaded as it was saved: the role groups' permissions set again must not append a history row to their chains.
    with django_db_blocker.unblock(), override_settings(SIMPLE_HISTORY_ENABLED=False):
        # Sequences stay where they are: the restored rows keep their ids, new rows get ids above them.
        call_command("flush", interactive=False, inhibit_post_migrate=True, reset_sequences=False, verbosity=0)
        connections["default"].creation.deserialize_db_from_string(initial_content)
