"""Files go through Django's storage API, chosen by environment: a folder by default, an S3-compatible bucket with
STORAGE_BACKEND=s3; an import previewed on one app server is confirmed on another, which shares only the
database and that storage."""

import json
import os
import shutil
import tempfile

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils.module_loading import import_string

from licensing.models import DataImport, UserCount
from tests.factories import UserFactory
from tests.test_admin_imports import counts_file, systems, upload  # noqa: F401 (systems is a fixture)
from tests.test_healthz import REDIS_URL, redis_answers
from tests.test_settings import PRODUCTION, manage

S3 = {
    "STORAGE_BACKEND": "s3",
    "AWS_STORAGE_BUCKET_NAME": "cpt-evidence",
    "AWS_S3_ENDPOINT_URL": "https://objects.example.invalid",
    "AWS_S3_REGION_NAME": "eu-central-1",
    "AWS_S3_ADDRESSING_STYLE": "path",
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "example-secret",
    # Nothing may be asked of an instance-metadata service either.
    "AWS_EC2_METADATA_DISABLED": "true",
}

# Prints the storage settings and what the storage built from them holds; building it contacts nothing (the
# endpoint's .invalid name resolves nowhere, so any request would fail the test).
DESCRIBE_STORAGE = """
import json
import os
from django.conf import settings
from django.core.files.storage import default_storage as storage
url = storage.url("imports/a.csv")
print(json.dumps({
    "STORAGES": settings.STORAGES["default"], "class": type(storage._wrapped).__name__, "url": url,
    "bucket": getattr(storage, "bucket_name", None), "key": getattr(storage, "access_key", None),
    "tmp": settings.IMPORT_EXPORT_TMP_STORAGE_CLASS, "media": str(settings.MEDIA_ROOT),
}))
"""


def storage_described(**env) -> dict:
    result = manage("shell", "--no-imports", "-c", DESCRIBE_STORAGE, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_by_default_files_go_to_a_folder_under_var():
    found = storage_described()
    assert found["STORAGES"] == {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    assert found["class"] == "FileSystemStorage" and found["media"].endswith("/var/media")
    assert found["tmp"] == "import_export.tmp_storages.MediaStorage"


def test_storage_backend_s3_configures_a_private_bucket_from_the_environment():
    found = storage_described(**S3)
    assert found["STORAGES"] == {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": "cpt-evidence",
            "endpoint_url": "https://objects.example.invalid",
            "region_name": "eu-central-1",
            "addressing_style": "path",
            "location": "",
            "default_acl": "private",
            "querystring_auth": False,
            "file_overwrite": False,
        },
    }
    assert found["class"] == "S3Storage" and found["bucket"] == "cpt-evidence"
    # The credentials reach the storage from the environment, never through settings.
    assert found["key"] == "AKIAEXAMPLEEXAMPLE" and "example-secret" not in json.dumps(found["STORAGES"])
    # No signed URL that would let a holder past the portal's access checks.
    assert found["url"] == "https://objects.example.invalid/cpt-evidence/imports/a.csv"
    assert found["tmp"] == "import_export.tmp_storages.MediaStorage"


def test_production_on_s3_passes_the_deploy_check_with_no_warnings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION, **S3)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (1 silenced)." in result.stdout


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STORAGE_BACKEND": "s3"}, "STORAGE_BACKEND=s3 needs AWS_STORAGE_BUCKET_NAME"),
        ({"STORAGE_BACKEND": "ftp"}, "STORAGE_BACKEND is 'ftp': use 'local'"),
    ],
)
def test_a_half_configured_storage_refuses_to_start(env, message):
    result = manage("check", **env)
    assert result.returncode != 0 and message in result.stderr


class Servers:
    """Two app servers in one test: each with its own temporary folder, its own local media folder and its own
    storage object, sharing only the database and what STORAGES["default"] names. `switch_to_second()` takes the
    first one away entirely."""

    def __init__(self, settings, root, *, storage: dict | None):
        self.settings, self.root, self.storage = settings, root, storage
        self._use("first")

    def _use(self, name: str) -> None:
        for folder in ("tmp", "media"):
            (self.root / name / folder).mkdir(parents=True)
        self.settings.MEDIA_ROOT = str(self.root / name / "media")
        self.settings.FILE_UPLOAD_TEMP_DIR = str(self.root / name / "tmp")
        tempfile.tempdir = str(self.root / name / "tmp")
        if self.storage is not None:
            # A new settings value: Django builds this server's storage object afresh.
            self.settings.STORAGES = {**self.settings.STORAGES, "default": dict(self.storage)}

    def switch_to_second(self) -> None:
        shutil.rmtree(self.root / "first")
        self._use("second")


@pytest.fixture
def servers(settings, tmp_path):
    def make(*, storage: dict | None) -> Servers:
        return Servers(settings, tmp_path, storage=storage)

    yield make
    tempfile.tempdir = None


@pytest.fixture
def shared_folder(tmp_path) -> dict:
    # Stands for the bucket: the one place both servers read and write files.
    return {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path / "bucket")}}


@pytest.fixture
def s3_bucket(monkeypatch):
    """A private S3 bucket (moto's, in this process) and the storage settings the portal builds for it from the
    environment, exactly as in production."""
    import boto3
    from moto import mock_aws

    from portal import settings as portal_settings

    environment = {**S3, "AWS_S3_ENDPOINT_URL": "", "AWS_S3_REGION_NAME": "us-east-1", "AWS_S3_ADDRESSING_STYLE": ""}
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=S3["AWS_STORAGE_BUCKET_NAME"])
        yield portal_settings._file_storage()


def upload_on_one_server_and_confirm_on_another(client, officer, systems, two: Servers) -> DataImport:  # noqa: F811
    first = client
    first.force_login(officer)
    preview_page = upload(first, counts_file("alpha-health,Billing,2026,Counted,12,0,0"), reason="Recount")["Location"]
    preview = DataImport.objects.get()
    assert default_storage.exists(preview.upload.name)

    two.switch_to_second()
    # The second server knows the person only from the database: a session of its own.
    second = type(client)()
    second.force_login(officer)
    confirmed = second.post(preview_page)
    done = DataImport.objects.get(outcome=DataImport.Outcome.CONFIRMED)
    assert confirmed["Location"] == reverse("admin:licensing_dataimport_change", args=[done.pk])
    assert UserCount.objects.get(application=systems["billing"]).direct_users == 12
    assert done.file_sha256 == preview.file_sha256
    return preview


def test_a_preview_uploaded_on_one_server_is_confirmed_on_another(
    client,
    officer,
    systems,  # noqa: F811
    servers,
    shared_folder,
):
    upload_on_one_server_and_confirm_on_another(client, officer, systems, servers(storage=shared_folder))


def test_the_same_through_an_s3_bucket(client, officer, systems, servers, s3_bucket):  # noqa: F811
    import boto3

    assert s3_bucket["BACKEND"] == "storages.backends.s3.S3Storage"
    preview = upload_on_one_server_and_confirm_on_another(client, officer, systems, servers(storage=s3_bucket))
    bucket = S3["AWS_STORAGE_BUCKET_NAME"]
    s3 = boto3.client("s3", region_name="us-east-1")
    assert [item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [preview.upload.name]
    # Private: the owner alone may read it (no public grant).
    grants = s3.get_object_acl(Bucket=bucket, Key=preview.upload.name)["Grants"]
    assert [grant["Permission"] for grant in grants] == ["FULL_CONTROL"]
    assert all("URI" not in grant["Grantee"] for grant in grants)


def test_without_shared_storage_the_second_server_says_so_and_writes_nothing(
    client,
    officer,
    systems,  # noqa: F811
    servers,
):
    # Proves the test above can fail: with each server's files on its own disk, the confirm cannot find the file.
    two = servers(storage=None)
    client.force_login(officer)
    preview_page = upload(client, counts_file("alpha-health,Billing,2026,Counted,12,0,0"))["Location"]
    two.switch_to_second()
    second = type(client)()
    second.force_login(officer)
    assert 'value="Confirm import"' not in second.get(preview_page).content.decode()
    refused = second.post(preview_page, follow=True)
    assert refused.status_code == 200
    assert "The previewed file is no longer stored; upload it again." in refused.content.decode()
    assert not DataImport.objects.filter(outcome=DataImport.Outcome.CONFIRMED).exists()
    assert UserCount.objects.get(application=systems["billing"]).direct_users == 10


def test_import_exports_own_temporary_files_live_on_the_shared_storage(settings, servers, shared_folder, db):
    two = servers(storage=shared_folder)
    storage_class = import_string(settings.IMPORT_EXPORT_TMP_STORAGE_CLASS)
    kept = storage_class(encoding="utf-8")
    kept.save(b"Organization\nalpha-health\n")
    two.switch_to_second()
    assert storage_class(name=kept.name, encoding="utf-8").read() == b"Organization\nalpha-health\n"


def test_sessions_live_in_the_database(settings, client, db):
    # Any app server can read a session another one started.
    assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.db"
    client.force_login(UserFactory())
    from django.contrib.sessions.models import Session

    assert Session.objects.filter(session_key=client.session.session_key).exists()


# One process writes a job's progress to the cache, the other reads it: two app servers sharing CACHE_URL.
CACHE_PROBE = """
import sys
from django.core.cache import cache
if sys.argv[-1] == "write":
    cache.set("stateless-probe", "written by the first process", 60)
print(cache.get("stateless-probe"))
"""


def cache_seen_by_a_second_process(**env) -> str:
    first = manage("shell", "--no-imports", "-c", CACHE_PROBE.replace("sys.argv[-1]", '"write"'), **env)
    second = manage("shell", "--no-imports", "-c", CACHE_PROBE, **env)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    return second.stdout.strip().splitlines()[-1]


def test_with_cache_url_every_process_shares_one_cache():
    if not redis_answers():
        if os.environ.get("CI") == "true":
            pytest.fail("Redis is required under CI=true but nothing answers on 127.0.0.1:6379.")
        pytest.skip("no Redis on 127.0.0.1:6379")
    shared = os.environ.get("TEST_REDIS_CACHE_URL", REDIS_URL.rsplit("/", 1)[0] + "/5")
    assert cache_seen_by_a_second_process(CACHE_URL=shared) == "written by the first process"
    # Without it each process has its own memory: what one wrote, the next does not see.
    assert cache_seen_by_a_second_process() == "None"


def test_a_cache_url_that_is_not_redis_refuses_to_start():
    result = manage("check", CACHE_URL="memcached://127.0.0.1:11211")
    assert result.returncode != 0 and "CACHE_URL must be a redis:// or rediss:// URL" in result.stderr
