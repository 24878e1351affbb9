"""The deployment files hold together: the Procfile names web, worker and beat and each command's module loads;
`make serve-all` starts them with the machine's Redis as broker; the systemd units run the same commands."""

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.test_healthz import REDIS_URL, redis_answers
from tests.test_serving import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEPLOY = ROOT / "deploy"
# portal/celery.py (the Celery app `-A portal` names) comes with the jobs work; until then only web can start.


def procfile() -> dict[str, str]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            entries[name.strip()] = command.strip()
    return entries


def expanded(command: str, **env) -> list[str]:
    """The command's words as sh would pass them, `${NAME:-default}` filled from `env` or the default."""
    filled = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda match: env.get(match[1], match[2]), command)
    return shlex.split(filled)


def environment(tmp_path, **extra) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "DJANGO_ENV", "SECRET_KEY", "DEBUG", "CELERY_BROKER_URL"}
    }
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'deploy.sqlite3'}", PATH=f"{BIN}:{env.get('PATH', '')}", **extra)
    return env


def run(words: list[str], env) -> subprocess.CompletedProcess:
    return subprocess.run(words, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_the_procfile_names_web_worker_and_beat():
    commands = procfile()
    assert list(commands) == ["web", "worker", "beat"]
    assert commands["web"].startswith("gunicorn -c portal/gunicorn_conf.py portal.wsgi:application")
    assert commands["worker"].startswith("celery -A portal worker")
    assert commands["beat"].startswith("celery -A portal beat")
    checked = run([str(BIN / "honcho"), "-f", "Procfile", "check"], os.environ.copy())
    assert "Valid procfile detected (web, worker, beat)" in checked.stdout + checked.stderr


def test_the_web_command_loads_the_portal(tmp_path):
    words = expanded(procfile()["web"])
    result = run([str(BIN / words[0]), "--check-config", *words[1:]], environment(tmp_path))
    assert result.returncode == 0, result.stderr


def test_the_web_check_can_fail(tmp_path):
    # Proves the test above can fail: --check-config loads the application and refuses a module that is not there.
    words = [word.replace("portal.wsgi", "portal.no_such_module") for word in expanded(procfile()["web"])]
    assert run([str(BIN / words[0]), "--check-config", *words[1:]], environment(tmp_path)).returncode != 0


@pytest.mark.parametrize("name", ["worker", "beat"])
def test_the_worker_and_beat_commands_load_the_celery_app(name, tmp_path):
    words = expanded(procfile()[name])
    assert words[:3] == ["celery", "-A", "portal"]
    # `report` loads the app `-A` names, as worker and beat do, without contacting the broker.
    result = run([str(BIN / "celery"), "-A", "portal", "report"], environment(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_serve_all_runs_the_procfile_with_the_machines_redis_and_settings_default_to_no_broker(tmp_path):
    planned = subprocess.run(
        ["make", "-n", "serve-all"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "honcho -f Procfile start" in planned
    assert 'CELERY_BROKER_URL="${CELERY_BROKER_URL:-redis://127.0.0.1:6379/0}"' in planned
    # The default broker is serve-all's alone: settings leave jobs in the web process when nothing is set.
    code = "from django.conf import settings; print(repr(getattr(settings, 'CELERY_BROKER_URL', '')))"
    result = run([sys.executable, "manage.py", "shell", "--no-imports", "-c", code], environment(tmp_path))
    assert result.stdout.strip() == "''", result.stderr


def wait_for_health(port: int, honcho: subprocess.Popen, deadline: float) -> dict:
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:  # noqa: S310
                return json.loads(answer.read())
        except OSError:
            if honcho.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the web process did not answer /healthz: {stop(honcho)}")
            time.sleep(0.5)


def stop(honcho: subprocess.Popen) -> str:
    if honcho.poll() is None:
        honcho.send_signal(signal.SIGTERM)
    try:
        output, _ = honcho.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        honcho.kill()
        output, _ = honcho.communicate()
    return output


def start(processes: list[str], tmp_path, **extra) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = environment(
        tmp_path,
        BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="1",
        WORKER_CONCURRENCY="1",
        BEAT_SCHEDULE=str(tmp_path / "celerybeat-schedule"),
        **extra,
    )
    honcho = subprocess.Popen(
        [str(BIN / "honcho"), "-f", "Procfile", "start", *processes],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return honcho, port


def test_honcho_starts_the_web_process_and_it_answers_healthz(tmp_path):
    honcho, port = start(["web"], tmp_path)
    try:
        assert wait_for_health(port, honcho, time.monotonic() + 90) == {"status": "ok", "database": "ok"}
    finally:
        stop(honcho)


def test_honcho_starts_web_worker_and_beat_together_against_redis(tmp_path):
    if not redis_answers():
        if os.environ.get("CI") == "true":
            pytest.fail("Redis is required under CI=true but nothing answers on 127.0.0.1:6379.")
        pytest.skip("no Redis on 127.0.0.1:6379")
    honcho, port = start(["web", "worker", "beat"], tmp_path, CELERY_BROKER_URL=REDIS_URL)
    try:
        health = wait_for_health(port, honcho, time.monotonic() + 90)
        assert health == {"status": "ok", "database": "ok", "broker": "ok"}
        # The worker answers a ping through the broker: it is up and consuming.
        deadline = time.monotonic() + 90
        while True:
            ping = run(
                [str(BIN / "celery"), "-A", "portal", "inspect", "ping", "--timeout", "3"],
                environment(tmp_path, CELERY_BROKER_URL=REDIS_URL),
            )
            if "pong" in ping.stdout:
                break
            if honcho.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the worker did not answer a ping: {ping.stdout}{ping.stderr}")
            time.sleep(1)
    finally:
        output = stop(honcho)
    assert "beat: Starting" in output, output


def unit(name: str) -> dict[str, list[str]]:
    """The settings of a systemd unit file, each key with all its values in order."""
    found: dict[str, list[str]] = {}
    for line in (DEPLOY / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


def test_the_systemd_units_run_the_procfiles_commands():
    commands = procfile()
    for name, process in [("cpt-web.service", "web"), ("cpt-worker.service", "worker"), ("cpt-beat.service", "beat")]:
        (exec_start,) = unit(name)["ExecStart"]
        program, *words = shlex.split(exec_start)
        assert program == f"/srv/cpt-portal/.venv/bin/{expanded(commands[process])[0]}"
        # The same program and module; the options may differ (a state directory, a host name).
        assert words[:3] == expanded(commands[process])[1:4], name
    assert unit("cpt-reminders.service")["ExecStart"] == ["/srv/cpt-portal/.venv/bin/python manage.py send_reminders"]
    assert unit("cpt-reminders.timer")["OnCalendar"] and unit("cpt-reminders.service")["Type"] == ["oneshot"]


def test_systemd_accepts_the_units():
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is needed to check the units (Debian package systemd).")
    names = sorted(path.name for path in DEPLOY.iterdir() if path.suffix in {".service", ".timer"})
    assert names == [
        "cpt-beat.service",
        "cpt-reminders.service",
        "cpt-reminders.timer",
        "cpt-web.service",
        "cpt-worker.service",
    ]
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *names], cwd=DEPLOY, capture_output=True, text=True, timeout=60
    )
    # The only complaint allowed on a machine that is not a production server: /srv/cpt-portal is not there.
    complaints = [line for line in result.stderr.splitlines() if "/srv/cpt-portal/.venv/bin/" not in line]
    assert complaints == [], result.stderr


def test_docs_deploy_names_every_variable_the_settings_read():
    settings_text = (ROOT / "portal" / "settings.py").read_text()
    read = set(re.findall(r"\benv\.\w+\(\s*\"([A-Z][A-Z0-9_]*)\"", settings_text))
    assert {"DATABASE_URL", "STORAGE_BACKEND", "AWS_STORAGE_BUCKET_NAME", "PROXY_COUNT"} <= read
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]*)`", (ROOT / "docs" / "deploy.md").read_text()))
    assert sorted(read - documented) == [], "docs/deploy.md 'Every environment variable' must list these"
