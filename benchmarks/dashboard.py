"""Time the dashboard (the admin index) and the position-filtered application list at scale; record the figures.

    .venv/bin/python benchmarks/dashboard.py                    # SQLite in a temporary file
    .venv/bin/python benchmarks/dashboard.py --database-url postgres://postgres@127.0.0.1:5432/postgres
    .venv/bin/python benchmarks/dashboard.py --no-docs --profile --slowest 8

The data is `seed_demo --scale 10000` (the Riverbend demo and 10,000 benchmark organizations, three
applications each, counts and licenses for last year and this year), run in a child process on a fresh
database: a temporary SQLite file, or a PostgreSQL database created beside the one named in the URL and
dropped afterwards. Then an officer is given memberships at exactly 1,000 of the benchmark organizations
(one audited bulk insert and one group sync, what 1,000 `services.membership_grant` calls would leave),
and the tables are analyzed (ANALYZE; VACUUM ANALYZE on PostgreSQL).

The timed steps run in a child process of their own, production-like (DEBUG off), through Django's test
client (the whole middleware stack, sessions included), logged in with force_login; each page is requested
once to warm up, then `--repeat` times (default 7), and the median is kept; one more request counts the
queries (CaptureQueriesContext). Beside the wall time, each request's CPU time is taken: this process's
(the view, the templates and, on SQLite, the database engine) plus, on PostgreSQL, the server backend's
(from /proc, when the server runs on this machine), which a busy machine inflates far less:

1. GET /admin/ as the officer (1,000 organizations). Requirement: median under 500 ms.
2. GET /admin/ as the demo superuser (every organization, 10,000 and the demo's). Requirement: under 2 s.
3. GET /admin/licensing/application/?position=under_licensed&year=<current year> as the superuser.
   Requirement: under 1 s.
4. The same list with position=needs_action (under-licensed, unlicensed or not counted). Requirement: under 1 s.

Exit status 1 when a budget is missed. `--profile` prints a pyinstrument profile of each page; `--slowest N`
the N slowest queries of each page with their times.
"""

import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from seed_scale import PostgresTarget, SQLiteTarget, analyze, database_label, production_like, run_seed  # noqa: E402 (the path is set above)

DOCS = ROOT / "docs" / "benchmarks.md"
SECTION_TITLE = "## Dashboard and position-filtered lists"
START_MARKER = "<!-- dashboard-results:start -->"
END_MARKER = "<!-- dashboard-results:end -->"
TABLE_HEADER = (
    "| Date | Database | Load (1 min) | Organizations: officer / superuser "
    "| Dashboard, officer: median / CPU (ms) / queries | Dashboard, superuser: median / CPU (ms) / queries "
    "| Under-licensed list: median / CPU (ms) / rows | Needs-action list: median / CPU (ms) / rows |\n"
    "|---|---|---:|---|---:|---:|---:|---:|"
)
# The requirements (medians, 2-core benchmark machine).
OFFICER_BUDGET_MS = 500
SUPERUSER_BUDGET_MS = 2000
LIST_BUDGET_MS = 1000
OFFICER = "bench-dashboard-officer"
REASON = "Benchmark data"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default="", help="postgres://... for PostgreSQL; empty for a temporary SQLite file"
    )
    parser.add_argument("--orgs", type=int, default=10_000, help="benchmark organizations to seed (default 10,000)")
    parser.add_argument(
        "--officer-orgs", type=int, default=1000, help="organizations the officer's memberships cover (default 1,000)"
    )
    parser.add_argument("--repeat", type=int, default=7, help="timed requests per page after the warm-up (default 7)")
    parser.add_argument("--no-docs", action="store_true", help="print the result only; leave docs/benchmarks.md alone")
    parser.add_argument("--profile", action="store_true", help="print a pyinstrument profile of each page")
    parser.add_argument("--slowest", type=int, default=0, metavar="N", help="print each page's N slowest queries")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards and print its URL")
    parser.add_argument(
        "--existing", default="", metavar="URL", help="measure a database a --keep run left (no build, no drop)"
    )
    parser.add_argument("--child", metavar="JSON", help=argparse.SUPPRESS)
    return parser.parse_args()


# ---------------------------------------------------------------------------------------------
# The data
# ---------------------------------------------------------------------------------------------


def add_officer(organizations: int) -> None:
    """An officer with memberships at the first `organizations` benchmark organizations (top level, no affiliates).

    The memberships go in as one audited bulk insert (a history row each) and the groups are synced once:
    what `services.membership_grant` would leave after 1,000 calls, without 1,000 group syncs.
    """
    from django.contrib.auth import get_user_model

    from licensing import access, demo, services
    from licensing.models import Membership, Organization

    admin = get_user_model().objects.get(username=demo.ADMIN_LOGIN.username)
    officer = get_user_model().objects.create_user(OFFICER, f"{OFFICER}@example.org", "benchmark-password")
    chosen = list(Organization.objects.filter(slug__startswith=demo.SCALE_SLUG_PREFIX).order_by("slug")[:organizations])
    if len(chosen) != organizations:
        raise SystemExit(f"only {len(chosen)} benchmark organizations on file, {organizations} wanted")
    memberships = [Membership(user=officer, organization=item, role=Membership.Role.OFFICER) for item in chosen]
    services.record_bulk_create(memberships, Membership, actor=admin, reason=REASON)
    services.membership_sync_groups(user=officer)
    officer.refresh_from_db()
    seen = access.organizations(officer, access.VIEW).count()
    if seen != organizations or not officer.is_staff:
        raise SystemExit(f"the officer sees {seen} organizations (staff: {officer.is_staff}), not {organizations}")


# ---------------------------------------------------------------------------------------------
# The timed steps, in a child process
# ---------------------------------------------------------------------------------------------


def database_cpu_ms() -> float | None:
    """CPU milliseconds used so far by this connection's PostgreSQL backend, when it runs on this machine
    (None for SQLite, which runs in this process, or a server elsewhere)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    connection.ensure_connection()
    process = Path(f"/proc/{connection.connection.info.backend_pid}")
    try:
        if (process / "comm").read_text().strip() != "postgres":
            return None
        # Fields 14 and 15 of /proc/<pid>/stat (utime, stime), counted after the command name.
        fields = (process / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def timed(client, url: str, repeat: int) -> tuple[list[float], list[float | None]]:
    """Wall milliseconds of each of `repeat` requests after one warm-up, and the CPU milliseconds each used:
    this process's (the view, the template, SQLite) plus the PostgreSQL backend's when it can be read. On a
    shared machine wall time rises with the load; CPU time much less."""
    times: list[float] = []
    cpu: list[float | None] = []
    for attempt in range(repeat + 1):
        database_before = database_cpu_ms()
        started, cpu_started = time.perf_counter(), time.process_time()
        response = client.get(url)
        elapsed, own = (time.perf_counter() - started) * 1000, (time.process_time() - cpu_started) * 1000
        database_after = database_cpu_ms()
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}: {response.content[:300]!r}")
        if attempt:
            times.append(elapsed)
            if database_before is None and database_after is None:
                cpu.append(own)
            elif database_before is not None and database_after is not None:
                cpu.append(own + database_after - database_before)
            else:
                cpu.append(None)
    return times, cpu


def queries_of(client, url: str, slowest: int) -> tuple[int, str]:
    """The queries of one request, and (with `slowest`) the slowest of them as text."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.status_code
    text = ""
    if slowest:
        ranked = sorted(captured.captured_queries, key=lambda query: -float(query["time"]))[:slowest]
        total = sum(float(query["time"]) for query in captured.captured_queries)
        text = f"    queries: {len(captured)}, {total * 1000:.0f} ms in the database\n" + "".join(
            f"    {float(query['time']) * 1000:7.1f} ms  {query['sql'][:400]}\n" for query in ranked
        )
    return len(captured), text


def profile_of(client, url: str) -> str:
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.001)
    profiler.start()
    client.get(url)
    profiler.stop()
    return profiler.output_text(unicode=True, show_all=False)


def measure(task: dict) -> dict:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    from licensing import access, demo, overview, standing
    from licensing.choices import Position
    from licensing.models import Application, Organization

    year = standing.current_license_year()
    users = get_user_model().objects
    officer, admin = users.get(username=OFFICER), users.get(username=demo.ADMIN_LOGIN.username)
    officer_client, admin_client = Client(), Client()
    officer_client.force_login(officer)
    admin_client.force_login(admin)
    pages = {
        "officer": (officer_client, "/admin/"),
        "superuser": (admin_client, "/admin/"),
        "under_licensed": (admin_client, f"/admin/licensing/application/?position=under_licensed&year={year}"),
        "needs_action": (admin_client, f"/admin/licensing/application/?position=needs_action&year={year}"),
    }
    result: dict = {
        "year": year,
        "officer_orgs": access.organizations(officer, access.VIEW).count(),
        "superuser_orgs": Organization.objects.count(),
        "under_licensed_rows": overview.filter_position(
            Application.objects.all(), year, Position.UNDER_LICENSED
        ).count(),
        "needs_action_rows": overview.filter_position(Application.objects.all(), year, overview.NEEDS_ACTION).count(),
    }
    # The benchmark machine is shared: the load beside the measurement explains slow runs.
    result["load"] = os.getloadavg()[0]
    details = []
    for name, (client, url) in pages.items():
        times, cpu = timed(client, url, task["repeat"])
        result[name] = statistics.median(times)
        result[f"{name}_times"] = times
        known = [value for value in cpu if value is not None]
        result[f"{name}_cpu"] = statistics.median(known) if len(known) == len(cpu) else None
        result[f"{name}_queries"], slow = queries_of(client, url, task["slowest"])
        if slow:
            details.append(f"  {name} ({url}):\n{slow}")
        if task["profile"]:
            details.append(f"  profile of {name} ({url}):\n{profile_of(client, url)}")
    result["details"] = "".join(details)
    return result


def run_child(env: dict, **task) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(task)]
    process = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, check=False)
    if process.returncode != 0:
        raise SystemExit(f"the timed steps failed: {process.stdout[-3000:]}")
    return json.loads(process.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# The figures
# ---------------------------------------------------------------------------------------------


def verdicts(result: dict) -> dict[str, bool]:
    return {
        "officer": result["officer"] < OFFICER_BUDGET_MS,
        "superuser": result["superuser"] < SUPERUSER_BUDGET_MS,
        "under_licensed": result["under_licensed"] < LIST_BUDGET_MS,
        "needs_action": result["needs_action"] < LIST_BUDGET_MS,
    }


def cpu_text(result: dict, name: str) -> str:
    return "-" if result[f"{name}_cpu"] is None else f"{result[f'{name}_cpu']:.0f}"


def table_row(result: dict) -> str:
    return (
        f"| {result['date']} | {result['database']} | {result['load']:.1f} "
        f"| {result['officer_orgs']:,} / {result['superuser_orgs']:,} "
        f"| {result['officer']:.0f} / {cpu_text(result, 'officer')} / {result['officer_queries']} "
        f"| {result['superuser']:.0f} / {cpu_text(result, 'superuser')} / {result['superuser_queries']} "
        f"| {result['under_licensed']:.0f} / {cpu_text(result, 'under_licensed')} / {result['under_licensed_rows']:,} "
        f"| {result['needs_action']:.0f} / {cpu_text(result, 'needs_action')} / {result['needs_action_rows']:,} |"
    )


SECTION = f"""{SECTION_TITLE}

The dashboard is the admin index (`/admin/`, `licensing/admin/dashboard_page.py`): the figures of
`licensing.dashboard` (positions from `licensing.overview`, due dates from `licensing.attention`), the
year's royalty, the under-licensed systems with their true-up cost, the three-year forecast, the
chargemaster summary and two charts, all over the person's organizations. `benchmarks/dashboard.py` runs
`seed_demo --scale 10000` on a fresh database (about 10,000 organizations and 30,000 applications, counts
and licenses for last year and this year), gives an officer memberships at exactly 1,000 of the benchmark
organizations, analyzes the tables, and then, in a child process with `DEBUG` off, requests each page
through Django's test client (logged in with `force_login`) once to warm up and 7 times more, keeping the
median; one more request counts the queries:

- the dashboard as the officer (1,000 organizations). Requirement: under 500 ms;
- the dashboard as the demo superuser (every organization). Requirement: under 2 s;
- the application list filtered by position for the current year, as the superuser:
  `?position=under_licensed&year=YYYY` and `?position=needs_action&year=YYYY` (under-licensed, unlicensed
  or not counted). Requirement: under 1 s. Rows is the number of applications the filter selects (the
  scale data has almost no under-licensed systems, so the needs-action list is the one with many rows).

Beside each median (wall clock) the table gives the median CPU time of a request: this process's (view,
templates and, on SQLite, the database engine) plus the PostgreSQL backend's (read from /proc). The
benchmark machine is shared; with other work running the wall time rises well above the CPU time, which
is close to what the page takes on an idle machine.

`tests/test_dashboard.py` asserts that the dashboard takes the same number of queries at two sizes.

Run it (a few minutes each, most of it the seed):

```sh
.venv/bin/python benchmarks/dashboard.py
.venv/bin/python benchmarks/dashboard.py --database-url postgres://postgres@127.0.0.1:5432/postgres
```

The script rewrites the table below (one row per database, newest run wins); the load is the 1-minute
load average when the timed steps start. `--profile` prints a pyinstrument profile of each page and
`--slowest N` its N slowest queries.

{START_MARKER}
{END_MARKER}
"""


def update_docs(result: dict) -> None:
    """Rewrite the results table between the markers: one row per database, newest run wins."""
    text = DOCS.read_text()
    if START_MARKER not in text:
        text = text.rstrip("\n") + "\n\n" + SECTION
    head, rest = text.split(START_MARKER, 1)
    body, tail = rest.split(END_MARKER, 1)
    rows = [line for line in body.splitlines() if line.startswith("| ") and not line.startswith("| Date")]

    def key_of(row):
        return row.strip("|").split("|")[1].strip()

    rows = [row for row in rows if key_of(row) != result["database"]]
    rows.append(table_row(result))
    rows.sort(key=key_of)
    DOCS.write_text(f"{head}{START_MARKER}\n{TABLE_HEADER}\n" + "\n".join(rows) + f"\n{END_MARKER}{tail}")


class DashboardPostgresTarget(PostgresTarget):
    def __init__(self, server_url: str):
        from urllib.parse import urlsplit, urlunsplit

        super().__init__(server_url)
        self.name = self.name.replace("bench_seed_", "bench_dashboard_")
        self.url = urlunsplit(urlsplit(server_url)._replace(path=f"/{self.name}"))


def main() -> int:
    args = parse_args()
    if args.child:
        print(json.dumps(measure(json.loads(args.child))))
        return 0
    if not 1 <= args.officer_orgs <= args.orgs:
        raise SystemExit("--officer-orgs must be between 1 and --orgs")
    url = args.database_url
    if url and not re.match(r"^postgres(ql)?://", url):
        raise SystemExit("--database-url must be a postgres:// URL; leave it out for SQLite")
    target = None if args.existing else DashboardPostgresTarget(url) if url else SQLiteTarget()
    if target is not None:
        target.create()
    database_url = args.existing or target.url
    env = production_like(database_url, allowed_hosts="testserver")
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        database = database_label()
        if not args.existing:
            call_command("migrate", verbosity=0)
            connections.close_all()
            print(f"{database}: seed_demo --scale {args.orgs} ...", flush=True)
            seed_seconds, _, _ = run_seed(args.orgs, env)
            print(f"{database}: seeded in {seed_seconds:.0f} s; an officer of {args.officer_orgs:,} ...", flush=True)
            add_officer(args.officer_orgs)
            analyze()
            connections.close_all()
        print(f"{database}: timing the pages ...", flush=True)
        result = run_child(env, repeat=args.repeat, profile=args.profile, slowest=args.slowest)
    finally:
        from django.db import connections

        connections.close_all()
        if target is not None and args.keep:
            print(f"Kept the database: {target.url}")
        elif target is not None:
            target.drop()

    result |= {"date": datetime.datetime.now(datetime.UTC).date().isoformat(), "database": database}
    met = verdicts(result)

    def line(name: str, title: str, budget: int) -> str:
        times = ", ".join(f"{ms:.0f}" for ms in result[f"{name}_times"])
        verdict = "within" if met[name] else "OVER"
        return (
            f"  {title}: median {result[name]:.0f} ms ({verdict} {budget:,} ms), CPU {cpu_text(result, name)} ms, "
            f"{result[f'{name}_queries']} queries ({times})\n"
        )

    print(
        f"{database}, load {result['load']:.1f}, license year {result['year']}:\n"
        + line("officer", f"dashboard, officer of {result['officer_orgs']:,} organizations", OFFICER_BUDGET_MS)
        + line("superuser", f"dashboard, superuser ({result['superuser_orgs']:,} organizations)", SUPERUSER_BUDGET_MS)
        + line("under_licensed", f"under-licensed list ({result['under_licensed_rows']:,} rows)", LIST_BUDGET_MS)
        + line("needs_action", f"needs-action list ({result['needs_action_rows']:,} rows)", LIST_BUDGET_MS)
        + result["details"],
        end="",
    )
    if not args.no_docs:
        update_docs(result)
        print(f"Recorded in {DOCS.relative_to(ROOT)}")
    return 0 if all(met.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
