"""What every page a journey visits must be: titled, labelled, quiet in the console, complete, accessible,
and no wider than the screen.

PageHealth listens to the page from the moment it opens; `check()` asserts on the page shown now and on
everything that happened since the previous check.
"""

from dataclasses import dataclass, field

from axe_playwright_python.sync_playwright import Axe

# axe-core impacts that fail a page; "moderate" and "minor" findings are reported by axe but not blocking.
BLOCKING_IMPACTS = {"serious", "critical"}
_AXE = Axe()
# preload=False: axe would fetch the stylesheets itself and resolve their @imports against the page's URL,
# asking the portal for files that do not exist; the rules it needs them for concern device orientation.
AXE_OPTIONS = {"resultTypes": ["violations"], "preload": False}

# Form fields a person can reach with the keyboard and must be told the purpose of.
UNLABELLED_FIELDS = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(el => !['hidden', 'submit', 'button', 'reset', 'image'].includes(el.type))
  .filter(el => el.offsetParent !== null && !el.disabled)
  .filter(el => {
    const byFor = el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`);
    const named = el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') || el.title;
    return !(byFor || el.closest('label') || named);
  })
  .map(el => el.name || el.id || el.outerHTML.slice(0, 80))"""


@dataclass
class PageHealth:
    page: object
    origin: str
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.console_errors.append(f"uncaught: {error}"))
        self.page.on("requestfailed", self._request_failed)
        self.page.on("response", self._response)
        self._statuses: list[tuple[str, int]] = []

    def _console(self, message):
        if message.type == "error":
            self.console_errors.append(message.text)

    def _request_failed(self, request):
        # Aborted by the page itself, not failed: a download handed to Playwright (a "document"), a search
        # select2 cancels because the person typed on (an "xhr"), a job page's progress question cut short by
        # leaving the page (a "fetch"), or the icon of a page left at once (a sign-in that redirects on to the
        # code page).
        aborted = request.failure and "ERR_ABORTED" in request.failure
        if aborted and (request.resource_type in ("document", "xhr", "fetch") or "favicon" in request.url):
            return
        self.failed_requests.append(f"{request.method} {request.url}: {request.failure}")

    def _response(self, response):
        if response.url.startswith(self.origin):
            self._statuses.append((response.url, response.status))

    def check(self, *, expect_status: int | None = None) -> None:
        """Assert the page shown now is healthy; `expect_status` is the status the journey expects (404 ...)."""
        page = self.page
        # A click returns once the next page's answer has arrived, not once it is parsed: on a busy machine its
        # title was still empty here (seen in a full run at load 5).
        page.wait_for_load_state("load")
        where = page.url
        problems = []
        title = page.title().strip()
        if not title:
            problems.append("the page has no title")
        unlabelled = page.evaluate(UNLABELLED_FIELDS)
        if unlabelled:
            problems.append(f"fields without a label: {unlabelled}")
        too_wide = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        if too_wide > 0:
            problems.append(f"the page scrolls sideways by {too_wide}px at {page.viewport_size['width']}px")
        # A changelist's table scrolls inside its box: columns past the edge are as hidden as a wide page.
        clipped = page.evaluate(
            "() => { const t = document.querySelector('#result_list');"
            " return t ? t.scrollWidth - t.parentElement.clientWidth : 0; }"
        )
        if clipped > 0:
            problems.append(f"the list's columns run {clipped}px past its box at {page.viewport_size['width']}px")
        results = _AXE.run(page, options=AXE_OPTIONS)
        blocking = [
            f"{v['id']} ({v['impact']}): {v['help']} - {[node['target'] for node in v['nodes']][:3]}"
            for v in results.response["violations"]
            if v["impact"] in BLOCKING_IMPACTS
        ]
        problems += [f"axe: {line}" for line in blocking]
        bad = [(url, status) for url, status in self._statuses if status >= 400 and status != expect_status]
        problems += [f"{status} for {url}" for url, status in bad]
        # The browser reports the expected status of the page itself as a console error too.
        expected = f"status of {expect_status}" if expect_status else None
        problems += [f"console error: {text}" for text in self.console_errors if not (expected and expected in text)]
        problems += [f"request failed: {text}" for text in self.failed_requests]
        self.console_errors.clear()
        self.failed_requests.clear()
        self._statuses.clear()
        self.checked.append(where)
        assert not problems, f"{where} is not healthy:\n  " + "\n  ".join(problems)
