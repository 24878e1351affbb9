"""`make audit`: the installed packages checked against PyPI's vulnerability advisories with pip-audit.

pip-audit reports a package it could not look up as skipped, not as failed, so a run that reached no advisory
data would look clean. This script counts what was really checked and fails when that is nothing, when any
package could not be checked (unless --allow-skipped), or when a known vulnerability is found.
"""

import argparse
import json
import subprocess  # nosec B404 # runs pip-audit, a fixed command
import sys
import tempfile
from pathlib import Path


def verdict(report: dict, *, allow_skipped: bool) -> tuple[list[str], int]:
    """What to print about a pip-audit JSON report, and the exit status: 0 only when packages were checked, none
    was skipped (unless allowed) and none has a known vulnerability."""
    packages = report["dependencies"]
    skipped = [package for package in packages if "skip_reason" in package]
    checked = [package for package in packages if "skip_reason" not in package]
    vulnerable = [package for package in checked if package["vulns"]]
    lines = [
        f"pip-audit checked {len(checked)} of {len(packages)} installed packages against PyPI's advisories: "
        f"{sum(len(package['vulns']) for package in vulnerable)} known vulnerabilities in {len(vulnerable)} packages, "
        f"{len(skipped)} packages skipped."
    ]
    for package in vulnerable:
        for vuln in package["vulns"]:
            fixes = ", ".join(vuln["fix_versions"]) or "no fixed release yet"
            lines.append(f"  {package['name']} {package['version']}: {vuln['id']} (fixed in {fixes})")
    lines += [f"  skipped: {package['skip_reason']}" for package in skipped[:5]]
    if len(skipped) > 5:
        lines.append(f"  ... and {len(skipped) - 5} more skipped")
    if not checked:
        lines.append(
            "FAILED: no package was audited (is PyPI's JSON API reachable?); a run that audits none is no pass."
        )
        return lines, 1
    if skipped and not allow_skipped:
        lines.append("FAILED: some packages could not be audited (--allow-skipped lets that pass).")
        return lines, 1
    return lines, 1 if vulnerable else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allow-skipped", action="store_true", help="pass when some (not all) packages were skipped")
    parser.add_argument(
        "--pip-audit",
        default=str(Path(sys.executable).with_name("pip-audit")),
        help="the pip-audit program (default: the one beside this Python)",
    )
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        report_file = Path(folder) / "audit.json"
        command = [
            options.pip_audit,
            "--vulnerability-service",
            "pypi",
            "--format",
            "json",
            "--progress-spinner",
            "off",
        ]
        run = subprocess.run([*command, "--output", str(report_file)], capture_output=True, text=True)  # noqa: S603  # nosec B603
        if not report_file.exists():
            print(f"pip-audit did not run:\n{run.stdout}{run.stderr}", file=sys.stderr)
            return 1
        report = json.loads(report_file.read_text())
    lines, status = verdict(report, allow_skipped=options.allow_skipped)
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    sys.exit(main())
