"""Settings come from the environment; production is hardened and refuses to start half-configured."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def manage(*args, **env):
    environment = {
        key: value
        for key, value in os.environ.items()
        # The browser tests' permission to call the ORM beside Playwright's event loop is theirs alone.
        if key not in {"DATABASE_URL", "SECRET_KEY", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


PRODUCTION = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": "k3v9-QeZq1wT8yN0pXc7LbR4mH2sJ6dF5gA-uViOoPlKjE_rTyWzXs",
    "ALLOWED_HOSTS": "cpt.example.org",
    "DATABASE_URL": "sqlite:////tmp/portal-deploy-check.sqlite3",
}


def test_production_passes_deploy_check_with_no_warnings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    # The one silenced check is axes' wish to lock by address too (portal/settings.py says why not).
    assert "System check identified no issues (1 silenced)." in result.stdout


def test_production_refuses_to_start_without_secret_key():
    result = manage("check", **{**PRODUCTION, "SECRET_KEY": ""})
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_development_deploy_check_flags_debug():
    # Proves the check above can fail: development settings are not production-ready.
    result = manage("check", "--deploy", "--fail-level", "WARNING", DJANGO_ENV="development")
    assert result.returncode != 0
    assert "security.W018" in result.stderr + result.stdout


def test_database_url_selects_postgresql():
    code = "from django.conf import settings; print(settings.DATABASES['default']['ENGINE'])"
    result = manage("shell", "--no-imports", "-c", code, DATABASE_URL="postgres://someone@db.example.org:5432/portal")
    assert result.stdout.strip() == "django.db.backends.postgresql", result.stderr


def test_default_database_is_sqlite_under_var():
    code = "from django.conf import settings; print(settings.DATABASES['default']['NAME'])"
    result = manage("shell", "--no-imports", "-c", code)
    assert result.stdout.strip().endswith("var/portal.sqlite3"), result.stderr


def test_production_turns_on_lockout_idle_timeout_two_factor_and_the_headers():
    code = (
        "from django.conf import settings as s; import json; print(json.dumps(["
        "'csp.middleware.CSPMiddleware' in s.MIDDLEWARE, 'portal.security.PermissionsPolicyMiddleware' in s.MIDDLEWARE,"
        "s.MIDDLEWARE[-1], s.AUTHENTICATION_BACKENDS[0], s.AXES_FAILURE_LIMIT, s.SESSION_IDLE_MINUTES,"
        "s.REQUIRE_TWO_FACTOR, s.CONTENT_SECURITY_POLICY['DIRECTIVES']['script-src'], s.AXES_IPWARE_PROXY_COUNT]))"
    )
    limits = {"SESSION_IDLE_MINUTES": "15", "LOGIN_FAILURE_LIMIT": "7"}
    result = manage("shell", "--no-imports", "-c", code, **PRODUCTION, **limits)
    assert json.loads(result.stdout) == [
        True,
        True,
        "axes.middleware.AxesMiddleware",
        "axes.backends.AxesStandaloneBackend",
        7,
        15,
        True,
        ["'self'"],
        1,
    ], result.stderr


def test_a_job_file_retention_below_one_day_is_refused_in_words():
    result = manage("check", JOB_FILES_RETENTION_DAYS="0")
    assert result.returncode != 0
    assert "JOB_FILES_RETENTION_DAYS is 0: give the days to keep job files, 1 or more." in result.stderr
