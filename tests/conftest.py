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
