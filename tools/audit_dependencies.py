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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allow-skipped", action="store_true", help="pass when some (not all) packages were skipped")
    options = parser.parse_args()
    pip_audit = Path(sys.executable).with_name("pip-audit")
    with tempfile.TemporaryDirectory() as folder:
        report_file = Path(folder) / "audit.json"
        command = [str(pip_audit), "--vulnerability-service", "pypi", "--format", "json", "--progress-spinner", "off"]
        run = subprocess.run([*command, "--output", str(report_file)], capture_output=True, text=True)  # noqa: S603  # nosec B603
        if not report_file.exists():
            print(f"pip-audit did not run:\n{run.stdout}{run.stderr}", file=sys.stderr)
            return 1
        report = json.loads(report_file.read_text())
    packages = report["dependencies"]
    skipped = [package for package in packages if "skip_reason" in package]
    checked = [package for package in packages if "skip_reason" not in package]
    vulnerable = [package for package in checked if package["vulns"]]
    print(
        f"pip-audit checked {len(checked)} of {len(packages)} installed packages against PyPI's advisories: "
        f"{sum(len(package['vulns']) for package in vulnerable)} known vulnerabilities in {len(vulnerable)} packages, "
        f"{len(skipped)} packages skipped."
    )
    for package in vulnerable:
        for vuln in package["vulns"]:
            fixes = ", ".join(vuln["fix_versions"]) or "no fixed release yet"
            print(f"  {package['name']} {package['version']}: {vuln['id']} (fixed in {fixes})")
    for package in skipped[:5]:
        print(f"  skipped: {package['skip_reason']}")
    if len(skipped) > 5:
        print(f"  ... and {len(skipped) - 5} more skipped")
    if not checked:
        print("FAILED: no package was audited (is PyPI's JSON API reachable?); a run that audits none is no pass.")
        return 1
    if skipped and not options.allow_skipped:
        print("FAILED: some packages could not be audited (--allow-skipped lets that pass).")
        return 1
    return 1 if vulnerable else 0


if __name__ == "__main__":
    sys.exit(main())
