"""The portal under load: gunicorn on PostgreSQL, 50 officers driven by locust; errors, lost writes, p50/p95.

    .venv/bin/python benchmarks/load.py                       # make load: seed, 50 officers for 60 s, record
    .venv/bin/python benchmarks/load.py --users 10 --duration 15 --no-docs --keep
    .venv/bin/python benchmarks/load.py --existing postgres://postgres@127.0.0.1:5432/bench_load_... --no-docs

1. A fresh PostgreSQL database beside the one the URL names (dropped afterwards unless --keep):
   `seed_demo --scale N` (benchmarks/seed_scale.py; 10,000 organizations by default), then --officers
   compliance officers (`services.membership_grant`): officer i is a member of benchmark organization i; every
   fifth officer also of the next officer's organization (so two officers sometimes save the same record),
   and every tenth of one more organization of its own. Each organization gets a draft filing for this year
   (`services.filing_prepare`) for the PDF preview, which renders it into the cache as it does for an officer.
   VACUUM ANALYZE. The server's cache is a Redis database (--cache-url, CACHE_URL as in production), emptied
   first; a run on an --existing database renders its drafts into it again, as they were when prepared.
2. gunicorn (`portal.wsgi`, --workers, DEBUG off, static files collected and served by whitenoise) on a
   loopback port, pinned to one core with `taskset`; locust headless (benchmarks/load_locust.py) pinned to the
   other, --users officers spawned at --spawn-rate per second, for --duration seconds. Both are stopped by a
   hard timeout if they do not end by themselves.
3. The checks: no 5xx answer (4xx are reported apart); every save the load tool made is in the history
   exactly once with its value when it was saved, never when it was refused; no history row beyond those
   saves; each (record, field)'s final value is the one of its last save (a save based on a stale form
   that overwrote someone else's edit shows up here as a lost write; a save refused as stale is correct).
4. The figures: requests per second, p50/p95 per page kind (locust's stats CSV), `uptime` before and after;
   recorded in docs/benchmarks.md ("Under load"), newest run wins. Exit status 1 when a check fails.

The load average is part of the result: on a shared machine the figures say as much about the neighbours as
about the portal.
"""

import argparse
import csv
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from seed_scale import PostgresTarget, analyze, database_label, production_like, run_seed  # noqa: E402 (the path is set above)

DOCS = ROOT / "docs" / "benchmarks.md"
BIN = Path(sys.executable).parent
SECTION_TITLE = "## Under load"
START_MARKER = "<!-- load-results:start -->"
END_MARKER = "<!-- load-results:end -->"
OFFICER_PREFIX = "bench-load-officer-"
# Long enough for Django's password validators; the same for every simulated officer.
OFFICER_PASSWORD = "load-benchmark-harbor-2026"  # noqa: S105 (benchmark accounts in a throwaway database)
REASON = "Load benchmark set-up"
P95_BUDGET_MS = 1000
# Seconds the officers have to sign in before the measured run starts regardless.
SIGN_IN_TIMEOUT = 240
# Server, then load generator.
CORES = ("0", "1")


def add_run_arguments(parser, *, officers: int, users: int, duration: int, workers: int, port: int) -> None:
    """The arguments load.py and scale.py share: the database, the officers, the run, where the figures go."""
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="the PostgreSQL server (a fresh database is created beside the one named)",
    )
    parser.add_argument("--orgs", type=int, default=10_000, help="benchmark organizations to seed (default 10,000)")
    parser.add_argument("--officers", type=int, default=officers, help=f"officer accounts (default {officers})")
    parser.add_argument("--users", type=int, default=users, help=f"simulated officers at once (default {users})")
    parser.add_argument("--spawn-rate", type=float, default=5, help="officers started per second (default 5)")
    parser.add_argument("--duration", type=int, default=duration, help=f"seconds of load (default {duration})")
    parser.add_argument("--workers", type=int, default=workers, help=f"gunicorn workers (default {workers})")
    parser.add_argument("--port", type=int, default=port, help=f"loopback port for gunicorn (default {port})")
    parser.add_argument("--no-docs", action="store_true", help="print the result only; leave docs/benchmarks.md alone")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards and print its URL")
    parser.add_argument("--existing", default="", metavar="URL", help="load a database a --keep run left (no seed)")
    parser.add_argument(
        "--squeeze",
        type=int,
        default=0,
        metavar="PERCENT",
        help="a busy process on the server's core taking about this share of it, as a busy host would (default 0)",
    )
    parser.add_argument(
        "--cache-url",
        default="redis://127.0.0.1:6379/8",
        help="the shared Redis cache of the server, as in production (CACHE_URL); emptied first (default %(default)s)",
    )


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(parser, officers=50, users=50, duration=60, workers=3, port=8731)
    return parser.parse_args()


# ---------------------------------------------------------------------------------------------
# The data
# ---------------------------------------------------------------------------------------------


def officer_organizations(officers: int) -> list[list[int]]:
    """For each officer, the numbers of the benchmark organizations they are a member of (1-based)."""
    plan = []
    for index in range(officers):
        numbers = [index + 1]
        if index % 5 == 0 and index + 1 < officers:
            numbers.append(index + 2)  # shared with the next officer
        if index % 10 == 3:
            numbers.append(officers + index + 1)  # a second one of its own
        plan.append(numbers)
    return plan


def add_officers(officers: int) -> None:
    """Officer accounts with real passwords (the login form is part of the load), their memberships, and a
    draft filing for this year at each of their organizations; what an administrator would set up."""
    from django.contrib.auth import get_user_model

    from licensing import demo, services, standing
    from licensing.models import Membership, Organization

    admin = get_user_model().objects.get(username=demo.ADMIN_LOGIN.username)
    year = standing.current_license_year()
    by_number = {
        int(org.slug.removeprefix(demo.SCALE_SLUG_PREFIX)): org
        for org in Organization.objects.filter(slug__startswith=demo.SCALE_SLUG_PREFIX).order_by("slug")[
            : 2 * officers + 1
        ]
    }
    prepared = set()
    for index, numbers in enumerate(officer_organizations(officers)):
        username = f"{OFFICER_PREFIX}{index + 1:02d}"
        user = get_user_model().objects.create_user(
            username, f"{username}@example.org", OFFICER_PASSWORD, first_name="Load", last_name=f"Officer {index + 1}"
        )
        for number in numbers:
            organization = by_number[number]
            services.membership_grant(
                user=user, organization=organization, role=Membership.Role.OFFICER, actor=admin, reason=REASON
            )
            if organization.pk not in prepared:
                services.filing_prepare(organization=organization, license_year=year, actor=admin, reason=REASON)
                prepared.add(organization.pk)


def empty_cache(url: str) -> None:
    """Empty the server's Redis cache database (only that one), so no run starts with what an earlier one left."""
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).flushdb()
    except redis.exceptions.ConnectionError:
        raise SystemExit(f"no Redis answers at {url} (--cache-url)") from None


def render_prepared_drafts() -> None:
    """The benchmark's drafts rendered into the emptied cache, as `services.filing_prepare` had them when made."""
    from licensing import tasks
    from licensing.models import Filing

    drafts = Filing.objects.filter(
        organization__memberships__user__username__startswith=OFFICER_PREFIX, status=Filing.Status.DRAFT
    )
    for filing_id in drafts.values_list("pk", flat=True).distinct():
        tasks.render_draft_preview(filing_id)


def plan_of(officers: int) -> dict:
    """What the load tool needs: each officer's login and the ids of their organizations' records."""
    from django.contrib.auth import get_user_model

    from licensing import access, standing
    from licensing.models import Filing, License, UserCount

    result = {"year": standing.current_license_year(), "officers": []}
    users = get_user_model().objects.filter(username__startswith=OFFICER_PREFIX).order_by("username")[:officers]
    for user in users:
        organizations = []
        for organization in access.organizations(user, access.CHANGE).order_by("pk"):
            filing = Filing.objects.filter(organization=organization).order_by("-pk").values_list("pk", flat=True)
            organizations.append(
                {
                    "id": organization.pk,
                    "usercount": list(
                        UserCount.objects.filter(application__organization=organization).values_list("pk", flat=True)
                    ),
                    "license": list(
                        License.objects.filter(application__organization=organization).values_list("pk", flat=True)
                    ),
                    "filing": filing.first(),
                }
            )
        login = {"username": user.username, "password": OFFICER_PASSWORD}
        result["officers"].append({**login, "organizations": organizations})
    if len(result["officers"]) != officers or not all(item["organizations"] for item in result["officers"]):
        raise SystemExit(f"expected {officers} officers with organizations, found {len(result['officers'])}")
    return result


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def load_average() -> float:
    return os.getloadavg()[0]


def cpu_seconds(pids) -> float:
    """User and system CPU seconds used so far by these processes (those that still exist)."""
    total = 0
    for pid in pids:
        try:
            # Fields 14 and 15 of /proc/<pid>/stat (utime, stime), counted after the command name.
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def group_pids(group: int) -> list[int]:
    """The processes of one process group (gunicorn's master and workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2]) == group:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def backend_pids() -> list[int]:
    """The PostgreSQL backends connected to the benchmark's database (the server runs on this machine)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [row[0] for row in cursor.fetchall()]


class BackendWatch(threading.Thread):
    """Samples the CPU of the database's backends every second: gunicorn's connections are replaced after
    CONN_MAX_AGE, so the backends alive at the end have not done all the work."""

    def __init__(self):
        super().__init__(daemon=True)
        self.seen: dict[int, float] = {}
        self.done = threading.Event()
        self.start()

    def run(self):
        from django.db import connection

        try:
            while not self.done.wait(1):
                for pid in backend_pids():
                    self.seen[pid] = max(self.seen.get(pid, 0.0), cpu_seconds([pid]))
        finally:
            connection.close()

    def stop(self) -> float:
        self.done.set()
        self.join(timeout=10)
        return sum(self.seen.values())


class CpuWatch(threading.Thread):
    """Samples the CPU seconds of gunicorn's and locust's process groups twice a second, so the share of each core
    during the measured run alone (sign-in excluded) can be read off afterwards (`share`)."""

    def __init__(self, groups: dict[str, int]):
        super().__init__(daemon=True)
        self.groups = groups
        self.samples: list[tuple[float, dict[str, float]]] = []
        self.done = threading.Event()
        self.start()

    def run(self):
        while True:
            self.samples.append(
                (time.time(), {name: cpu_seconds(group_pids(pid)) for name, pid in self.groups.items()})
            )
            if self.done.wait(0.5):
                return

    def stop(self) -> None:
        self.done.set()
        self.join(timeout=10)

    def share(self, name: str, start: float | None, end: float | None) -> float | None:
        """Share of one core `name` used from `start` to `end` (epoch seconds): first and last sample between them."""
        inside = [(at, cpu[name]) for at, cpu in self.samples if start and end and start <= at <= end]
        if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
            return None
        return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def start_squeeze(percent: int, core: str | None) -> subprocess.Popen | None:
    """A process on `core` that is busy `percent` of every 100 ms and asleep the rest: the server's core shared
    with a neighbour, as a virtual machine's is when the host is busy. None for 0."""
    if not percent:
        return None
    busy, idle = percent / 1000, (100 - percent) / 1000
    loop = (
        "import time\n"
        "while True:\n"
        f"    end = time.monotonic() + {busy}\n"
        "    while time.monotonic() < end: pass\n"
        f"    time.sleep({idle})\n"
    )
    return subprocess.Popen(pinned(core) + [sys.executable, "-c", loop], start_new_session=True)


def wait_until_up(port: int, server: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode} before answering")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=5) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise SystemExit(f"gunicorn did not answer on 127.0.0.1:{port} within {seconds:.0f} s")


def stop(process: subprocess.Popen, grace: float = 10) -> None:
    """End a process this script started, and its children (its own process group), by its id."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace)
    except ProcessLookupError:
        pass


def server_environment(env: dict, work: Path) -> dict:
    """The app server's settings (DEBUG off, loopback only) with its static files collected into `work`."""
    server_env = {
        **env,
        "DEBUG": "False",
        "STATIC_ROOT": str(work / "static"),
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=server_env,
        check=True,
    )
    return server_env


def pinned(core: str | None) -> list[str]:
    """The `taskset` prefix that keeps a command on one core; none when `core` is None."""
    return ["taskset", "-c", core] if core is not None else []


def start_gunicorn(port: int, workers: int, server_env: dict, log, core: str | None) -> subprocess.Popen:
    """gunicorn in its own process group (so `stop` ends its workers too), its output into `log`."""
    return subprocess.Popen(
        pinned(core)
        + [str(BIN / "gunicorn"), "portal.wsgi:application"]
        + ["--config", str(ROOT / "benchmarks" / "load_gunicorn.py")]
        + ["--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--timeout", "60"],
        cwd=ROOT,
        env=server_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def locust_limit(duration: float) -> float:
    """Seconds after which a locust run is ended regardless: spawning, the run, the stop timeout, a margin."""
    return SIGN_IN_TIMEOUT + duration + 90


def start_locust(args, env: dict, work: Path, core: str | None, *, hold: float = 0, extra_env=None):
    """Locust headless on the plan in `work` (plan.json), writing results.json and the stats CSVs there.

    `hold`: seconds the measured run may be held open past --duration (load_locust.py's LOAD_HOLD_FILE).
    """
    return subprocess.Popen(
        pinned(core)
        + [str(BIN / "locust"), "-f", str(ROOT / "benchmarks" / "load_locust.py")]
        + ["--headless", "--only-summary", "--users", str(args.users), "--spawn-rate", str(args.spawn_rate)]
        + ["--run-time", f"{SIGN_IN_TIMEOUT + args.duration + hold + 30:.0f}s", "--stop-timeout", "15"]
        + ["--host", f"http://127.0.0.1:{args.port}"]
        + ["--csv", str(work / "stats"), "--loglevel", "WARNING"],
        cwd=ROOT,
        env={
            **env,
            "LOAD_PLAN": str(work / "plan.json"),
            "LOAD_RESULTS": str(work / "results.json"),
            "LOAD_USERS": str(args.users),
            "LOAD_DURATION": str(args.duration),
            "LOAD_SIGN_IN_TIMEOUT": str(SIGN_IN_TIMEOUT),
            **(extra_env or {}),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def finish_locust(locust: subprocess.Popen, limit: float) -> str:
    """Wait for locust to end by itself within `limit` seconds, else stop it (the caller stops the servers)."""
    try:
        output, _ = locust.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        stop(locust)
        raise SystemExit("locust did not finish within its hard timeout; stopped it and the servers") from None
    finally:
        stop(locust)
    return output


def locust_result(work: Path, output: str) -> dict:
    """What load_locust.py wrote (saves, statuses, sign-in times) and locust's per-page stats."""
    results_file = work / "results.json"
    if not results_file.exists():
        raise SystemExit(f"locust wrote no results:\n{output[-3000:]}")
    result = {"locust_output": output, **json.loads(results_file.read_text())}
    result["stats"] = read_stats(work / "stats_stats.csv")
    return result


def run_load(args, env: dict, plan: dict, work: Path) -> dict:
    """Start gunicorn and locust on their own cores, let locust run, stop both; what locust reported."""
    from django.db import connections

    (work / "plan.json").write_text(json.dumps(plan))
    server_env = server_environment(env, work)
    server_log = open(work / "gunicorn.log", "w")
    server = start_gunicorn(args.port, args.workers, server_env, server_log, CORES[0])
    result: dict = {}
    try:
        wait_until_up(args.port, server)
        result["uptime_before"], result["load_before"] = uptime(), load_average()
        server_cpu = cpu_seconds(group_pids(server.pid))
        wall = time.monotonic()
        backends = BackendWatch()
        squeeze = start_squeeze(args.squeeze, CORES[0])
        locust = start_locust(args, env, work, CORES[1])
        watched = {"gunicorn": server.pid, "locust": locust.pid} | ({"squeeze": squeeze.pid} if squeeze else {})
        cores = CpuWatch(watched)
        try:
            output = finish_locust(locust, locust_limit(args.duration))
        finally:
            if squeeze is not None:
                stop(squeeze)
        cores.stop()
        result["uptime_after"], result["load_after"] = uptime(), load_average()
        result["server_cpu"] = cpu_seconds(group_pids(server.pid)) - server_cpu
        result["database_cpu"] = backends.stop()
        result["wall"] = time.monotonic() - wall
        connections.close_all()
    finally:
        stop(server)
        server_log.close()
    result |= locust_result(work, output)
    measured = result.get("measured_from"), result.get("measured_to")
    result["measured_cpu"] = {name: cores.share(name, *measured) for name in watched}
    result["server_errors_logged"] = (work / "gunicorn.log").read_text().count("Traceback")
    return result


def read_stats(path: Path) -> list[dict]:
    """Locust's per-request-name rows (and the Aggregated row last)."""

    def number(text: str) -> float:
        return float(text) if text not in ("", "N/A") else 0.0

    rows = []
    with path.open() as stats:
        for row in csv.DictReader(stats):
            if not int(row["Request Count"]):
                continue
            rows.append(
                {
                    "name": row["Name"],
                    "requests": int(row["Request Count"]),
                    "failures": int(row["Failure Count"]),
                    "p50": number(row["50%"]),
                    "p95": number(row["95%"]),
                    "max": number(row["Max Response Time"]),
                    "rps": number(row["Requests/s"]),
                }
            )
    return rows


# ---------------------------------------------------------------------------------------------
# The write check
# ---------------------------------------------------------------------------------------------


def check_writes(writes: list[dict], since: float) -> dict:
    """Compare what the load tool saved with the rows and history rows the database holds now."""
    from licensing.models import License, UserCount

    models = {"usercount": UserCount, "license": License}
    problems: list[str] = []
    outcomes: dict[str, int] = {}
    for write in writes:
        outcomes[write["outcome"]] = outcomes.get(write["outcome"], 0) + 1
    since_time = datetime.datetime.fromtimestamp(since, tz=datetime.UTC)
    records: dict[tuple[str, int], list[dict]] = {}
    for write in writes:
        records.setdefault((write["model"], write["pk"]), []).append(write)
    for (model_name, pk), record_writes in records.items():
        model = models[model_name]
        history = list(model.history.filter(id=pk, history_date__gte=since_time).order_by("history_date", "history_id"))
        saved = [write for write in record_writes if write["outcome"] == "saved"]
        # Cut off by the end of the run without an answer: in the database at most once, either way correct.
        unanswered = [write for write in record_writes if write["outcome"] == "sent"]
        # Exactly one history row per save: none missing, none doubled, none from a refused save.
        if not len(saved) <= len(history) <= len(saved) + len(unanswered):
            problems.append(f"{model_name} {pk}: {len(saved)} saves but {len(history)} history rows since the start")
        for write in record_writes:
            # Each save's reason is its own, so its history row is the one carrying that reason.
            rows = [row for row in history if row.history_change_reason == write["reason"]]
            if write["outcome"] == "saved" and len(rows) != 1:
                problems.append(f"{model_name} {pk}: a save is in the history {len(rows)} times ({write['reason']})")
            elif write["outcome"] == "sent" and len(rows) > 1:
                problems.append(f"{model_name} {pk}: an unanswered save is in the history {len(rows)} times")
            elif write["outcome"] not in ("saved", "sent") and rows:
                problems.append(f"{model_name} {pk}: a refused save ({write['outcome']}) was written")
            if rows and getattr(rows[0], write["field"]) != write["value"]:
                problems.append(f"{model_name} {pk}: the history row of {write['reason']} lacks its value")
        current = model.objects.get(pk=pk)
        for field in {write["field"] for write in saved}:
            field_saves = [write for write in saved + unanswered if write["field"] == field]

            def finished(write):
                return write["finished"] or float("inf")

            # The last save is one that no other save started after the end of: overlapping saves may land in
            # either order, so any save not followed by a later one may be the final value.
            candidates = [w for w in field_saves if not any(o["started"] > finished(w) for o in field_saves)]
            if getattr(current, field) not in {write["value"] for write in candidates}:
                problems.append(
                    f"{model_name} {pk} {field}: lost write, the record holds {getattr(current, field)!r} "
                    f"instead of the last save {candidates[-1]['value']!r}"
                )
    return {
        "writes": len(writes),
        "records": len(records),
        "outcomes": outcomes,
        "problems": problems,
        "refusals": sorted({write["detail"] for write in writes if write["outcome"] != "saved"})[:10],
    }


# ---------------------------------------------------------------------------------------------
# The figures
# ---------------------------------------------------------------------------------------------


def percentile(values: list[float], percent: float) -> float:
    """Nearest-rank percentile of sorted values (0 for none)."""
    if not values:
        return 0.0
    return values[min(len(values) - 1, max(0, round(percent / 100 * len(values) + 0.5) - 1))]


def status_totals(statuses: dict[str, dict[str, int]]) -> dict[str, int]:
    totals = {"2xx/3xx": 0, "4xx": 0, "5xx": 0, "no answer": 0}
    for counts in statuses.values():
        for status, number in counts.items():
            if status.isdigit() and int(status) >= 500:
                totals["5xx"] += number
            elif status.isdigit() and int(status) >= 400:
                totals["4xx"] += number
            elif status.isdigit():
                totals["2xx/3xx"] += number
            else:
                totals["no answer"] += number
    return totals


def by_kind(statuses: dict[str, dict[str, int]], low: int, high: int) -> str:
    parts = []
    for name, counts in sorted(statuses.items()):
        number = sum(n for status, n in counts.items() if status.isdigit() and low <= int(status) < high)
        if number:
            codes = ", ".join(f"{s}x{n}" for s, n in counts.items() if s.isdigit() and low <= int(s) < high)
            parts.append(f"{name} ({codes})")
    return "; ".join(parts) or "none"


def summary(result: dict) -> str:
    pages = [row for row in result["stats"] if row["name"] != "Aggregated"]
    total = next(row for row in result["stats"] if row["name"] == "Aggregated")
    width = max(len(row["name"]) for row in pages)
    lines = [
        f"{result['database']}, {result['orgs']:,} organizations, {result['users']} officers for "
        f"{result['duration']} s, {result['workers']} gunicorn workers (core {CORES[0]}), locust on core {CORES[1]}"
        + (
            f", a busy neighbour taking {result['squeeze']}% of core {CORES[0]} (--squeeze)"
            if result["squeeze"]
            else ""
        ),
        f"  before: {result['uptime_before']}",
        f"  after:  {result['uptime_after']}",
        f"  {'page':<{width}}  requests    p50 ms    p95 ms    max ms",
    ]
    for row in sorted(pages, key=lambda row: -row["p95"]):
        flag = "  OVER 1 s" if row["p95"] >= P95_BUDGET_MS else ""
        lines.append(
            f"  {row['name']:<{width}}  {row['requests']:8}  {row['p50']:8.0f}  {row['p95']:8.0f}"
            f"  {row['max']:8.0f}{flag}"
        )
    totals, checked = result["totals"], result["check"]
    verdict = f"{len(checked['problems'])} PROBLEMS" if checked["problems"] else "OK (none lost, none doubled)"
    lines += [
        f"  all: {total['requests']:,} requests, {total['rps']:.1f} per second, p50 {total['p50']:.0f} ms, "
        f"p95 {total['p95']:.0f} ms",
        f"  CPU over the whole locust run ({result['wall']:.0f} s, sign-in included): "
        f"gunicorn {result['server_cpu']:.0f} s "
        f"({100 * result['server_cpu'] / result['wall']:.0f}% of its core), PostgreSQL backends "
        f"{result['database_cpu']:.1f} s",
        f"  CPU during the measured run: {measured_cpu(result)}",
        f"  answers: {totals['2xx/3xx']:,} 2xx/3xx, {totals['4xx']} 4xx, {totals['5xx']} 5xx, "
        f"{totals['no answer']} without answer; tracebacks in the server log: {result['server_errors_logged']}",
        f"  4xx: {by_kind(result['statuses'], 400, 500)}",
        f"  5xx: {by_kind(result['statuses'], 500, 600)}",
        f"  writes: {checked['writes']} saves of {checked['records']} records: "
        + ", ".join(f"{n} {outcome}" for outcome, n in sorted(checked["outcomes"].items()))
        + f"; check: {verdict}",
    ]
    sign_in = result["sign_in"]
    lines.insert(
        3,
        f"  sign-in: {result['signed_in']} officers in {result['sign_in_seconds'] or 0:.0f} s "
        f"({result['failed_sign_ins']} failed); login form p50/p95 {percentile(sign_in.get('login form', []), 50):.0f}"
        f"/{percentile(sign_in.get('login form', []), 95):.0f} ms, login "
        f"{percentile(sign_in.get('login', []), 50):.0f}/{percentile(sign_in.get('login', []), 95):.0f} ms "
        "(before the measured run)",
    )
    lines += [f"    {problem}" for problem in checked["problems"][:20]]
    lines += [f"    refused: {detail}" for detail in checked["refusals"] if detail]
    return "\n".join(lines)


def measured_cpu(result: dict) -> str:
    """Each core's use by its process while the officers worked (sign-in excluded), e.g. "gunicorn 62%, locust 35%"."""
    shares = result.get("measured_cpu") or {}
    return ", ".join(
        f"{name} {share:.0%}" if share is not None else f"{name} not sampled" for name, share in shares.items()
    )


def passed(result: dict) -> bool:
    return (
        not result["check"]["problems"]
        and result["totals"]["5xx"] == 0
        and result["totals"]["no answer"] == 0
        and result["server_errors_logged"] == 0
    )


TABLE_HEADER = (
    "| Date | Database | Load before / after (1 min) | Officers / workers | Requests / per s | p50 / p95, all (ms) "
    "| 5xx / 4xx | Saves: saved / refused as stale / refused / unanswered at the end | Write check | Slowest p95 (ms) "
    "| Sign-in: s / login p95 (ms) | gunicorn CPU (% of its core) |\n"
    "|---|---|---|---|---:|---:|---|---|---|---|---|---:|"
)
PAGES_HEADER = "| Page | Requests | p50 (ms) | p95 (ms) | Max (ms) |\n|---|---:|---:|---:|---:|"


def table_row(result: dict) -> str:
    total = next(row for row in result["stats"] if row["name"] == "Aggregated")
    slowest = max((row for row in result["stats"] if row["name"] != "Aggregated"), key=lambda row: row["p95"])
    outcomes = result["check"]["outcomes"]
    refused = sum(n for outcome, n in outcomes.items() if outcome not in ("saved", "stale", "sent"))
    check = "OK" if not result["check"]["problems"] else f"{len(result['check']['problems'])} problems"
    return (
        f"| {result['date']} | {result['database']} | {result['load_before']:.1f} / {result['load_after']:.1f} "
        f"| {result['users']} / {result['workers']} | {total['requests']:,} / {total['rps']:.1f} "
        f"| {total['p50']:.0f} / {total['p95']:.0f} | {result['totals']['5xx']} / {result['totals']['4xx']} "
        f"| {outcomes.get('saved', 0)} / {outcomes.get('stale', 0)} / {refused} / {outcomes.get('sent', 0)} | {check} "
        f"| {slowest['name']} {slowest['p95']:.0f} "
        f"| {result['sign_in_seconds'] or 0:.0f} / {percentile(result['sign_in'].get('login', []), 95):.0f} "
        f"| {100 * result['server_cpu'] / result['wall']:.0f} |"
    )


def pages_table(result: dict) -> str:
    rows = sorted((row for row in result["stats"] if row["name"] != "Aggregated"), key=lambda row: row["name"])
    return (
        PAGES_HEADER
        + "\n"
        + "\n".join(
            f"| {row['name']} | {row['requests']:,} | {row['p50']:.0f} | {row['p95']:.0f} | {row['max']:.0f} |"
            for row in rows
        )
    )


SECTION = f"""{SECTION_TITLE}

See `benchmarks/load.py` for what it does; the section's text is kept by hand, the tables by the script.

{START_MARKER}
{END_MARKER}
"""


def update_docs(result: dict) -> None:
    """Rewrite the results between the markers: the summary row (one per database, newest wins) and the
    per-page table of the newest run."""
    text = DOCS.read_text()
    if START_MARKER not in text:
        text = text.rstrip("\n") + "\n\n" + SECTION
    head, rest = text.split(START_MARKER, 1)
    body, tail = rest.split(END_MARKER, 1)
    rows = [line for line in body.split("\n\n")[0].splitlines() if line.startswith("| 2")]

    def key_of(row):
        return row.strip("|").split("|")[1].strip()

    rows = [row for row in rows if key_of(row) != result["database"]] + [table_row(result)]
    rows.sort(key=key_of)
    pages = (
        f"Per page, newest run ({result['date']}, {result['database']}, load {result['load_before']:.1f} before and "
        f"{result['load_after']:.1f} after; locust's stats, times in ms):\n\n{pages_table(result)}"
    )
    DOCS.write_text(f"{head}{START_MARKER}\n{TABLE_HEADER}\n" + "\n".join(rows) + f"\n\n{pages}\n{END_MARKER}{tail}")


class LoadPostgresTarget(PostgresTarget):
    def __init__(self, server_url: str):
        super().__init__(server_url)
        self.name = self.name.replace("bench_seed_", "bench_load_")
        self.url = urlunsplit(urlsplit(server_url)._replace(path=f"/{self.name}"))


def main() -> int:
    args = parse_args()
    if args.users < 1 or args.officers < 1 or 2 * args.officers >= args.orgs:
        raise SystemExit("--users and --officers must be at least 1, and --orgs more than twice --officers")
    if not 0 <= args.squeeze < 100:
        raise SystemExit("--squeeze is a share of the server's core in percent, from 0 to 99")
    if args.squeeze and not args.no_docs:
        raise SystemExit("a --squeeze run is an experiment, not the recorded figures: add --no-docs")
    url = args.existing or args.database_url
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("the load benchmark runs on PostgreSQL: give a postgres:// URL")
    target = None if args.existing else LoadPostgresTarget(url)
    if target is not None:
        target.create()
    database_url = args.existing or target.url
    os.environ["CACHE_URL"] = args.cache_url
    env = production_like(database_url, allowed_hosts="127.0.0.1,testserver")
    empty_cache(args.cache_url)
    try:
        import django

        django.setup()
        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from django.db import connections

        database = database_label()
        if not args.existing:
            call_command("migrate", verbosity=0)
            connections.close_all()
            print(f"{database}: seed_demo --scale {args.orgs} ...", flush=True)
            seed_seconds, _, _ = run_seed(args.orgs, env)
            print(f"{database}: seeded in {seed_seconds:.0f} s", flush=True)
        if not get_user_model().objects.filter(username__startswith=OFFICER_PREFIX).exists():
            print(f"{database}: {args.officers} officers, their memberships and draft filings ...", flush=True)
            add_officers(args.officers)
            analyze()
        else:
            render_prepared_drafts()
        plan = plan_of(args.officers)
        connections.close_all()
        with tempfile.TemporaryDirectory(prefix="load-") as work:
            print(f"{database}: {args.users} officers for {args.duration} s ...", flush=True)
            started = time.time()
            result = run_load(args, env, plan, Path(work))
        result["check"] = check_writes(result["writes"], since=started)
        connections.close_all()
    finally:
        from django.db import connections

        connections.close_all()
        if target is not None and args.keep:
            print(f"Kept the database: {target.url}")
        elif target is not None:
            target.drop()

    result |= {
        "date": datetime.datetime.now(datetime.UTC).date().isoformat(),
        "database": database,
        "orgs": args.orgs,
        "users": args.users,
        "duration": args.duration,
        "workers": args.workers,
        "squeeze": args.squeeze,
        "totals": status_totals(result["statuses"]),
    }
    print(summary(result))
    if not args.no_docs:
        update_docs(result)
        print(f"Recorded in {DOCS.relative_to(ROOT)}")
    return 0 if passed(result) else 1


if __name__ == "__main__":
    sys.exit(main())
