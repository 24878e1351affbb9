"""Scale: 20 officers browsing the portal while a 50,000-row import and a ZIP of 100 filings run as Celery jobs.

    .venv/bin/python benchmarks/scale.py                       # make scale: seed, baseline, jobs run, record
    .venv/bin/python benchmarks/scale.py --users 3 --duration 10 --rows 2000 --filings 5 --orgs 500 --no-docs
    .venv/bin/python benchmarks/scale.py --existing postgres://postgres@127.0.0.1:5432/bench_load_... --no-docs

1. The data, as benchmarks/load.py makes it (a fresh PostgreSQL database with `seed_demo --scale N`, the officers
   and their draft filings; or `--existing URL`, a database `load.py --keep` left), plus the health system of
   benchmarks/imports.py (the system, 49 affiliates, 5,000 applications, its officer) and a draft filing for this
   year (`services.filing_prepare`) at each of the last --filings benchmark organizations. VACUUM ANALYZE.
2. The servers, all on loopback and not pinned to a core: gunicorn with --workers processes, one `celery -A portal
   worker --concurrency N` (the Procfile's command: N processes), Redis db --broker-db as broker
   (CELERY_BROKER_URL) and db --cache-db as cache (CACHE_URL), both flushed before and after (only those two).
3. Baseline: --users officers through locust (benchmarks/load_locust.py) for --duration seconds, no jobs.
4. With jobs: the same officers again; when their measured run starts, the health system's officer uploads the
   --rows-row user-count file on the import page (its preview is a job) and an administrator selects the
   --filings drafts on the filings list and runs "Download ZIP" (a job). When the preview job is done the officer
   confirms it on the preview page (the confirmation is a job). The officers' run lasts --duration seconds or
   until the jobs end, whichever is later. Each job's wall time is read from its row (queued, started, finished).
5. The checks (exit status 1 when one fails): no 5xx and no answer missing in either run (officers and the two
   people starting jobs), no traceback in a server's log, the officers' saves each in the history once (load.py's
   write check), every job done at its first attempt, the import's rows and their history rows written exactly
   once (one confirmed import, --rows counts, --rows history rows stamped with it and none other for the health
   system), and the ZIP downloaded from the job's page holding --filings PDFs.
6. The figures: p50/p95 per page without and while the jobs run (requests that started between the first job
   queued and the last one finished), the jobs' wall times, CPU seconds of gunicorn, the worker, PostgreSQL and
   locust, `uptime` before and after each run; recorded in docs/benchmarks.md ("Scale: jobs beside officers"),
   newest run wins.

Every process is stopped by a hard timeout: locust by load.py's, the jobs by --job-timeout, and the whole run by
an alarm (--hard-timeout) after which gunicorn and the worker are ended too.
"""

import argparse
import datetime
import io
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import imports as import_bench  # noqa: E402 (benchmarks are scripts; the path is set just above)
import load  # noqa: E402
from load_forms import form_fields  # noqa: E402
from seed_scale import analyze, database_label, production_like, run_seed  # noqa: E402

DOCS = ROOT / "docs" / "benchmarks.md"
SECTION_TITLE = "## Scale: jobs beside officers"
START_MARKER = "<!-- scale-results:start -->"
END_MARKER = "<!-- scale-results:end -->"
REASON = "Scale benchmark set-up"
IMPORT_REASON = "Scale benchmark: ten years of counts"
IMPORT_FILE = "bench-health-counts.csv"
# The health system's officer of benchmarks/imports.py, who starts the import (build_system sets this password).
OFFICER = (import_bench.OFFICER, "benchmark-password")
# How often a job's page asks for its progress (licensing/static/.../job.js).
PROGRESS_SECONDS = 2


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    load.add_run_arguments(parser, officers=20, users=20, duration=90, workers=2, port=8732)
    parser.add_argument("--database-prefix", default="bench_scale", help="name of the fresh database, before a date")
    parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes (default 2)")
    parser.add_argument("--rows", type=int, default=50_000, help="rows of the import (default 50,000)")
    parser.add_argument("--filings", type=int, default=100, help="filings in the ZIP (default 100)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379", help="the Redis server (no database number)")
    parser.add_argument("--broker-db", type=int, default=6, help="Redis database of the broker (default 6)")
    parser.add_argument("--cache-db", type=int, default=7, help="Redis database of the cache (default 7)")
    parser.add_argument("--job-timeout", type=int, default=900, help="seconds the jobs may take (default 900)")
    parser.add_argument("--hard-timeout", type=int, default=0, help="seconds for the whole run (default: computed)")
    parser.add_argument("--raw", default="", metavar="FILE", help="also write every request's time and the jobs' rows")
    return parser.parse_args()


# ---------------------------------------------------------------------------------------------
# The data
# ---------------------------------------------------------------------------------------------


def seed(args, env: dict) -> dict:
    """Everything the runs need, made only where missing (so a database load.py kept serves too)."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connections

    from licensing import demo
    from licensing.models import Organization, UserCount

    database = database_label()
    if not args.existing:
        call_command("migrate", verbosity=0)
        connections.close_all()
        print(f"{database}: seed_demo --scale {args.orgs} ...", flush=True)
        seconds, _, _ = run_seed(args.orgs, env)
        print(f"{database}: seeded in {seconds:.0f} s", flush=True)
    orgs = Organization.objects.filter(slug__startswith=demo.SCALE_SLUG_PREFIX).count()
    if orgs <= 2 * args.officers + 1 + args.filings:
        raise SystemExit(
            f"{orgs} benchmark organizations: too few for {args.officers} officers and {args.filings} filings"
        )
    if not get_user_model().objects.filter(username__startswith=load.OFFICER_PREFIX).exists():
        print(f"{database}: {args.officers} officers, their memberships and draft filings ...", flush=True)
        load.add_officers(args.officers)
    if not Organization.objects.filter(slug=import_bench.SYSTEM_SLUG).exists():
        print(
            f"{database}: the health system of benchmarks/imports.py (50 organizations, 5,000 systems) ...", flush=True
        )
        import_bench.build_system()
    if UserCount.objects.filter(application__organization__slug__startswith=import_bench.SYSTEM_SLUG).exists():
        raise SystemExit("The health system already holds counts (an earlier scale run): use a fresh database.")
    filings = zip_filings(args.filings)
    analyze()
    connections.close_all()
    return {"database": database, "orgs": orgs, "filings": filings}


def zip_filings(count: int) -> list[int]:
    """A draft filing for this year at each of the last `count` benchmark organizations (none of the officers')."""
    from django.contrib.auth import get_user_model

    from licensing import demo, services, standing
    from licensing.models import Filing, Organization

    admin = get_user_model().objects.get(username=demo.ADMIN_LOGIN.username)
    year = standing.current_license_year()
    organizations = list(Organization.objects.filter(slug__startswith=demo.SCALE_SLUG_PREFIX).order_by("-slug")[:count])
    prepared = set(
        Filing.objects.filter(organization__in=organizations, license_year=year).values_list("organization", flat=True)
    )
    for organization in organizations:
        if organization.pk not in prepared:
            services.filing_prepare(organization=organization, license_year=year, actor=admin, reason=REASON)
    chosen = Filing.objects.filter(organization__in=organizations, license_year=year).order_by("pk")
    return list(chosen.values_list("pk", flat=True)[:count])


def import_file(rows: int) -> bytes:
    """The health system's user counts as its officer keeps them (benchmarks/imports.py's file)."""
    with tempfile.TemporaryDirectory(prefix="scale-file-") as folder:
        path = Path(folder) / IMPORT_FILE
        import_bench.write_file(path, import_bench.planned_counts(rows))
        return path.read_bytes()


# ---------------------------------------------------------------------------------------------
# The people who start the jobs, through the pages
# ---------------------------------------------------------------------------------------------


class Person:
    """A signed-in browser session (requests), as load_locust.py's officers sign in; every answer is kept."""

    def __init__(self, port: int, username: str, password: str):
        import requests

        self.base, self.username = f"http://127.0.0.1:{port}", username
        self.session = requests.Session()
        self.answers: list[dict] = []
        fields = dict(self.form("/admin/login/?next=/admin/", "login-form", "login form"))
        fields.update(username=username, password=password)
        answer = self.post("/admin/login/?next=/admin/", fields, "login")
        if answer.status_code != 302 or "sessionid" not in self.session.cookies:
            raise SystemExit(f"{username} could not sign in ({answer.status_code})")

    def _timed(self, name: str, method: str, path: str, **kwargs):
        started = time.monotonic()
        answer = self.session.request(method, self.base + path, timeout=120, allow_redirects=False, **kwargs)
        self.answers.append({"name": name, "status": answer.status_code, "ms": 1000 * (time.monotonic() - started)})
        return answer

    def form(self, path: str, form_id: str, name: str) -> list[tuple[str, str]]:
        answer = self._timed(name, "GET", path)
        if answer.status_code != 200:
            raise SystemExit(f"{self.username}: {path} answered {answer.status_code}")
        return form_fields(answer.text, form_id)

    def post(self, path: str, data, name: str, files=None):
        return self._timed(name, "POST", path, data=data, files=files)

    def get(self, path: str, name: str):
        return self._timed(name, "GET", path)


def job_of(answer) -> int:
    """The job a page redirected to (its change page), or stop: the page did not start a job."""
    found = re.search(r"/admin/licensing/job/(\d+)/change/", answer.headers.get("Location", ""))
    if answer.status_code != 302 or not found:
        raise SystemExit(f"expected a redirect to a job's page, got {answer.status_code}: {answer.text[:500]}")
    return int(found.group(1))


def upload_import(officer: Person, content: bytes) -> int:
    from django.urls import reverse

    path = reverse("admin:licensing_usercount_import")
    fields = [
        (name, value) for name, value in officer.form(path, "import-form", "import page") if name != "change_reason"
    ]
    fields.append(("change_reason", IMPORT_REASON))
    files = {"file": (IMPORT_FILE, content, "text/csv")}
    return job_of(officer.post(path, fields, "import upload", files=files))


def confirm_import(officer: Person, preview_id: int) -> int:
    from django.urls import reverse

    path = reverse("admin:licensing_dataimport_change", args=[preview_id])
    return job_of(officer.post(path, officer.form(path, "confirm-form", "import preview"), "import confirm"))


def start_zip(admin: Person, filing_ids: list[int]) -> int:
    from django.urls import reverse

    path = reverse("admin:licensing_filing_changelist")
    token = dict(admin.form(path, "changelist-form", "filings list"))["csrfmiddlewaretoken"]
    data = [("csrfmiddlewaretoken", token), ("action", "download_zip")]
    data += [("_selected_action", str(pk)) for pk in filing_ids]
    return job_of(admin.post(path, data, "ZIP action"))


def jobs_of(ids) -> dict[int, dict]:
    from licensing.models import Job

    fields = ["pk", "kind", "title", "state", "attempts", "error", "created_at", "started_at", "finished_at"]
    fields += ["progress_done", "progress_total", "progress_unit", "data_import_id"]
    return {row["pk"]: row for row in Job.objects.filter(pk__in=ids).values(*fields)}


def job_page(person: Person, job_id: int) -> None:
    from django.urls import reverse

    person.get(reverse("admin:licensing_job_change", args=[job_id]), "job page")


def run_jobs(args, people: dict, content: bytes, filings: list[int], deadline: float) -> dict:
    """Start the import and the ZIP as their people do and watch each job's page as its script does (progress
    every 2 s, the page again when finished); the officer confirms the preview once it is ready."""
    from django.urls import reverse

    officer, admin = people["officer"], people["admin"]
    started = {"preview": upload_import(officer, content), "confirm": None}
    job_page(officer, started["preview"])
    started["zip"] = start_zip(admin, filings)
    job_page(admin, started["zip"])
    watching = {started["preview"]: officer, started["zip"]: admin}
    # The most of each job's progress its page showed while it ran (the worker writes it to the shared cache).
    seen: dict[int, str] = {}
    while watching:
        if time.monotonic() > deadline:
            raise SystemExit(f"jobs not finished within --job-timeout: {jobs_of(list(watching))}")
        time.sleep(PROGRESS_SECONDS)
        for job_id, person in list(watching.items()):
            answer = person.get(reverse("admin:licensing_job_progress", args=[job_id]), "job progress")
            if answer.status_code != 200:
                continue
            progress = answer.json()
            if not progress["finished"]:
                seen[job_id] = f"{progress['done']:,} of {progress['total']:,}"
                continue
            del watching[job_id]
            job_page(person, job_id)
            preview = jobs_of([job_id])[job_id] if job_id == started["preview"] else None
            if preview and preview["state"] == "done" and preview["data_import_id"]:
                started["confirm"] = confirm_import(officer, preview["data_import_id"])
                job_page(officer, started["confirm"])
                watching[started["confirm"]] = officer
    ids = [job_id for job_id in started.values() if job_id]
    return {**started, "rows": jobs_of(ids), "seen": seen}


# ---------------------------------------------------------------------------------------------
# The servers and the runs
# ---------------------------------------------------------------------------------------------


def redis_url(args, db: int) -> str:
    return f"{args.redis.rstrip('/')}/{db}"


def flush_redis(args) -> None:
    """Empty the broker's and the cache's Redis databases (only those two numbers)."""
    import redis

    for db in (args.broker_db, args.cache_db):
        try:
            redis.Redis.from_url(redis_url(args, db), socket_connect_timeout=2).flushdb()
        except redis.exceptions.ConnectionError:
            raise SystemExit(f"no Redis answers at {redis_url(args, db)}") from None


def start_worker(args, env: dict, log) -> subprocess.Popen:
    """The Procfile's worker: one `celery -A portal worker` of --concurrency processes."""
    return subprocess.Popen(
        [str(load.BIN / "celery"), "-A", "portal", "worker", "--loglevel", "INFO"]
        + ["--concurrency", str(args.concurrency), "-n", "scale@%h"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_until_ready(worker, log_path: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise SystemExit(f"the Celery worker exited with {worker.returncode}:\n{log_path.read_text()[-3000:]}")
        if " ready." in log_path.read_text(errors="replace"):
            return
        time.sleep(0.5)
    raise SystemExit(f"the Celery worker was not ready within {seconds:.0f} s")


class Servers:
    """gunicorn and the Celery worker, each in its own process group; their CPU seconds read on demand."""

    def __init__(self, args, env: dict, work: Path):
        self.work = work
        self.server_env = load.server_environment(env, work)
        self.logs = {name: open(work / f"{name}.log", "w") for name in ("gunicorn", "worker")}
        self.gunicorn = load.start_gunicorn(args.port, args.workers, self.server_env, self.logs["gunicorn"], None)
        self.worker = start_worker(args, {**self.server_env, "LOG_LEVEL": "INFO"}, self.logs["worker"])

    def wait(self, args) -> None:
        load.wait_until_up(args.port, self.gunicorn)
        wait_until_ready(self.worker, self.work / "worker.log")

    def cpu(self) -> dict[str, float]:
        return {
            "gunicorn": load.cpu_seconds(load.group_pids(self.gunicorn.pid)),
            "worker": load.cpu_seconds(load.group_pids(self.worker.pid)),
        }

    def tracebacks(self) -> dict[str, int]:
        for log in self.logs.values():
            log.flush()
        return {name: (self.work / f"{name}.log").read_text(errors="replace").count("Traceback") for name in self.logs}

    def stop(self) -> None:
        for process in (self.gunicorn, self.worker):
            load.stop(process, grace=20)
        for log in self.logs.values():
            log.close()


def run_phase(args, env: dict, plan_file: Path, servers: Servers, work: Path, *, jobs=None) -> dict:
    """One locust run of the officers; with `jobs` (a function of the deadline), the jobs started beside it."""
    from django.db import connections

    work.mkdir()
    (work / "plan.json").write_text(plan_file.read_text())
    measuring, hold = work / "measuring", work / "hold"
    extra = {"LOAD_MEASURING_FILE": str(measuring)}
    if jobs is not None:
        hold.write_text("the jobs run")
        extra["LOAD_HOLD_FILE"] = str(hold)
    phase: dict = {"uptime_before": load.uptime(), "load_before": load.load_average()}
    cpu_before, wall = servers.cpu(), time.monotonic()
    # Locust is the one child this process waits for during the run: its CPU is the children's usage meanwhile.
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    backends = load.BackendWatch()
    locust = load.start_locust(args, env, work, None, hold=args.job_timeout if jobs else 0, extra_env=extra)
    try:
        if jobs is not None:
            while not measuring.exists():
                if locust.poll() is not None or time.monotonic() - wall > load.SIGN_IN_TIMEOUT + 30:
                    raise SystemExit("the officers' measured run did not start")
                time.sleep(0.2)
            try:
                phase["jobs"] = jobs(time.monotonic() + args.job_timeout)
            finally:
                hold.unlink(missing_ok=True)
        limit = load.locust_limit(args.duration + (args.job_timeout if jobs else 0))
        output = load.finish_locust(locust, limit - (time.monotonic() - wall))
    finally:
        load.stop(locust)
    phase["uptime_after"], phase["load_after"] = load.uptime(), load.load_average()
    cpu_after = servers.cpu()
    phase["cpu"] = {name: cpu_after[name] - cpu_before[name] for name in cpu_after}
    phase["cpu"]["PostgreSQL"] = backends.stop()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    phase["cpu"]["locust"] = (children.ru_utime + children.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    phase["wall"] = time.monotonic() - wall
    connections.close_all()
    phase |= load.locust_result(work, output)
    phase["totals"] = load.status_totals(phase["statuses"])
    return phase


# ---------------------------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------------------------


def check_import(rows: int, confirm_row: dict | None) -> list[str]:
    """The import wrote each row once, with one history row each, all stamped with the one confirmed import."""
    from licensing.choices import ImportOutcome
    from licensing.models import DataImport, UserCount

    if confirm_row is None or not confirm_row["data_import_id"]:
        return ["the import's confirmation never ran"]
    problems = []
    done = DataImport.objects.get(pk=confirm_row["data_import_id"])
    health = {"application__organization__slug__startswith": import_bench.SYSTEM_SLUG}
    confirmed = DataImport.objects.filter(file_name=IMPORT_FILE, outcome=ImportOutcome.CONFIRMED).count()
    figures = {
        "confirmed imports of the file": (confirmed, 1),
        "new rows of the confirmed import": (done.new_rows, rows),
        "user counts of the health system": (UserCount.objects.filter(**health).count(), rows),
        "history rows stamped with the import": (UserCount.history.filter(data_import_id=done.pk).count(), rows),
        "history rows of the health system's counts": (UserCount.history.filter(**health).count(), rows),
    }
    for label, (found, expected) in figures.items():
        if found != expected:
            problems.append(f"{label}: {found:,}, expected {expected:,}")
    return problems


def check_zip(admin: Person, zip_row: dict, filings: int) -> tuple[list[str], dict]:
    """Download the ZIP from the job's page, as the administrator would, and count its PDFs."""
    from django.urls import reverse

    if zip_row["state"] != "done":
        return ["the ZIP job did not finish"], {}
    answer = admin.get(reverse("admin:licensing_job_download", args=[zip_row["pk"]]), "ZIP download")
    if answer.status_code != 200:
        return [f"the ZIP's download answered {answer.status_code}"], {}
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    pdfs = [name for name in archive.namelist() if name.endswith(".pdf") and archive.read(name).startswith(b"%PDF-")]
    facts = {"members": len(archive.namelist()), "pdfs": len(pdfs), "mb": len(answer.content) / 1_000_000}
    problems = [] if len(pdfs) == filings == facts["members"] else [f"the ZIP holds {len(pdfs)} PDFs of {filings}"]
    return problems, facts


def job_figures(rows: dict[int, dict], keys: dict[int, str], seen: dict[int, str]) -> list[dict]:
    def seconds(start, end):
        return (end - start).total_seconds() if start and end else None

    return [
        {
            "key": keys.get(row["pk"], ""),
            "title": row["title"],
            "state": row["state"],
            "attempts": row["attempts"],
            "error": row["error"],
            "progress": f"{row['progress_done']:,} of {row['progress_total']:,} {row['progress_unit']}",
            "seen": seen.get(row["pk"], "none"),
            "waited": seconds(row["created_at"], row["started_at"]),
            "ran": seconds(row["started_at"], row["finished_at"]),
            "wall": seconds(row["created_at"], row["finished_at"]),
            "queued_at": row["created_at"].timestamp(),
            "finished_at": row["finished_at"].timestamp() if row["finished_at"] else None,
        }
        for row in sorted(rows.values(), key=lambda row: row["pk"])
    ]


# ---------------------------------------------------------------------------------------------
# The figures
# ---------------------------------------------------------------------------------------------


def page_times(requests: list, since: float = 0, until: float = float("inf")) -> dict[str, list[float]]:
    """Each page's response times (ms, sorted) of the requests that started within [since, until]."""
    times: dict[str, list[float]] = {}
    for name, ended, ms, _status in requests:
        if since <= ended - ms / 1000 <= until:
            times.setdefault(name, []).append(ms)
    times["all pages"] = [ms for name, values in times.items() for ms in values]
    return {name: sorted(values) for name, values in times.items()}


def figures_of(times: dict[str, list[float]], name: str) -> tuple[int, float, float]:
    values = times.get(name, [])
    return len(values), load.percentile(values, 50), load.percentile(values, 95)


def starter_summary(answers: list[dict]) -> str:
    """Each kind of request the job starters made: how many, the slowest, and any status but 200 and 302."""
    kinds: dict[str, list[dict]] = {}
    for answer in answers:
        kinds.setdefault(answer["name"], []).append(answer)
    parts = []
    for name, made in kinds.items():
        odd = sorted({a["status"] for a in made} - {200, 302})
        slowest = max(a["ms"] for a in made)
        times = f"{len(made)} x, slowest {slowest:,.0f} ms" if len(made) > 1 else f"{slowest:,.0f} ms"
        parts.append(f"{name} {times}" + (f" (status {odd})" if odd else ""))
    return "; ".join(parts)


def phase_line(label: str, phase: dict) -> str:
    cpu = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in phase["cpu"].items() if seconds)
    totals = phase["totals"]
    return (
        f"  {label}: {phase['wall']:.0f} s (sign-in included), load {phase['load_before']:.2f} -> "
        f"{phase['load_after']:.2f}; answers {totals['2xx/3xx']:,} 2xx/3xx, {totals['4xx']} 4xx, {totals['5xx']} 5xx, "
        f"{totals['no answer']} without answer; CPU {cpu}"
    )


def summary(result: dict) -> str:
    base, jobs = result["baseline"], result["with_jobs"]
    lines = [
        f"{result['database']}, {result['orgs']:,} organizations, {result['users']} officers, "
        f"{result['workers']} gunicorn processes, a Celery worker of {result['concurrency']} processes, not pinned",
        f"  baseline before: {base['uptime_before']}",
        f"  baseline after:  {base['uptime_after']}",
        f"  jobs before:     {jobs['uptime_before']}",
        f"  jobs after:      {jobs['uptime_after']}",
        phase_line("baseline", base),
        phase_line("with jobs", jobs),
        f"  jobs ran {result['jobs_window']:.0f} s of the officers' run ({result['window_requests']} requests in it)",
    ]
    width = max(len(name) for name in result["pages"])
    lines.append(f"  {'page':<{width}}   without jobs: n  p50   p95    while jobs run: n  p50   p95")
    for name in result["pages"]:
        n0, p50_0, p95_0 = figures_of(result["times_without"], name)
        n1, p50_1, p95_1 = figures_of(result["times_with"], name)
        lines.append(f"  {name:<{width}}   {n0:15} {p50_0:5.0f} {p95_0:5.0f}    {n1:17} {p50_1:5.0f} {p95_1:5.0f}")
    for job in result["jobs"]:
        lines.append(
            f"  job {job['title']}: {job['state']}, {job['progress']}, attempt(s) {job['attempts']}, "
            f"waited {job['waited'] or 0:.1f} s, ran {job['ran'] or 0:.1f} s, queued to done {job['wall'] or 0:.1f} s, "
            f"its page showed at most {job['seen']} while it ran" + (f"; error: {job['error']}" if job["error"] else "")
        )
    starters = starter_summary(result["starter_answers"])
    lines.append(f"  the job starters' requests: {starters}")
    if result["zip"]:
        lines.append(
            f"  ZIP: {result['zip']['pdfs']} PDFs of {result['zip']['members']} members, {result['zip']['mb']:.1f} MB"
        )
    lines.append(f"  server tracebacks: {result['tracebacks']}")
    problems = result["problems"]
    lines.append(f"  checks: {'OK' if not problems else f'{len(problems)} PROBLEMS'}")
    lines += [f"    {problem}" for problem in problems[:30]]
    return "\n".join(lines)


def problems_of(result: dict) -> list[str]:
    problems = []
    for label in ("baseline", "with_jobs"):
        phase = result[label]
        if phase["totals"]["5xx"] or phase["totals"]["no answer"]:
            problems.append(f"{label}: {phase['totals']['5xx']} 5xx, {phase['totals']['no answer']} without answer")
        problems += [f"{label}: {problem}" for problem in phase["check"]["problems"]]
    problems += [f"{a['name']} answered {a['status']}" for a in result["starter_answers"] if a["status"] >= 500]
    problems += [f"{name}'s log has {n} traceback(s)" for name, n in result["tracebacks"].items() if n]
    for job in result["jobs"]:
        if job["state"] != "done" or job["attempts"] != 1:
            problems.append(f"job {job['title']}: {job['state']} at attempt {job['attempts']} {job['error']}")
    return problems + result["import_problems"] + result["zip_problems"]


TABLE_HEADER = (
    "| Date | Database | Load (1 min): baseline before / after, jobs before / after | Officers | gunicorn / worker "
    "processes | p95 all pages (ms): without / while jobs run | Import preview / confirmation, queued to done (s) "
    "| ZIP of filings, queued to done (s) | 5xx | Failed jobs | Checks |\n"
    "|---|---|---|---:|---|---|---|---|---:|---:|---|"
)
PAGES_HEADER = (
    "| Page | Without jobs: requests | p50 (ms) | p95 (ms) | While jobs run: requests | p50 (ms) | p95 (ms) |\n"
    "|---|---:|---:|---:|---:|---:|---:|"
)
JOBS_HEADER = (
    "| Job | Progress | Page showed, running | Queued to started (s) | Started to done (s) | Queued to done (s) "
    "| Attempts | State |\n|---|---|---|---:|---:|---:|---:|---|"
)


def p95_all(times: dict[str, list[float]]) -> float:
    return figures_of(times, "all pages")[2]


def table_row(result: dict) -> str:
    base, jobs = result["baseline"], result["with_jobs"]
    by_kind = {job["key"]: job for job in result["jobs"]}

    def wall(key):
        job = by_kind.get(key)
        return f"{job['wall']:.0f}" if job and job["wall"] is not None else "-"

    failed = sum(job["state"] != "done" for job in result["jobs"])
    checks = f"{len(result['problems'])} problems" if result["problems"] else "OK"
    return (
        f"| {result['date']} | {result['database']} | {base['load_before']:.1f} / {base['load_after']:.1f}, "
        f"{jobs['load_before']:.1f} / {jobs['load_after']:.1f} | {result['users']} "
        f"| {result['workers']} / {result['concurrency']} "
        f"| {p95_all(result['times_without']):.0f} / {p95_all(result['times_with']):.0f} "
        f"| {wall('preview')} / {wall('confirm')} | {wall('zip')} "
        f"| {base['totals']['5xx'] + jobs['totals']['5xx']} | {failed} "
        f"| {checks} |"
    )


def update_docs(result: dict) -> None:
    """Rewrite the results between the markers: the newest run wins."""
    text = DOCS.read_text()
    if START_MARKER not in text:
        text = (
            text.rstrip("\n") + f"\n\n{SECTION_TITLE}\n\nSee `benchmarks/scale.py`.\n\n{START_MARKER}\n{END_MARKER}\n"
        )
    head, rest = text.split(START_MARKER, 1)
    _, tail = rest.split(END_MARKER, 1)

    def cells(times, name):
        count, p50, p95 = figures_of(times, name)
        return f"{count} | {p50:.0f} | {p95:.0f}" if count else "0 | - | -"

    pages = "\n".join(
        f"| {name} | {cells(result['times_without'], name)} | {cells(result['times_with'], name)} |"
        for name in result["pages"]
    )
    starters = starter_summary([a for a in result["starter_answers"] if "login" not in a["name"]])
    jobs = "\n".join(
        f"| {job['title']} | {job['progress']} | {job['seen']} | {job['waited'] or 0:.1f} | {job['ran'] or 0:.1f} "
        f"| {job['wall'] or 0:.1f} | {job['attempts']} | {job['state']} |"
        for job in result["jobs"]
    )
    cpu = "; ".join(
        f"{label}: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in result[key]["cpu"].items())
        for label, key in (("without jobs", "baseline"), ("with jobs", "with_jobs"))
    )
    body = (
        f"{TABLE_HEADER}\n{table_row(result)}\n\n"
        f"Per page (newest run, {result['date']}; nearest-rank percentiles of each request's time as locust measured "
        f'it; "while jobs run" counts the requests that started between the first job queued and the last one '
        f"done, {result['jobs_window']:.0f} s):\n\n{PAGES_HEADER}\n{pages}\n\n"
        f"The jobs (from their rows: queued, started, finished):\n\n{JOBS_HEADER}\n{jobs}\n\n"
        f"CPU seconds over each officers' run ({result['baseline']['wall']:.0f} s and "
        f"{result['with_jobs']['wall']:.0f} s, sign-in included): {cpu}. The ZIP: {result['zip'].get('pdfs', 0)} "
        f"PDFs, {result['zip'].get('mb', 0):.1f} MB. What the two people starting the jobs waited for (each "
        f"request's time): {starters}."
    )
    DOCS.write_text(f"{head}{START_MARKER}\n{body}\n{END_MARKER}{tail}")


class ScalePostgresTarget(load.LoadPostgresTarget):
    def __init__(self, server_url: str, prefix: str):
        super().__init__(server_url)
        self.name = self.name.replace("bench_load", prefix)
        self.url = urlunsplit(urlsplit(server_url)._replace(path=f"/{self.name}"))


def _hard_timeout(signum, frame):
    raise SystemExit("the run passed its --hard-timeout; everything it started is being stopped")


def main() -> int:
    args = parse_args()
    if args.users < 1 or args.officers < 1 or args.filings < 1 or args.rows < 1:
        raise SystemExit("--users, --officers, --filings and --rows must be at least 1")
    url = args.existing or args.database_url
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("the scale benchmark runs on PostgreSQL: give a postgres:// URL")
    hard = args.hard_timeout or 900 + 2 * load.locust_limit(args.duration) + 2 * args.job_timeout
    signal.signal(signal.SIGALRM, _hard_timeout)
    signal.alarm(hard)
    flush_redis(args)
    target = None if args.existing else ScalePostgresTarget(url, args.database_prefix)
    if target is not None:
        target.create()
    database_url = args.existing or target.url
    env = production_like(database_url, allowed_hosts="127.0.0.1,testserver")
    media = tempfile.mkdtemp(prefix="scale-media-")
    env |= {
        "CELERY_BROKER_URL": redis_url(args, args.broker_db),
        "CACHE_URL": redis_url(args, args.cache_db),
        "MEDIA_ROOT": media,
        # A short run's small file runs as a job too.
        "IMPORT_JOB_MIN_ROWS": str(min(args.rows, 2000)),
    }
    os.environ.update(env)
    result: dict = {}
    try:
        import django

        django.setup()
        from django.db import connections

        result |= seed(args, env)
        plan = load.plan_of(args.officers)
        content = import_file(args.rows)
        connections.close_all()
        with tempfile.TemporaryDirectory(prefix="scale-") as folder:
            work = Path(folder)
            plan_file = work / "plan.json"
            plan_file.write_text(json.dumps(plan))
            servers = Servers(args, env, work)
            try:
                servers.wait(args)
                from licensing import demo

                admin = (demo.ADMIN_LOGIN.username, demo.ADMIN_LOGIN.password)
                people = {"officer": Person(args.port, *OFFICER), "admin": Person(args.port, *admin)}
                print(f"{result['database']}: {args.users} officers for {args.duration} s, no jobs ...", flush=True)
                started = time.time()
                result["baseline"] = run_phase(args, env, plan_file, servers, work / "baseline")
                result["baseline"]["check"] = load.check_writes(result["baseline"]["writes"], since=started)
                print(
                    f"{result['database']}: the same with a {args.rows:,}-row import and a ZIP of "
                    f"{args.filings} filings as jobs ...",
                    flush=True,
                )

                def jobs(deadline):
                    return run_jobs(args, people, content, result["filings"], deadline)

                started = time.time()
                result["with_jobs"] = run_phase(args, env, plan_file, servers, work / "jobs", jobs=jobs)
                result["with_jobs"]["check"] = load.check_writes(result["with_jobs"]["writes"], since=started)
                started_jobs = result["with_jobs"]["jobs"]
                rows = started_jobs["rows"]
                keys = {started_jobs[key]: key for key in ("preview", "confirm", "zip") if started_jobs[key]}
                result["jobs"] = job_figures(rows, keys, started_jobs["seen"])
                result["import_problems"] = check_import(args.rows, rows.get(started_jobs["confirm"]))
                result["zip_problems"], result["zip"] = check_zip(
                    people["admin"], rows[started_jobs["zip"]], args.filings
                )
                result["starter_answers"] = people["officer"].answers + people["admin"].answers
                result["tracebacks"] = servers.tracebacks()
            finally:
                servers.stop()
                connections.close_all()
    finally:
        from django.db import connections

        connections.close_all()
        flush_redis(args)
        shutil.rmtree(media, ignore_errors=True)
        if target is not None and args.keep:
            print(f"Kept the database: {target.url}")
        elif target is not None:
            target.drop()
        signal.alarm(0)

    since = min(job["queued_at"] for job in result["jobs"])
    until = max(job["finished_at"] or time.time() for job in result["jobs"])
    result["times_without"] = page_times(result["baseline"]["requests"])
    result["times_with"] = page_times(result["with_jobs"]["requests"], since, until)
    result["jobs_window"] = until - since
    result["window_requests"] = len(result["times_with"]["all pages"])
    names = set(result["times_without"]) | set(result["times_with"])
    result["pages"] = sorted(names - {"all pages"}) + ["all pages"]
    result |= {
        "date": f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        "orgs": result["orgs"],
        "users": args.users,
        "duration": args.duration,
        "workers": args.workers,
        "concurrency": args.concurrency,
    }
    result["problems"] = problems_of(result)
    print(summary(result))
    if args.raw:
        raw = {key: result[key] for key in ("date", "database", "jobs", "starter_answers")}
        raw |= {label: {"requests": result[label]["requests"]} for label in ("baseline", "with_jobs")}
        Path(args.raw).write_text(json.dumps(raw, default=str))
    if not args.no_docs:
        update_docs(result)
        print(f"Recorded in {DOCS.relative_to(ROOT)}")
    return 0 if not result["problems"] else 1


if __name__ == "__main__":
    sys.exit(main())
