"""Browser journeys: Playwright driving Debian's Chromium against Django's live server.

One browser per test worker; a fresh context (cookies, downloads) per test. Every page a journey visits
is checked for health (licensing tests/browser/health.py). When a test fails, a screenshot of the page at
that moment is saved under var/browser-failures/ and its path printed.
"""

import os
import re
import shutil
from pathlib import Path

import pytest
from django.core.servers.basehttp import WSGIServer
from django.test.testcases import LiveServerThread
from playwright.sync_api import sync_playwright

from tests.browser.health import PageHealth

ROOT = Path(__file__).resolve().parents[2]
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FAILURES = Path(os.environ.get("BROWSER_FAILURES_DIR", ROOT / "var" / "browser-failures"))
# The width the portal must fit without sideways scrolling (a common laptop screen).
VIEWPORT = {"width": 1366, "height": 900}
# A click on something that is not there fails in seconds, not after Playwright's default 30.
ACTION_TIMEOUT_MS = int(os.environ.get("BROWSER_ACTION_TIMEOUT_MS", "8000"))
# Flags for a sandboxed, offline machine: without them Chromium keeps trying to reach Google's services.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


class OneRequestAtATime(WSGIServer):
    """The live server answering one request at a time.

    With SQLite in memory, the server's request threads and the test share one connection; two requests
    at once (two autocomplete keystrokes on a slow machine) then begin a transaction inside another's
    ("cannot start a transaction within a transaction", a 500). Django closes each connection after its
    response on a server without threads, so the browser never waits on an idle keep-alive.
    """

    def __init__(self, *args, connections_override=None, **kwargs):
        # LiveServerThread.run installs the overrides in the server's own thread, where requests now run.
        super().__init__(*args, **kwargs)


LiveServerThread.server_class = OneRequestAtATime


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"No Chromium at {CHROMIUM}: `make test` installs Debian's chromium (or set CHROMIUM=/path).")
    # Once started, Playwright's sync API leaves an event loop registered in this thread for the rest of the
    # session; the ORM calls tests make here are still synchronous, which Django allows only when told so.
    previous = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    try:
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            yield launched
            launched.close()
    finally:
        if previous is None:
            os.environ.pop(ASYNC_UNSAFE, None)
        else:
            os.environ[ASYNC_UNSAFE] = previous


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser, live_server, request):
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True, base_url=live_server.url)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    page = context.new_page()
    page.health = PageHealth(page, origin=live_server.url)
    yield page
    failed = getattr(request.node, "report_call", None)
    if failed is not None and failed.failed:
        FAILURES.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)[-150:]
        shot = FAILURES / f"{name}.png"
        try:
            page.screenshot(path=str(shot), full_page=True)
            print(f"\nScreenshot of the page when the test failed: {shot}")
        except Exception as problem:  # a screenshot must never hide the real failure
            print(f"\nNo screenshot: {problem}")
    context.close()


@pytest.fixture
def screenshots(tmp_path):
    """Where journeys save their screenshots: docs/screenshots with `make screenshots`, else a temp folder."""
    target = os.environ.get("SCREENSHOTS_DIR")
    folder = Path(target) if target else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def pdf_first_page_png(pdf_path: Path, png_path: Path) -> Path:
    """The first page of a PDF as a PNG, drawn by poppler's pdftoppm (as a reader would see it)."""
    import subprocess

    if shutil.which("pdftoppm") is None:
        pytest.fail("pdftoppm is missing: `make test` installs Debian's poppler-utils.")
    stem = png_path.with_suffix("")
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(pdf_path), str(stem)],
                   check=True)  # fmt: skip
    return png_path
