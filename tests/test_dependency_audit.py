"""`make audit` (tools/audit_dependencies.py): a pip-audit run that checked nothing, or found something, fails."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tools" / "audit_dependencies.py"

CLEAN = {"name": "django", "version": "5.2.8", "vulns": []}
VULNERABLE = {
    "name": "jinja2",
    "version": "3.1.2",
    "vulns": [{"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"], "aliases": ["CVE-2024-22195"]}],
}
SKIPPED = {"name": "weasyprint", "skip_reason": "Dependency not found on PyPI and could not be audited: weasyprint"}


def run_audit(tmp_path, packages: list[dict], *args: str) -> subprocess.CompletedProcess:
    """The script with a stand-in pip-audit that writes `packages` as its JSON report where --output says."""
    fake = tmp_path / "pip-audit"
    report = json.dumps({"dependencies": packages, "fixes": []})
    fake.write_text(
        textwrap.dedent(
            f"""\
            #!{sys.executable}
            import sys
            arguments = sys.argv[1:]
            assert arguments[arguments.index("--vulnerability-service") + 1] == "pypi"
            open(arguments[arguments.index("--output") + 1], "w").write({report!r})
            """
        )
    )
    fake.chmod(0o755)
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--pip-audit", str(fake), *args], capture_output=True, text=True, check=False
    )


def test_packages_checked_and_clean_pass_and_say_how_many(tmp_path):
    run = run_audit(tmp_path, [CLEAN, {**CLEAN, "name": "celery"}])
    assert run.returncode == 0, run.stdout
    assert "checked 2 of 2 installed packages" in run.stdout and "0 known vulnerabilities" in run.stdout


def test_a_run_that_audited_nothing_fails(tmp_path):
    run = run_audit(tmp_path, [SKIPPED, {**SKIPPED, "name": "django"}], "--allow-skipped")
    assert run.returncode == 1
    assert "checked 0 of 2" in run.stdout and "no package was audited" in run.stdout


def test_a_known_vulnerability_fails_and_names_the_fix(tmp_path):
    run = run_audit(tmp_path, [CLEAN, VULNERABLE])
    assert run.returncode == 1
    assert "jinja2 3.1.2: GHSA-h5c8-rqwp-cp95 (fixed in 3.1.3)" in run.stdout


@pytest.mark.parametrize(("allowed", "status"), [((), 1), (("--allow-skipped",), 0)])
def test_skipped_packages_fail_unless_allowed(tmp_path, allowed, status):
    run = run_audit(tmp_path, [CLEAN, SKIPPED], *allowed)
    assert run.returncode == status
    assert "1 packages skipped" in run.stdout and "skipped: Dependency not found" in run.stdout


def test_pip_audit_that_wrote_no_report_fails(tmp_path):
    fake = tmp_path / "pip-audit"
    fake.write_text(f"#!{sys.executable}\nimport sys\nprint('network unreachable'); sys.exit(1)\n")
    fake.chmod(0o755)
    run = subprocess.run([sys.executable, str(SCRIPT), "--pip-audit", str(fake)], capture_output=True, text=True)
    assert run.returncode == 1 and "pip-audit did not run" in run.stderr and "network unreachable" in run.stderr
