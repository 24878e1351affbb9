"""The locust user of benchmarks/load.py: one compliance officer working through the admin.

Run by load.py (`locust -f benchmarks/load_locust.py --headless ...`), never on its own: it reads the plan
load.py wrote (LOAD_PLAN: each officer's login and the ids of their organizations' records) and writes what
it did (LOAD_RESULTS: every save with its record, field, value, times and outcome, the status of every answer
per page kind, and the sign-in times). Each simulated officer signs in through the real login form, then
waits until all have; then locust's statistics are reset and the officers work for LOAD_DURATION seconds,
each touching only the records of its own organizations. Saves post every field of the change form as the
page rendered it (hidden fields, the CSRF token and any record version included), one value changed, with
a reason.

For benchmarks/scale.py, optionally: LOAD_MEASURING_FILE is written when the measured run starts (so jobs can
be started beside it), the run is held open past LOAD_DURATION while LOAD_HOLD_FILE exists (until the jobs end),
and every measured request's end time and duration are in the results (p95 over any part of the run).
"""

import itertools
import json
import os
import random
import time
from collections import Counter, defaultdict

import gevent
from gevent.event import Event
from load_forms import form_fields
from locust import HttpUser, between, events, task

PLAN = json.loads(open(os.environ["LOAD_PLAN"]).read()) if os.environ.get("LOAD_PLAN") else {"officers": []}
RESULTS = os.environ.get("LOAD_RESULTS", "")
USERS = int(os.environ.get("LOAD_USERS", "1"))
DURATION = float(os.environ.get("LOAD_DURATION", "60"))
# Signing in 50 officers at once costs 50 password hashes; the measured run starts when all are in.
SIGN_IN_TIMEOUT = float(os.environ.get("LOAD_SIGN_IN_TIMEOUT", "240"))
MEASURING_FILE = os.environ.get("LOAD_MEASURING_FILE", "")
HOLD_FILE = os.environ.get("LOAD_HOLD_FILE", "")
# Seeded so that two runs make the same choices; nothing here is a secret.
pick = random.Random(2026)  # noqa: S311 (choosing pages to visit, not a secret)
# Officers are handed out in order, one per simulated user; more users than officers reuse them.
_officers = itertools.cycle(PLAN["officers"] or [{}])
_signed_in = Event()
_state = {"first_sign_in": None, "signed_in": 0, "failed_sign_ins": 0, "sign_in_seconds": None}
_state |= {"measured_from": None, "measured_to": None}
_sign_in_times: dict[str, list[float]] = defaultdict(list)
_writes: list[dict] = []
_statuses: dict[str, Counter] = defaultdict(Counter)
# (name, end time, milliseconds, status) of each request of the measured run.
_requests: list[tuple[str, float, float, str]] = []
# Words of a refusal because someone else saved the record first (the optimistic version check).
STALE_WORDS = ("someone else", "changed since", "was changed by", "since you opened", "changed it while")
YEAR = PLAN.get("year", 0)
# Seconds an officer reads a page before the next click (the shortest and longest pause).
PAUSE = (2, 8)
LIST_FILTERS = {
    "applications": ["", f"?year={YEAR}", f"?position=needs_action&year={YEAR}", "?q=Billing"],
    "usercount": ["", f"?license_year={YEAR}", "?method__exact=counted", f"?position=needs_action&year={YEAR}"],
    "license": ["", "?status__exact=active", f"?license_year={YEAR}", "?route__exact=direct"],
    "organization": ["", "?kind__exact=hospital", f"?year={YEAR}", "?q=Benchmark"],
}


@events.request.add_listener
def _count_status(name, response, exception, response_time=None, **kwargs):
    if _state["measured_from"] is None and response_time is not None:
        _sign_in_times[name].append(response_time)
    status = getattr(response, "status_code", None) if response is not None else None
    _statuses[name][str(status or f"error: {type(exception).__name__}")] += 1
    if _state["measured_from"] is not None and response_time is not None:
        _requests.append((name, time.time(), response_time, str(status or "none")))


@events.test_stop.add_listener
def _write_results(**kwargs):
    if RESULTS:
        with open(RESULTS, "w") as output:
            json.dump(
                {
                    "writes": _writes,
                    "statuses": {name: dict(counts) for name, counts in _statuses.items()},
                    "sign_in": {name: sorted(times) for name, times in _sign_in_times.items()},
                    "requests": _requests,
                    **_state,
                },
                output,
            )


def _all_signed_in(environment):
    """Start the measured run: statistics from zero, everyone released, the end scheduled."""
    _state["measured_from"] = time.time()
    _state["sign_in_seconds"] = _state["measured_from"] - _state["first_sign_in"]
    environment.runner.stats.reset_all()
    _signed_in.set()
    if MEASURING_FILE:
        with open(MEASURING_FILE, "w") as marker:
            marker.write(str(_state["measured_from"]))

    def finish():
        while HOLD_FILE and os.path.exists(HOLD_FILE):
            gevent.sleep(0.5)
        _state["measured_to"] = time.time()
        # Graceful: each officer finishes the task it is in (--stop-timeout), so no save is cut off unrecorded.
        environment.runner.quit()

    gevent.spawn_later(DURATION, finish)


class Officer(HttpUser):
    # A person reads a page before the next click.
    wait_time = between(*PAUSE)

    def on_start(self):
        self.officer = next(_officers)
        _state["first_sign_in"] = _state["first_sign_in"] or time.time()
        self.sequence = 0
        self.logged_in = False
        self.log_in(first=True)
        _state["signed_in" if self.logged_in else "failed_sign_ins"] += 1
        if _state["signed_in"] + _state["failed_sign_ins"] == USERS and not _signed_in.is_set():
            _all_signed_in(self.environment)
        if not _signed_in.wait(SIGN_IN_TIMEOUT) and not _signed_in.is_set():
            _all_signed_in(self.environment)
        # Officers working independently do not click at the same instant: each first click comes after a
        # part of a reading pause (0 to PAUSE[1] s), as in the steady state, not all 50 at the release (a
        # burst no real population makes, which a 60-second run would otherwise measure as its slowest tenth).
        gevent.sleep(pick.uniform(0, PAUSE[1]))

    def log_in(self, first: bool = False):
        page = self.client.get("/admin/login/?next=/admin/", name="login form")
        fields = dict(form_fields(page.text, "login-form"))
        fields.update(username=self.officer["username"], password=self.officer["password"])
        with self.client.post(
            "/admin/login/?next=/admin/", data=fields, name="login", allow_redirects=False, catch_response=True
        ) as answer:
            if answer.status_code == 302 and "sessionid" in self.client.cookies:
                self.logged_in = True
                answer.success()
            else:
                answer.failure(f"login refused ({answer.status_code})")
        if self.logged_in and not first:
            self.client.get("/admin/", name="dashboard")

    def page(self, url: str, name: str):
        with self.client.get(url, name=name, catch_response=True) as answer:
            if answer.status_code == 200 and "/admin/login/" in answer.url:
                answer.failure("signed out")
                self.logged_in = False
            return answer

    def organization(self) -> dict:
        return pick.choice(self.officer["organizations"])

    @task(2)
    def changelist(self):
        model = pick.choice(list(LIST_FILTERS))
        path = "application" if model == "applications" else model
        label = {"applications": "applications", "usercount": "user counts", "license": "licenses"}.get(
            model, "organizations"
        )
        self.page(f"/admin/licensing/{path}/{pick.choice(LIST_FILTERS[model])}", f"list: {label}")

    @task(1)
    def dashboard(self):
        self.page("/admin/", "dashboard")

    @task(2)
    def organization_page(self):
        self.page(f"/admin/licensing/organization/{self.organization()['id']}/change/", "organization page")

    @task(2)
    def audit_trail(self):
        self.page(f"/admin/licensing/organization/{self.organization()['id']}/audit-trail/", "audit trail")

    @task(1)
    def prepare_filing(self):
        self.page(f"/admin/licensing/organization/{self.organization()['id']}/prepare-filing/", "prepare filing")

    @task(1)
    def filing_pdf(self):
        organization = self.organization()
        if organization.get("filing"):
            self.page(f"/admin/licensing/filing/{organization['filing']}/pdf/", "filing PDF")

    @task(3)
    def save_count(self):
        self.save("usercount", "user count", pick.choice(["evidence", "counted_by"]))

    @task(2)
    def save_license(self):
        self.save("license", "license", "notes")

    def save(self, model: str, label: str, field: str):
        """GET the change page, post back every field it rendered with `field` changed and a reason."""
        if not self.logged_in:
            return self.log_in()
        records = self.organization()[model]
        if not records:
            return None
        pk = pick.choice(records)
        url = f"/admin/licensing/{model}/{pk}/change/"
        page = self.page(url, f"{label}: change page")
        if page.status_code != 200:
            return None
        fields = [(name, value) for name, value in form_fields(page.text, f"{model}_form") if name != field]
        self.sequence += 1
        value = f"load {self.officer['username']} #{self.sequence} {time.time():.6f}"
        # The reason names the save: its history row is found by it.
        reason = f"Load benchmark: {self.officer['username']} save #{self.sequence}"
        fields += [(field, value), ("change_reason", reason), ("_continue", "1")]
        # Recorded before it is sent: a save cut off without an answer stays "sent" (it may or may not be in).
        write = {"model": model, "pk": pk, "field": field, "value": value, "reason": reason}
        write |= {"started": time.time(), "outcome": "sent"}
        write |= {"finished": None, "officer": self.officer["username"], "detail": ""}
        _writes.append(write)
        with self.client.post(url, data=fields, name=f"{label}: save", allow_redirects=False, catch_response=True) as r:
            write["finished"] = time.time()
            if r.status_code == 302:
                write["outcome"] = "saved"
                r.success()
            elif r.status_code == 200:
                text = r.text.lower()
                write["outcome"] = "stale" if any(words in text for words in STALE_WORDS) else "refused"
                write["detail"] = _errors_of(r.text)
                # A refusal is a correct answer (the page says why); the write check proves nothing was written.
                r.success()
            else:
                write["outcome"] = f"error {r.status_code}"
        return None


def _errors_of(html: str) -> str:
    """The first error lines of a re-displayed form, for the report."""
    import re

    found = re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', html, flags=re.S)
    text = " | ".join(re.sub(r"<[^>]+>", " ", item).strip() for item in found)
    return " ".join(text.split())[:300]
