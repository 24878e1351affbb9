"""Time imports and exports through the management commands and record the figures in docs/benchmarks.md.

    .venv/bin/python benchmarks/imports.py                      # SQLite in a temporary file
    .venv/bin/python benchmarks/imports.py --rows 10000 --no-docs
    .venv/bin/python benchmarks/imports.py --database-url postgres://postgres@127.0.0.1:5432/postgres

The data is one health system as a compliance officer of a large one would keep it: the system and 49
affiliates (hospitals and clinics), 100 CPT applications each (5,000 in all), and ten license years of
user counts (2017-2026) to load from one spreadsheet: 50,000 rows, counted head by head or, for the
ambulatory EHRs, estimated with the User Proxy Model. The officer's one membership, at the system, covers
every affiliate, so scoping reaches all 50 organizations. (50,000 applications with one year each would
make a system no officer keeps; ten years of history is what a first import into the portal loads.)

Steps 1 to 5 run in a child process each (`--child`, DEBUG off), which reports its own time and peak resident
memory (VmHWM):

1. `services.record_bulk_create` of the same 50,000 UserCount rows, history included, built in memory and
   rolled back afterwards: the floor an import cannot beat.
2. `manage.py import_data user-counts` of the 50,000-row CSV as the officer (every row read, validated,
   scoped, reported; history rows stamped with the import's id). Requirement: under 30 s and 500 MB, and
   within 3x of step 1 (the ratio is the command's own time over record_bulk_create's).
3. The same file again: nothing written, no history row, faster than step 2.
4. The file with 5,000 rows changed: exactly 5,000 history rows.
5. `manage.py export_data user-counts` of the 50,000 rows (CSV, streamed to a file); peak resident memory,
   and, in a second run under tracemalloc, peak Python memory.
6. `imports.run(dry_run=True)` of a 5,000-row file of new counts, in this process: what the admin's upload
   step does before showing the preview (the median of 3).

The database is fresh and migrated: a temporary SQLite file, or a PostgreSQL database created beside the
one named in the URL (named by --database-name, default bench_imports_<date>_<random>) and dropped afterwards.
"""

import argparse
import csv
import datetime
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from seed_scale import PostgresTarget, SQLiteTarget, analyze, database_label  # noqa: E402 (benchmarks are scripts; the path is set just above)

DOCS = ROOT / "docs" / "benchmarks.md"
START_MARKER = "<!-- imports-results:start -->"
END_MARKER = "<!-- imports-results:end -->"
TABLE_HEADER = (
    "| Date | Database | Load (1 min) | Rows | record_bulk_create (s) | Import: command (s) / process (s) / peak MB "
    "| Ratio to record_bulk_create | Re-import unchanged (s) | Update 5,000 rows (s) | Export CSV (s) / peak MB "
    "/ Python MB | Dry run, 5,000 rows (s) |\n"
    "|---|---|---:|---:|---:|---|---:|---:|---:|---|---:|"
)
IMPORT_BUDGET_SECONDS = 30
IMPORT_BUDGET_MB = 500
RATIO_BUDGET = 3.0
ORGANIZATIONS = 50
YEARS = list(range(2017, 2027))
TODAY = datetime.datetime.now(datetime.UTC).date()
OFFICER = "bench-officer"
SYSTEM_SLUG = "bench-health"
REASON = "Benchmark data"
CATEGORIES = ["ambulatory_ehr", "billing_rcm", "coding", "chargemaster", "analytics", "lab_radiology"]
HEADER = [
    "Organization",
    "System name",
    "License year",
    "Method",
    "(a) access CPT directly",
    "(b) produce output with it",
    "(c) use its output",
    "Base metric",
    "Base metric value",
    "Source of the value",
    "Proxy factor",
    "Counted on",
    "Counted by",
    "Evidence",
]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default="", help="postgres://... for PostgreSQL; empty for a temporary SQLite file"
    )
    parser.add_argument(
        "--database-name", default="", help="name of the PostgreSQL database to create (and drop) for the run"
    )
    parser.add_argument("--rows", type=int, default=50_000, help="rows in the import file (default 50,000)")
    parser.add_argument("--no-docs", action="store_true", help="print the result only; leave docs/benchmarks.md alone")
    parser.add_argument("--verify", action="store_true", help="also check every hash chain after the imports")
    parser.add_argument("--child", metavar="JSON", help=argparse.SUPPRESS)
    return parser.parse_args()


# ---------------------------------------------------------------------------------------------
# The data
# ---------------------------------------------------------------------------------------------


def organization_slug(number: int) -> str:
    return SYSTEM_SLUG if number == 0 else f"{SYSTEM_SLUG}-{number:02d}"


def application_name(number: int) -> str:
    return f"System {number:03d}"


def build_system() -> None:
    """The health system, its 49 affiliates and 5,000 applications, written through the audited bulk path."""
    from django.contrib.auth import get_user_model

    from licensing import services
    from licensing.models import Application, DataFile, Organization

    system = services.record_save(
        Organization(
            name="Benchmark Health",
            slug=SYSTEM_SLUG,
            kind="health_system",
            ein="201000000",
            city="Springfield",
            state="IL",
        ),
        actor=None,
        reason=REASON,
    )
    affiliates = [
        Organization(
            name=f"Benchmark Health {'Hospital' if number % 3 else 'Clinic'} {number:02d}",
            slug=organization_slug(number),
            kind="hospital" if number % 3 else "ambulatory_clinic",
            ein=f"20{1000000 + number:07d}",
            parent=system,
            city="Springfield",
            state="IL",
        )
        for number in range(1, ORGANIZATIONS)
    ]
    services.record_bulk_create(affiliates, Organization, actor=None, reason=REASON)
    standard = DataFile.objects.get(code="cpt-standard")
    applications = [
        Application(
            organization=organization,
            name=application_name(number),
            category=CATEGORIES[number % len(CATEGORIES)],
            cpt_coverage="direct",
            in_service_from=datetime.date(2015, 1, 1),
        )
        for organization in [system, *affiliates]
        for number in range(100)
    ]
    services.record_bulk_create(
        applications, Application, actor=None, reason=REASON, m2m={"data_files": [[standard.pk]] * len(applications)}
    )
    officer = get_user_model().objects.create_user(OFFICER, f"{OFFICER}@example.org", "benchmark-password")
    services.membership_grant(user=officer, organization=system, role="officer", actor=None)


def planned_counts(rows: int, *, year_offset: int = 0, changed_every: int = 0) -> list[dict]:
    """`rows` user counts as the file states them: organization, application, year, then the count's fields."""
    counts = []
    for index in range(rows):
        application_index, year_index = divmod(index, len(YEARS))
        org_number, app_number = divmod(application_index % (ORGANIZATIONS * 100), 100)
        year = YEARS[year_index] + year_offset
        bump = 1 if changed_every and index % changed_every == 0 else 0
        plan = {
            "organization": organization_slug(org_number),
            "application": application_name(app_number),
            "license_year": year,
            # Counts for years ahead (the dry-run file) are taken today: a count cannot be dated in the future.
            "counted_on": min(datetime.date(year, 1, 15), TODAY),
            "counted_by": "Dana Reyes",
            "evidence": f"Access report {year}-01-15, {organization_slug(org_number)}",
        }
        if CATEGORIES[app_number % len(CATEGORIES)] == "ambulatory_ehr":
            plan |= {
                "method": "proxy",
                "base_metric": "physicians",
                "metric_value": Decimal(40 + (index * 7) % 300 + bump),
                "metric_source": f"Medical staff roster {year}",
                "factor": Decimal(4),
            }
        else:
            direct = 20 + (index * 13) % 900 + bump
            plan |= {"method": "counted", "direct_users": direct, "program_users": index % 9, "output_users": index % 5}
        counts.append(plan)
    return counts


def write_file(path: Path, plans: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(HEADER)
        for plan in plans:
            proxy = plan["method"] == "proxy"
            writer.writerow(
                [
                    plan["organization"],
                    plan["application"],
                    plan["license_year"],
                    "Proxy" if proxy else "Counted",
                    "" if proxy else plan["direct_users"],
                    "" if proxy else plan["program_users"],
                    "" if proxy else plan["output_users"],
                    "Physicians" if proxy else "",
                    plan["metric_value"] if proxy else "",
                    plan["metric_source"] if proxy else "",
                    plan["factor"] if proxy else "",
                    plan["counted_on"].isoformat(),
                    plan["counted_by"],
                    plan["evidence"],
                ]
            )


def counts_of_plans(plans: list[dict]) -> list:
    from licensing.models import Application, UserCount

    applications = {
        (organization_slug, name): pk
        for pk, organization_slug, name in Application.objects.values_list("pk", "organization__slug", "name")
    }
    fields = {"organization", "application"}
    return [
        UserCount(
            application_id=applications[plan["organization"], plan["application"]],
            **{name: value for name, value in plan.items() if name not in fields},
        )
        for plan in plans
    ]


# ---------------------------------------------------------------------------------------------
# The steps, each in a child process
# ---------------------------------------------------------------------------------------------


def child(task: dict) -> None:
    """In the child: run one step and print its figures as the last line of JSON."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction

    from licensing import services
    from licensing.models import UserCount

    result: dict = {}
    if task["trace"]:
        tracemalloc.start()
    if task["step"] == "bulk":
        objs = counts_of_plans(planned_counts(task["rows"]))

        class Rollback(Exception):
            pass

        try:
            with transaction.atomic():
                started = time.perf_counter()
                services.record_bulk_create(objs, UserCount, actor=None, reason=REASON)
                result["seconds"] = time.perf_counter() - started
                raise Rollback
        except Rollback:
            pass
    elif task["step"] == "import":
        out, err = io.StringIO(), io.StringIO()
        started = time.perf_counter()
        try:
            call_command("import_data", "user-counts", task["file"], actor=OFFICER, stdout=out, stderr=err)
        except BaseException as problem:  # noqa: BLE001 (report whatever stopped the command)
            sys.stdout.write(err.getvalue()[-3000:])
            raise SystemExit(f"import_data failed: {problem!r}") from None
        result["seconds"] = time.perf_counter() - started
        result["output"] = out.getvalue().strip()
    elif task["step"] == "export":
        err = io.StringIO()
        started = time.perf_counter()
        call_command("export_data", "user-counts", organization=[SYSTEM_SLUG], output=task["file"], stderr=err)
        result["seconds"] = time.perf_counter() - started
    if task["trace"]:
        result["python_peak_mb"] = tracemalloc.get_traced_memory()[1] / 1024 / 1024
    result["peak_mb"] = peak_resident_mb()
    print(json.dumps(result))


def peak_resident_mb() -> float:
    """This process's peak resident memory (VmHWM), in MB.

    Not ru_maxrss from wait4: a child started by fork (or vfork) and exec carries the parent's peak resident
    size into its own ru_maxrss, so a child of this big parent would report at least the parent's size.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(env: dict, **task) -> dict:
    """One step in a child process: its own figures (peak resident memory included) and its wall time."""
    task.setdefault("trace", False)
    command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(task)]
    started = time.perf_counter()
    process = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, check=False)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"{task['step']} step failed: {process.stdout[-3000:]}")
    result = json.loads(process.stdout.strip().splitlines()[-1])
    result["process_seconds"] = wall
    return result


def history_counts() -> tuple[int, int]:
    from licensing.models import UserCount

    return UserCount.objects.count(), UserCount.history.model.objects.count()


def all_history_rows() -> int:
    from django.apps import apps

    return sum(
        model._default_manager.count()
        for model in apps.get_app_config("licensing").get_models()
        if model.__name__.startswith("Historical")
    )


def stored_counts_match(plans: list[dict]) -> None:
    """Every row of the file is in the database as the file states it."""
    from licensing.models import UserCount

    stored = {
        (count.application.organization.slug, count.application.name, count.license_year): count
        for count in UserCount.objects.select_related("application__organization")
    }
    assert len(stored) == len(plans), (len(stored), len(plans))
    for plan in plans:
        count = stored[plan["organization"], plan["application"], plan["license_year"]]
        for name, value in plan.items():
            if name not in ("organization", "application", "license_year"):
                assert getattr(count, name) == value, (plan, name, getattr(count, name))


def dry_runs(path: Path, repeat: int = 3) -> list[float]:
    from django.contrib.auth import get_user_model

    from licensing import imports

    officer = get_user_model().objects.get(username=OFFICER)
    content = path.read_bytes()
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        record = imports.run(
            resource_name="user-counts", file_name=path.name, content=content, actor=officer, dry_run=True
        )
        seconds.append(time.perf_counter() - started)
        assert record.outcome == "previewed", record.report["problems"] or record.report["entries"][:3]
        assert record.new_rows == 5000, record.new_rows
    return seconds


# ---------------------------------------------------------------------------------------------
# The figures
# ---------------------------------------------------------------------------------------------


def machine_note() -> str:
    memory_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    return f"{os.cpu_count()} cores, {memory_kb / 1024 / 1024:.0f} GB, Python {platform.python_version()}"


def table_row(result: dict) -> str:
    first, export = result["import"], result["export"]
    return (
        f"| {result['date']} | {result['database']} | {result['load']:.1f} | {result['rows']:,} "
        f"| {result['bulk']['seconds']:.1f} "
        f"| {first['seconds']:.1f} / {first['process_seconds']:.1f} / {first['peak_mb']:.0f} "
        f"| {result['ratio']:.2f} | {result['reimport']['seconds']:.1f} | {result['update']['seconds']:.1f} "
        f"| {export['seconds']:.1f} / {export['peak_mb']:.0f} / {result['export_python_mb']:.1f} "
        f"| {statistics.median(result['dry_runs']):.2f} |"
    )


def update_docs(result: dict) -> None:
    rewrite_table(
        DOCS,
        markers=(START_MARKER, END_MARKER),
        section="## Imports and exports\n\n",
        header=TABLE_HEADER,
        row=table_row(result),
        key_cells=(1, 3),
    )


def rewrite_table(docs: Path, *, markers, section: str, header: str, row: str, key_cells: tuple[int, int]) -> None:
    """Rewrite the results table between the markers (added under `section` the first time): one row per key (the
    cells at `key_cells`, e.g. database and size), the newest run winning. Shared by the benchmarks."""
    start, end = markers
    text = docs.read_text()
    if start not in text:
        text = text.rstrip("\n") + f"\n\n{section}{start}\n{end}\n"
    head, rest = text.split(start, 1)
    body, tail = rest.split(end, 1)
    rows = [line for line in body.splitlines() if line.startswith("| ") and not line.startswith("| Date")]

    def key_of(line):
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        return tuple(cells[index] for index in key_cells)

    rows = [line for line in rows if key_of(line) != key_of(row)]
    rows.append(row)
    rows.sort(key=key_of)
    docs.write_text(f"{head}{start}\n{header}\n" + "\n".join(rows) + f"\n{end}{tail}")


def clean_up(target, workdir: Path) -> None:
    """The benchmark's database dropped and its files removed, however the run ended."""
    from django.db import connections

    connections.close_all()
    target.drop()
    for leftover in workdir.glob("*"):
        leftover.unlink()
    workdir.rmdir()


class NamedPostgresTarget(PostgresTarget):
    """PostgresTarget with a chosen name (a database left by an interrupted run is dropped first)."""

    def __init__(self, server_url: str, name: str):
        from urllib.parse import urlsplit, urlunsplit

        super().__init__(server_url)
        if name:
            self.name = name
            self.url = urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
        else:
            self.name = self.name.replace("bench_seed_", "bench_imports_")
            self.url = urlunsplit(urlsplit(server_url)._replace(path=f"/{self.name}"))

    def create(self):
        self.drop()
        super().create()


def main():
    args = parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    if args.rows < 5000 or args.rows > ORGANIZATIONS * 100 * len(YEARS):
        raise SystemExit(f"--rows must be between 5,000 and {ORGANIZATIONS * 100 * len(YEARS):,}")
    url = args.database_url
    if url and not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("--database-url must be a postgres:// URL; leave it out for SQLite")
    target = NamedPostgresTarget(url, args.database_name) if url else SQLiteTarget()
    target.create()
    workdir = Path(tempfile.mkdtemp(prefix="imports-bench-"))
    settings = {
        "DATABASE_URL": target.url,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        # Production-like: no query log kept in memory (DEBUG keeps every query's SQL and quotes its parameters).
        "DEBUG": "False",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "benchmark-only-secret-key-not-for-production-use-0123456789"),
    }
    os.environ.update(settings)
    env = dict(os.environ)
    result: dict = {"rows": args.rows}
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        from licensing.models import DataImport, UserCount

        call_command("migrate", verbosity=0)
        database = database_label()
        build_system()
        plans = planned_counts(args.rows)
        first_file = workdir / "user-counts.csv"
        write_file(first_file, plans)
        changed_every = args.rows // 5000
        updated_plans = planned_counts(args.rows, changed_every=changed_every)
        changed = sum(1 for old, new in zip(plans, updated_plans, strict=True) if old != new)
        update_file = workdir / "user-counts-updated.csv"
        write_file(update_file, updated_plans)
        dry_file = workdir / "user-counts-2027.csv"
        write_file(dry_file, planned_counts(5000, year_offset=len(YEARS)))
        analyze()
        result["load"] = os.getloadavg()[0]
        connections.close_all()

        print(f"{database}: record_bulk_create of {args.rows:,} user counts (rolled back) ...", flush=True)
        result["bulk"] = run_child(env, step="bulk", rows=args.rows)
        analyze()
        assert history_counts() == (0, 0)
        connections.close_all()

        print(f"{database}: import_data of {args.rows:,} new rows ...", flush=True)
        result["import"] = run_child(env, step="import", file=str(first_file))
        counts, history = history_counts()
        assert (counts, history) == (args.rows, args.rows), (counts, history)
        assert set(UserCount.history.model.objects.values_list("data_import_id", flat=True)) == {
            DataImport.objects.filter(dry_run=False).get().pk
        }
        stored_counts_match(plans)
        result["ratio"] = result["import"]["seconds"] / result["bulk"]["seconds"]
        analyze()
        connections.close_all()

        print(f"{database}: the same file again ...", flush=True)
        before = all_history_rows()
        result["reimport"] = run_child(env, step="import", file=str(first_file))
        assert history_counts() == (args.rows, args.rows)
        # Only the import record's own history (started, finished) is added.
        result["reimport_history_rows"] = all_history_rows() - before
        assert result["reimport_history_rows"] == 2, result["reimport_history_rows"]
        assert " 0 new, 0 updated" in result["reimport"]["output"], result["reimport"]["output"]
        connections.close_all()

        print(f"{database}: {changed:,} rows changed ...", flush=True)
        result["update"] = run_child(env, step="import", file=str(update_file))
        counts, history = history_counts()
        assert (counts, history - args.rows) == (args.rows, changed), (counts, history - args.rows, changed)
        stored_counts_match(updated_plans)
        result["changed"] = changed
        connections.close_all()

        if args.verify:
            from licensing.audit import verification

            started = time.perf_counter()
            breaks = verification.verify()
            assert breaks == [], breaks[:5]
            print(f"{database}: every hash chain verified in {time.perf_counter() - started:.1f} s", flush=True)

        print(f"{database}: export_data of {args.rows:,} rows ...", flush=True)
        export_file = workdir / "export.csv"
        result["export"] = run_child(env, step="export", file=str(export_file))
        with export_file.open(encoding="utf-8-sig", newline="") as stream:
            exported = sum(1 for _ in csv.reader(stream)) - 1
        assert exported == args.rows, exported
        result["export_python_mb"] = run_child(env, step="export", file=str(export_file), trace=True)["python_peak_mb"]
        connections.close_all()

        print(f"{database}: imports.run(dry_run=True) of 5,000 new rows ...", flush=True)
        result["dry_runs"] = dry_runs(dry_file)
        assert history_counts() == (args.rows, args.rows + changed)
    finally:
        clean_up(target, workdir)

    result |= {
        "date": datetime.datetime.now(datetime.UTC).date().isoformat(),
        "database": database,
        "machine": machine_note(),
    }
    first = result["import"]
    time_ok = first["seconds"] < IMPORT_BUDGET_SECONDS
    memory_ok = first["peak_mb"] < IMPORT_BUDGET_MB
    ratio_ok = result["ratio"] <= RATIO_BUDGET
    faster_ok = result["reimport"]["seconds"] < first["seconds"]
    print(
        f"{database} ({result['machine']}, load {result['load']:.1f}):\n"
        f"  record_bulk_create of {args.rows:,} user counts: {result['bulk']['seconds']:.1f} s, "
        f"peak {result['bulk']['peak_mb']:.0f} MB\n"
        f"  import_data of {args.rows:,} new rows: {first['seconds']:.1f} s in the command "
        f"({'within' if time_ok else 'OVER'} {IMPORT_BUDGET_SECONDS} s), {first['process_seconds']:.1f} s for the "
        f"process, peak {first['peak_mb']:.0f} MB ({'within' if memory_ok else 'OVER'} {IMPORT_BUDGET_MB} MB); "
        f"{result['ratio']:.2f}x record_bulk_create ({'within' if ratio_ok else 'OVER'} {RATIO_BUDGET:.0f}x)\n"
        f"  the same file again: {result['reimport']['seconds']:.1f} s "
        f"({'faster' if faster_ok else 'NOT faster'} than the first import), no user count or history row written, "
        f"peak {result['reimport']['peak_mb']:.0f} MB\n"
        f"  {changed:,} rows changed: {result['update']['seconds']:.1f} s, exactly {changed:,} history rows, "
        f"peak {result['update']['peak_mb']:.0f} MB\n"
        f"  export_data of {args.rows:,} rows (CSV): {result['export']['seconds']:.1f} s, "
        f"peak {result['export']['peak_mb']:.0f} MB resident, {result['export_python_mb']:.1f} MB Python\n"
        f"  imports.run(dry_run=True) of 5,000 new rows: median {statistics.median(result['dry_runs']):.2f} s "
        f"({', '.join(f'{seconds:.2f}' for seconds in result['dry_runs'])})"
    )
    if not args.no_docs:
        update_docs(result)
        print(f"Recorded in {DOCS.relative_to(ROOT)}")
    if not (time_ok and memory_ok and ratio_ok and faster_ok):
        sys.exit(1)


if __name__ == "__main__":
    main()
