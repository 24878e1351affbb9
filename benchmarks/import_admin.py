"""Time the admin's import pages with a 5,000-row file and record the figures in docs/benchmarks.md.

    .venv/bin/python benchmarks/import_admin.py                 # SQLite in a temporary file
    .venv/bin/python benchmarks/import_admin.py --database-url postgres://postgres@127.0.0.1:5432/postgres

The data is the health system of benchmarks/imports.py (50 organizations, 5,000 applications). A logged-in
officer (Django's test client, the whole middleware stack, DEBUG off) uploads a CSV of 5,000 new user counts:
the upload answers after the full dry run (every row validated, written and rolled back, the preview
record saved); then the preview page (100 rows a page, errors and changes first) is opened five times;
then the confirm writes the 5,000 rows. Requirements: upload (dry run) under 10 s, preview page under 1 s.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from imports import (  # noqa: E402 (benchmarks are scripts; the path is set just above)
    OFFICER,
    YEARS,
    NamedPostgresTarget,
    analyze,
    build_system,
    machine_note,
    planned_counts,
    write_file,
)
from seed_scale import SQLiteTarget, database_label  # noqa: E402

DOCS = ROOT / "docs" / "benchmarks.md"
START_MARKER = "<!-- import-admin-results:start -->"
END_MARKER = "<!-- import-admin-results:end -->"
TABLE_HEADER = (
    "| Date | Database | Load (1 min) | Rows | Upload and dry run (s) | Preview page, median of 5 (s) "
    "| Preview queries | Confirm (s) |\n|---|---|---:|---:|---:|---:|---:|---:|"
)
ROWS = 5000


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="", help="postgres://... for PostgreSQL; empty for SQLite")
    parser.add_argument("--no-docs", action="store_true", help="print the result only")
    return parser.parse_args()


def measure(workdir: Path) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from licensing.models import DataImport, UserCount

    path = workdir / "user-counts-new.csv"
    write_file(path, planned_counts(ROWS, year_offset=len(YEARS)))
    analyze()
    client = Client()
    client.force_login(get_user_model().objects.get(username=OFFICER))
    result = {}
    with path.open("rb") as upload:
        started = time.perf_counter()
        response = client.post(reverse("admin:licensing_usercount_import"), {"file": upload, "change_reason": "Bench"})
        result["upload"] = time.perf_counter() - started
    assert response.status_code == 302, response.status_code
    preview = DataImport.objects.get(outcome=DataImport.Outcome.PREVIEWED)
    assert (preview.new_rows, preview.error_rows) == (ROWS, 0), (preview.new_rows, preview.report.get("problems"))
    assert UserCount.objects.count() == 0
    page_url = response["Location"]
    timings = []
    for _ in range(5):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            page = client.get(page_url)
            timings.append(time.perf_counter() - started)
        assert page.status_code == 200 and "Rows 1 to 100 of 5000" in page.content.decode()
    result["preview"] = statistics.median(timings)
    result["preview_queries"] = len(queries.captured_queries)
    started = time.perf_counter()
    confirmed = client.post(page_url)
    result["confirm"] = time.perf_counter() - started
    assert confirmed.status_code == 302
    assert UserCount.objects.count() == ROWS and UserCount.history.count() == ROWS
    return result


def update_docs(result: dict) -> None:
    text = DOCS.read_text()
    if START_MARKER not in text:
        text = text.rstrip("\n") + (
            "\n\n### The admin's import pages (benchmarks/import_admin.py)\n\n"
            "A logged-in officer uploads 5,000 new user counts (CSV) through the admin: the upload answers after "
            "the full dry run; the preview page shows 100 rows; the confirm writes them. Requirement: upload "
            f"under 10 s, preview page under 1 s. Machine: {machine_note()}.\n\n{START_MARKER}\n{END_MARKER}\n"
        )
    head, rest = text.split(START_MARKER, 1)
    body, tail = rest.split(END_MARKER, 1)
    rows = [line for line in body.splitlines() if line.startswith("| ") and not line.startswith("| Date")]
    rows = [row for row in rows if row.split("|")[2].strip() != result["database"]]
    rows.append(
        f"| {result['date']} | {result['database']} | {result['load']:.1f} | {ROWS:,} | {result['upload']:.2f} "
        f"| {result['preview']:.3f} | {result['preview_queries']} | {result['confirm']:.2f} |"
    )
    DOCS.write_text(f"{head}{START_MARKER}\n{TABLE_HEADER}\n" + "\n".join(sorted(rows)) + f"\n{END_MARKER}{tail}")


def main():
    args = parse_args()
    url = args.database_url
    target = NamedPostgresTarget(url, "") if url else SQLiteTarget()
    target.create()
    os.environ.update(
        {
            "DATABASE_URL": target.url,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DEBUG": "False",
            "SECRET_KEY": os.environ.get("SECRET_KEY", "benchmark-only-secret-key-not-for-production-use-0123456789"),
            "ALLOWED_HOSTS": "testserver",
            "MEDIA_ROOT": tempfile.mkdtemp(prefix="import-admin-media-"),
        }
    )
    try:
        import datetime

        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        call_command("migrate", verbosity=0)
        build_system()
        result = {"database": database_label(), "load": os.getloadavg()[0]}
        result["date"] = datetime.date.today().isoformat()  # noqa: DTZ011 (the machine's date, as the other tables)
        result |= measure(Path(tempfile.mkdtemp(prefix="import-admin-")))
        connections.close_all()
    finally:
        target.drop()
    print(
        f"{result['database']}: upload and dry run {result['upload']:.2f} s, preview page {result['preview']:.3f} s "
        f"({result['preview_queries']} queries), confirm {result['confirm']:.2f} s"
    )
    if result["upload"] >= 10 or result["preview"] >= 1:
        print("Over budget: upload must take under 10 s and the preview page under 1 s.")
    if not args.no_docs:
        update_docs(result)
    return 0 if result["upload"] < 10 and result["preview"] < 1 else 1


if __name__ == "__main__":
    sys.exit(main())
