"""`/healthz` as the load balancer meets it: 200 while the database (and a configured broker) answer, 503 naming
the part that does not; no sign-in, no session, no redirect to HTTPS."""

import json
import os
import socket
import time

import pytest
from django.contrib.sessions.models import Session

from tests.test_settings import PRODUCTION, manage

pytestmark = pytest.mark.django_db

# The deploy branch's own Redis database (tests share the machine's Redis).
# A suite running beside another (make test runs the SQLite and PostgreSQL suites at once) names its own databases.
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/4")


def closed_port() -> int:
    """A loopback port nothing listens on: bound, then released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def test_healthy_without_a_broker_and_without_a_session(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok", "database": "ok"}
    # Asked every few seconds by every balancer: it must leave no session behind.
    assert "sessionid" not in response.cookies and Session.objects.count() == 0
    assert "no-cache" in response["Cache-Control"]


def test_healthy_with_a_broker_that_answers(client, settings):
    settings.CELERY_BROKER_URL = "memory://"
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_healthy_with_the_machines_redis(client, settings):
    if not redis_answers():
        if os.environ.get("CI") == "true":
            pytest.fail("Redis is required under CI=true but nothing answers on 127.0.0.1:6379.")
        pytest.skip("no Redis on 127.0.0.1:6379")
    settings.CELERY_BROKER_URL = REDIS_URL
    assert client.get("/healthz").json()["broker"] == "ok"


def test_an_unreachable_broker_answers_503_at_once(client, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port()}/0"
    started = time.monotonic()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "ok", "broker": "unreachable"}
    # The check gives up within its own short timeout, well before a balancer's.
    assert time.monotonic() - started < 10
    # Only the verdict is shown: the address and the error stay in the log.
    assert b"127.0.0.1" not in response.content


def test_signed_in_or_not_it_answers_the_same(officer_client):
    assert officer_client.get("/healthz").json() == {"status": "ok", "database": "ok"}


def test_only_reading_is_allowed(client):
    assert client.post("/healthz").status_code in (403, 405)
    assert client.generic("PUT", "/healthz").status_code in (403, 405)


def django_client_in_a_process(code: str, **env) -> list:
    """Runs `code` (which prints JSON) in a fresh process with settings from `env`, as a server would start."""
    result = manage("shell", "--no-imports", "-c", code, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_an_unreachable_database_answers_503_not_500():
    # A PostgreSQL that refuses connections, as when the database server is down: the view must still answer.
    code = (
        "import json; from django.test import Client; r = Client(raise_request_exception=False).get('/healthz');"
        "print(json.dumps([r.status_code, r.json()]))"
    )
    status, body = django_client_in_a_process(code, DATABASE_URL=f"postgres://postgres@127.0.0.1:{closed_port()}/none")
    assert status == 503
    assert body == {"status": "unavailable", "database": "unreachable"}


def test_production_answers_plain_http_from_the_balancer(tmp_path):
    # Every other page is redirected to HTTPS; the balancer asks each app server over plain HTTP.
    code = (
        "import json; from django.test import Client; c = Client(HTTP_HOST='cpt.example.org');"
        "print(json.dumps([c.get('/healthz').status_code, c.get('/admin/login/').status_code]))"
    )
    database = {"DATABASE_URL": f"sqlite:///{tmp_path / 'health.sqlite3'}"}
    assert django_client_in_a_process(code, **{**PRODUCTION, **database}) == [200, 301]
