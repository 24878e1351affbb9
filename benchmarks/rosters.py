"""Import a health system's rosters and reconcile them; record the figures in docs/benchmarks.md (issue 13 item 8).

    .venv/bin/python benchmarks/rosters.py                      # SQLite in a temporary file
    .venv/bin/python benchmarks/rosters.py --people 3000 --lines 20000 --no-docs
    .venv/bin/python benchmarks/rosters.py --database-url postgres://postgres@127.0.0.1:5432/postgres

One health system and four affiliates. A staff directory of 30,000 people (Workday, marked as the directory) and
15 application rosters (EHR access lists, billing and coding systems, ten at the system and one at each
affiliate... ) with 200,000 roster lines in all, as their systems export them: people listed twice under two
roles, interface service accounts, staff of an affiliate using the system's EHR, people working from India, people
no longer in the directory and front-desk logins.

In one child process (`--child`, DEBUG off), which reports its own time and peak resident memory (VmHWM):

1. the 16 files imported through licensing.imports.run, as the officer, exactly as the import page's confirm step
   and the import job do (the file read, every line checked, people found or added, lines written through the
   audited bulk path, the user count derived);
2. the reconciliation the organization's page shows, through its selectors (licensing.reconciliation_selectors):
   the rosters, the totals, the people's page count, every finding, the first page of people.

Requirement: steps 1 and 2 under 60 s together, peak memory under 500 MB. Then, in a second child process, the
reconciliation page itself through Django's test client, logged in as the officer: the first page, a later page
of people and a later page of a finding, each the median of 3 after a warm-up. Requirement: under 1 s each.

The database is fresh and migrated: a temporary SQLite file, or a PostgreSQL database created beside the one
named in the URL (named by --database-name, default bench_rosters_<date>_<random>) and dropped afterwards.
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from imports import NamedPostgresTarget, clean_up, machine_note, peak_resident_mb, rewrite_table  # noqa: E402 (benchmarks are scripts; the path is set just above)
from seed_scale import SQLiteTarget, analyze, database_label  # noqa: E402

DOCS = ROOT / "docs" / "benchmarks.md"
START_MARKER = "<!-- rosters-results:start -->"
END_MARKER = "<!-- rosters-results:end -->"
TABLE_HEADER = (
    "| Date | Database | Load (1 min) | Commit | People / rosters / lines | Import 16 rosters (s) | Reconcile (s) "
    "| Total (s) / peak MB | Page: first / later / finding (s) | Page queries |\n"
    "|---|---|---:|---|---|---:|---:|---|---|---:|"
)
BUDGET_SECONDS = 60
BUDGET_MB = 500
PAGE_BUDGET_SECONDS = 1.0
YEAR = 2026
TAKEN_ON = datetime.date(2026, 1, 15)
OFFICER = "bench-officer"
SYSTEM_SLUG = "bench-health"
AFFILIATES = 4
REASON = "Benchmark data"
HEADER = "Identifier,Name,E-mail,Entity,Country,Role"
ROLES = {
    "Physician": "a",
    "Nurse": "a",
    "Coder": "a",
    "Front desk": "b",
    "Scheduler": "b",
    "Finance analyst (reports)": "c",
    "IT service account": "none",
}
APPLICATION_ROLES = ["Physician", "Nurse", "Coder", "Front desk", "Scheduler", "Finance analyst (reports)"]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default="", help="postgres://... for PostgreSQL; empty for a temporary SQLite file"
    )
    parser.add_argument(
        "--database-name", default="", help="name of the PostgreSQL database to create (and drop) for the run"
    )
    parser.add_argument("--people", type=int, default=30_000, help="people in the directory (default 30,000)")
    parser.add_argument("--rosters", type=int, default=15, help="application rosters (default 15)")
    parser.add_argument("--lines", type=int, default=200_000, help="roster lines in all (default 200,000)")
    parser.add_argument("--no-docs", action="store_true", help="print the result only; leave docs/benchmarks.md alone")
    parser.add_argument("--child", metavar="JSON", help=argparse.SUPPRESS)
    return parser.parse_args()


# ---------------------------------------------------------------------------------------------
# The data
# ---------------------------------------------------------------------------------------------


def affiliate_slug(number: int) -> str:
    return f"{SYSTEM_SLUG}-{number}"


def application_name(number: int) -> str:
    return f"System {number:02d}"


def application_organization(number: int, rosters: int) -> str:
    # The last four applications are the affiliates' own; the rest (and the directory) are the system's.
    affiliate = number - (rosters - AFFILIATES) + 1
    return affiliate_slug(affiliate) if affiliate >= 1 else SYSTEM_SLUG


def build_system(rosters: int) -> None:
    """The system, its affiliates, the directory's and the rosters' applications with their role mappings, and the
    officer (a membership at the system covers the affiliates); written through the audited path."""
    from django.contrib.auth import get_user_model

    from licensing import services
    from licensing.models import Application, Organization
    from licensing.models.rosters import RoleMapping

    system = services.record_save(
        Organization(name="Benchmark Health", slug=SYSTEM_SLUG, kind="health_system", ein="301000000"),
        actor=None,
        reason=REASON,
    )
    affiliates = services.record_bulk_create(
        [
            Organization(
                name=f"Benchmark Clinic {number}",
                slug=affiliate_slug(number),
                kind="ambulatory_clinic",
                ein=f"30{1000000 + number:07d}",
                parent=system,
            )
            for number in range(1, AFFILIATES + 1)
        ],
        Organization,
        actor=None,
        reason=REASON,
    )
    by_slug = {organization.slug: organization for organization in [system, *affiliates]}
    applications = [
        Application(
            organization=by_slug[application_organization(number, rosters)],
            name=application_name(number),
            cpt_coverage=Application.Coverage.DIRECT,
            in_service_from=datetime.date(2015, 1, 1),
        )
        for number in range(rosters)
    ]
    applications.append(
        Application(
            organization=system,
            name="Workday",
            cpt_coverage=Application.Coverage.NO_CPT,
            in_service_from=datetime.date(2015, 1, 1),
        )
    )
    applications = services.record_bulk_create(applications, Application, actor=None, reason=REASON)
    mappings = [
        RoleMapping(
            application=application,
            role=role,
            kind=kind,
            explanation="Interface account, no person behind it" if kind == "none" else "",
        )
        for application in applications[:-1]
        for role, kind in ROLES.items()
    ]
    mappings.append(RoleMapping(application=applications[-1], role="Employee", kind="none", explanation="Directory"))
    services.record_bulk_create(mappings, RoleMapping, actor=None, reason=REASON)
    officer = get_user_model().objects.create_user(OFFICER, f"{OFFICER}@example.org", "benchmark-password")
    services.membership_grant(user=officer, organization=system, role="officer", actor=None)


def person_cells(index: int) -> list[str]:
    """The same person the same way on every file: every 50th employed by the first clinic, every 97th working
    from India, every 1,500th a front-desk login."""
    identifier = f"E{index:05d}"
    name = f"Front Desk {index}" if index % 1500 == 7 else f"Person {index:05d}"
    entity = affiliate_slug(1) if index % 50 == 3 else ""
    country = "IN" if index % 97 == 5 else "US"
    return [identifier, name, f"{identifier.lower()}@example.org", entity, country]


def plan_files(people: int, rosters: int, lines: int) -> list[dict]:
    """The directory and the application rosters as files: application, is_directory, CSV text."""
    files = [
        {
            "application": "Workday",
            "organization": SYSTEM_SLUG,
            "directory": True,
            "source": "Workday staff list",
            "rows": [",".join([*person_cells(index), "Employee"]) for index in range(people)],
        }
    ]
    remaining = lines - people
    # One in ten application-roster people is no longer in the directory (indexes past its end).
    pool = people + people // 10
    for number in range(rosters):
        size = remaining // rosters + (1 if number < remaining % rosters else 0)
        rows: list[str] = []
        step = 7 if pool % 7 else 11
        offset = number * 1999
        index = 0
        while len(rows) < size:
            if len(rows) % 1000 == 999:
                rows.append(f"svc-{number}-{len(rows)},Interface Engine {len(rows)},,,,IT service account")
                continue
            person = (offset + index * step) % pool
            role = APPLICATION_ROLES[(person + number) % len(APPLICATION_ROLES)]
            rows.append(",".join([*person_cells(person), role]))
            # Every 400th person is listed again under a second role (counted once).
            if index % 400 == 11 and len(rows) < size:
                rows.append(",".join([*person_cells(person), "Finance analyst (reports)"]))
            index += 1
        files.append(
            {
                "application": application_name(number),
                "organization": application_organization(number, rosters),
                "directory": False,
                "source": f"{application_name(number)} access list",
                "rows": rows,
            }
        )
    return files


def write_files(workdir: Path, plans: list[dict]) -> list[dict]:
    written = []
    for number, plan in enumerate(plans):
        path = workdir / f"roster-{number:02d}.csv"
        path.write_text("\n".join([HEADER, *plan.pop("rows")]) + "\n", encoding="utf-8")
        written.append(plan | {"file": str(path)})
    return written


# ---------------------------------------------------------------------------------------------
# The steps, each in a child process
# ---------------------------------------------------------------------------------------------


def import_and_reconcile(task: dict) -> dict:
    from django.contrib.auth import get_user_model

    from licensing import imports
    from licensing import reconciliation_selectors as selectors
    from licensing.models import Application, Organization

    officer = get_user_model().objects.get(username=OFFICER)
    applications = {
        (slug, name): pk for pk, slug, name in Application.objects.values_list("pk", "organization__slug", "name")
    }
    result: dict = {"imports": []}
    started = time.perf_counter()
    for plan in task["files"]:
        path = Path(plan["file"])
        began = time.perf_counter()
        record = imports.run(
            resource_name="rosters",
            file_name=path.name,
            content=path.read_bytes(),
            actor=officer,
            reason="Benchmark roster import",
            dry_run=False,
            parameters={
                "application": applications[plan["organization"], plan["application"]],
                "license_year": YEAR,
                "taken_on": TAKEN_ON.isoformat(),
                "source": plan["source"],
                "directory": plan["directory"],
            },
        )
        if record.outcome != "confirmed":
            raise SystemExit(f"{path.name} was not imported: {record.report['problems'][:3]}")
        result["imports"].append(time.perf_counter() - began)
    result["import_seconds"] = time.perf_counter() - started
    began = time.perf_counter()
    system = Organization.objects.get(slug=SYSTEM_SLUG)
    reconciliation = selectors.reconcile(system, YEAR, user=officer)
    read = selectors.overview(reconciliation)
    totals, found = read.totals, read.found
    people_page = selectors.page_of(read.keys, 1)
    rows = selectors.people(reconciliation, list(people_page.object_list))
    result["reconcile_seconds"] = time.perf_counter() - began
    result["seconds"] = time.perf_counter() - started
    result["people"] = totals.people
    result["users"] = totals.users
    result["pages"] = people_page.paginator.num_pages
    result["findings"] = {kind: len(keys) for kind, keys in found.items()}
    result["first_page_rows"] = len(rows)
    return result


def time_pages(task: dict) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from licensing.models import Organization

    client = Client()
    client.force_login(get_user_model().objects.get(username=OFFICER))
    base = reverse("admin:licensing_organization_reconcile", args=[Organization.objects.get(slug=SYSTEM_SLUG).pk])
    pages = {
        "first": f"{base}?year={YEAR}",
        "later": f"{base}?year={YEAR}&p={task['later_page']}",
        "finding": f"{base}?year={YEAR}&finding=left&fp=3",
    }
    result: dict = {}
    for name, url in pages.items():
        times = []
        for attempt in range(4):
            began = time.perf_counter()
            response = client.get(url)
            elapsed = time.perf_counter() - began
            if response.status_code != 200:
                raise SystemExit(f"{url} answered {response.status_code}")
            if attempt:
                times.append(elapsed)
        result[name] = statistics.median(times)
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        result[f"{name}_queries"] = len(queries)
    return result


def child(task: dict) -> None:
    """In the child: run one step and print its figures as the last line of JSON."""
    import django

    django.setup()
    result = import_and_reconcile(task) if task["step"] == "import" else time_pages(task)
    result["peak_mb"] = peak_resident_mb()
    print(json.dumps(result))


def run_child(env: dict, **task) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(task)]
    started = time.perf_counter()
    process = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, check=False)
    if process.returncode != 0:
        raise SystemExit(f"{task['step']} step failed: {process.stdout[-3000:]}")
    result = json.loads(process.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - started
    return result


def check_counts(files: list[dict]) -> dict:
    """Each application's derived count is the file's people, each once; the directory derives none."""
    from licensing import counting
    from licensing.models import UserCount
    from licensing.models.rosters import Roster, role_key

    kinds = {role_key(role): kind for role, kind in ROLES.items()}
    counts = {count.application.name: count for count in UserCount.objects.select_related("application")}
    assert "Workday" not in counts, "the directory roster derived a user count"
    assert Roster.objects.filter(is_directory=True).count() == 1
    for plan in files:
        if plan["directory"]:
            continue
        rows = Path(plan["file"]).read_text(encoding="utf-8").splitlines()[1:]
        tally = counting.tally_roster((row.split(",")[0].lower(), kinds[role_key(row.split(",")[-1])]) for row in rows)
        count = counts[plan["application"]]
        stored = (count.direct_users, count.program_users, count.output_users, count.excluded_users)
        assert stored == (tally.direct, tally.program, tally.output, tally.excluded), (plan["application"], stored)
    return {"counts": len(counts)}


# ---------------------------------------------------------------------------------------------
# The figures
# ---------------------------------------------------------------------------------------------


def commit() -> str:
    found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True)
    return found.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def table_row(result: dict) -> str:
    work, pages = result["work"], result["pages"]
    return (
        f"| {result['date']} | {result['database']} | {result['load']:.1f} | {result['commit']} "
        f"| {result['people']:,} / {result['rosters']} / {result['lines']:,} | {work['import_seconds']:.1f} "
        f"| {work['reconcile_seconds']:.1f} | {work['seconds']:.1f} / {work['peak_mb']:.0f} "
        f"| {pages['first']:.2f} / {pages['later']:.2f} / {pages['finding']:.2f} | {pages['first_queries']} |"
    )


def update_docs(result: dict) -> None:
    rewrite_table(
        DOCS,
        markers=(START_MARKER, END_MARKER),
        section="## Rosters: import and reconciliation\n\n"
        "`benchmarks/rosters.py` (issue 13 item 8): a 30,000-person directory and 15 application rosters, 200,000 "
        "roster lines in all, imported through `imports.run` as the officer and reconciled through the "
        "reconciliation page's selectors, in one child process (its wall time and peak resident memory); then the "
        "reconciliation page through the test client (median of 3 after a warm-up). Requirements: under "
        f"{BUDGET_SECONDS} s and {BUDGET_MB} MB; the page under {PAGE_BUDGET_SECONDS:g} s.\n\n",
        header=TABLE_HEADER,
        row=table_row(result),
        key_cells=(1, 4),
    )


def main():
    args = parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    if args.people < 1000 or args.rosters < AFFILIATES + 1 or args.lines < args.people + args.rosters * 1000:
        raise SystemExit(
            f"--people must be at least 1,000, --rosters at least {AFFILIATES + 1}, and --lines leave at least 1,000 "
            "lines for each application roster beside the directory"
        )
    url = args.database_url
    if url and not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("--database-url must be a postgres:// URL; leave it out for SQLite")
    target = NamedPostgresTarget(url, args.database_name) if url else SQLiteTarget()
    if url and not args.database_name:
        target.name = target.name.replace("bench_imports_", "bench_rosters_")
        target.url = target.url.replace("bench_imports_", "bench_rosters_")
    target.create()
    workdir = Path(tempfile.mkdtemp(prefix="rosters-bench-"))
    os.environ.update(
        {
            "DATABASE_URL": target.url,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            # Production-like: no query log kept in memory.
            "DEBUG": "False",
            "SECRET_KEY": os.environ.get("SECRET_KEY", "benchmark-only-secret-key-not-for-production-use-0123456789"),
        }
    )
    env = dict(os.environ)
    result: dict = {"people": args.people, "rosters": args.rosters, "lines": args.lines}
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        call_command("migrate", verbosity=0)
        database = database_label()
        build_system(args.rosters)
        files = write_files(workdir, plan_files(args.people, args.rosters, args.lines))
        analyze()
        connections.close_all()
        result["load"] = os.getloadavg()[0]
        print(f"{database}: importing {len(files)} rosters ({args.lines:,} lines) and reconciling ...", flush=True)
        result["work"] = run_child(env, step="import", files=files)
        result |= check_counts(files)
        analyze()
        connections.close_all()
        print(f"{database}: the reconciliation page ...", flush=True)
        result["pages"] = run_child(env, step="pages", later_page=max(1, result["work"]["pages"] * 2 // 3))
    finally:
        clean_up(target, workdir)

    result |= {
        "date": datetime.datetime.now(datetime.UTC).date().isoformat(),
        "database": database,
        "machine": machine_note(),
        "commit": commit(),
    }
    work, pages = result["work"], result["pages"]
    time_ok = work["seconds"] < BUDGET_SECONDS
    memory_ok = work["peak_mb"] < BUDGET_MB
    pages_ok = max(pages["first"], pages["later"], pages["finding"]) < PAGE_BUDGET_SECONDS
    slowest = sorted(work["imports"], reverse=True)[:3]
    print(
        f"{database} ({result['machine']}, load {result['load']:.1f}, commit {result['commit']}):\n"
        f"  import of {len(work['imports'])} rosters ({args.people:,} people in the directory, {args.lines:,} lines): "
        f"{work['import_seconds']:.1f} s (slowest {', '.join(f'{s:.1f}' for s in slowest)} s)\n"
        f"  reconciliation through the selectors: {work['reconcile_seconds']:.1f} s; {work['people']:,} distinct "
        f"people, {work['users']:,} users, {work['pages']:,} pages; findings {work['findings']}\n"
        f"  together {work['seconds']:.1f} s ({'within' if time_ok else 'OVER'} {BUDGET_SECONDS} s), peak "
        f"{work['peak_mb']:.0f} MB ({'within' if memory_ok else 'OVER'} {BUDGET_MB} MB)\n"
        f"  reconciliation page: first {pages['first']:.2f} s, a later page {pages['later']:.2f} s, a finding's "
        f"later page {pages['finding']:.2f} s ({'within' if pages_ok else 'OVER'} {PAGE_BUDGET_SECONDS:g} s); "
        f"{pages['first_queries']} queries"
    )
    if not args.no_docs:
        update_docs(result)
        print(f"Recorded in {DOCS.relative_to(ROOT)}")
    if not (time_ok and memory_ok and pages_ok):
        sys.exit(1)


if __name__ == "__main__":
    main()
