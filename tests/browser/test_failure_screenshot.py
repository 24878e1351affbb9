"""A failing click fails the suite and saves a screenshot of the page at that moment for the developer."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_failing_click_fails_with_a_screenshot_of_the_page(tmp_path):
    environment = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    environment.update(BROWSER_FAILURES_DIR=str(tmp_path), BROWSER_ACTION_TIMEOUT_MS="1500")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/browser/probe_failing_click.py"],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout[-2000:]
    assert 'get_by_role("button", name="Sign in")' in result.stdout
    shots = list(tmp_path.glob("*.png"))
    assert [shot.name for shot in shots] == ["tests_browser_probe_failing_click.py_test_clicks_a_renamed_button.png"]
    assert f"Screenshot of the page when the test failed: {shots[0]}" in result.stdout
    assert shots[0].read_bytes().startswith(b"\x89PNG") and shots[0].stat().st_size > 5_000
