"""`make serve`'s gunicorn, started for real on a loopback port: no Server header names the software."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def headers_from_gunicorn(tmp_path, *config: str) -> dict[str, str]:
    port = free_port()
    environment = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "DJANGO_ENV"}}
    environment["DATABASE_URL"] = f"sqlite:///{tmp_path / 'serve.sqlite3'}"
    command = [str(GUNICORN), *config, "portal.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    server = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=5) as answer:  # noqa: S310
                    return dict(answer.headers.items())
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"gunicorn did not answer: {server.stderr.read().decode() if server.stderr else ''}")
                time.sleep(0.3)
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_make_serve_sends_no_server_header(tmp_path):
    assert "gunicorn -c portal/gunicorn_conf.py" in (ROOT / "Makefile").read_text()
    headers = headers_from_gunicorn(tmp_path, "-c", "portal/gunicorn_conf.py")
    assert "Server" not in headers
    assert "Content-Security-Policy" in headers and "Permissions-Policy" in headers


def test_gunicorn_without_the_config_names_itself(tmp_path):
    # Proves the test above can fail: plain gunicorn announces itself.
    assert headers_from_gunicorn(tmp_path)["Server"].startswith("gunicorn")
