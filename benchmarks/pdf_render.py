"""Time the application PDF and measure the memory of a streamed ZIP; record the figures in docs/benchmarks.md.

    .venv/bin/python benchmarks/pdf_render.py                 # SQLite in a temporary file
    .venv/bin/python benchmarks/pdf_render.py --no-docs
    .venv/bin/python benchmarks/pdf_render.py --database-url postgres://postgres@127.0.0.1:5432/postgres

1. One filing with 50 applications (counted and proxy counts, one to three AMA data files, some
   Internet-facing or used abroad): the first render in this process, WeasyPrint's import
   included, then the median of 5 renders after one warm-up. Requirement: median under 2 s.
2. A ZIP of 100 filings of 3 or 4 applications each, streamed by licensing.pdf.stream_zip with
   one PDF rendered at a time, in a child process whose peak resident memory is measured.
   Requirement: under 400 MB.

The database is fresh and migrated: a temporary SQLite file, or a PostgreSQL database created
beside the one named in the URL and dropped afterwards.
"""

import argparse
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
import zipfile
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from seed_scale import PostgresTarget, SQLiteTarget, database_label  # noqa: E402 (benchmarks are scripts; the path is set just above)

DOCS = ROOT / "docs" / "benchmarks.md"
START_MARKER = "<!-- pdf-render-results:start -->"
END_MARKER = "<!-- pdf-render-results:end -->"
TABLE_HEADER = (
    "| Date | Database | Machine | Load (1 min) | Pages (50 apps) | First render incl. import (s) | Median of 5 (s) "
    "| CPU median (s) | ZIP filings | ZIP pages | ZIP seconds | ZIP MB | Peak memory (MB) |\n"
    "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)
YEAR = 2026
RENDER_BUDGET_SECONDS = 2.0
MEMORY_BUDGET_MB = 400
BIG_FILING_APPLICATIONS = 50
ZIP_FILINGS = 100


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default="", help="postgres://... for PostgreSQL; empty for a temporary SQLite file"
    )
    parser.add_argument("--no-docs", action="store_true", help="print the result only; leave docs/benchmarks.md alone")
    parser.add_argument("--zip-child", metavar="OUT", help=argparse.SUPPRESS)
    return parser.parse_args()


def setup_django(url: str) -> None:
    os.environ.update({"DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "portal.settings"})
    import django

    django.setup()


CATEGORIES = ["billing_rcm", "ambulatory_ehr", "coding", "chargemaster", "analytics", "lab_radiology", "inpatient_ehr"]
FILE_SETS = [["cpt-standard"], ["cpt-standard", "cpt-rvu"], ["cpt-standard", "cpt-rvu", "cpt-snomed"]]


def create_filing(slug: str, applications: int):
    """One organization with `applications` applications counted for YEAR, and its draft filing."""
    from licensing.models import Contact, Filing
    from tests.factories import (
        ApplicationFactory,
        OrganizationFactory,
        ProxyCountFactory,
        UserCountFactory,
        VendorFactory,
        record,
    )

    organization = OrganizationFactory(
        name=f"Benchmark Regional Health {slug}",
        slug=slug,
        street="100 Main Street",
        postal_code="62701",
        phone="217-555-0100",
    )
    record(
        Contact,
        organization=organization,
        role="primary",
        name="Jordan Avery",
        title="Director of Compliance",
        email=f"compliance@{slug}.example.org",
        phone="217-555-0199",
    )
    affiliate = OrganizationFactory(name=f"Benchmark Physicians {slug} LLC", slug=f"{slug}-physicians")
    vendor = VendorFactory(name=f"Benchmark Software {slug}")
    included = []
    for index in range(applications):
        application = ApplicationFactory(
            organization=organization,
            name=f"{CATEGORIES[index % len(CATEGORIES)].replace('_', ' ').title()} system {index + 1:02d}",
            category=CATEGORIES[index % len(CATEGORIES)],
            vendor=vendor if index % 2 else None,
            product_version=f"{2020 + index % 6}.{index % 4}",
            deployment=["on_premise", "hosted", "saas"][index % 3],
            data_files=FILE_SETS[index % len(FILE_SETS)],
            internal_use="Charge capture, claim coding and coding review; staff look up CPT codes and descriptors.",
            internet_facing=index % 5 == 1,
            internet_use="Remote coders sign in through the vendor's web portal." if index % 5 == 1 else "",
            users_outside_us=index % 11 == 3,
            countries_outside_us="India, Philippines" if index % 11 == 3 else "",
        )
        if index % 7 == 2:
            application.users_at_other_entities.set([affiliate])
        if index % 3 == 0:
            ProxyCountFactory(
                application=application,
                license_year=YEAR,
                base_metric="physicians",
                metric_value=Decimal(40 + index),
                factor=Decimal(4),
                metric_source="Medical staff roster, January",
            )
        else:
            UserCountFactory(
                application=application,
                license_year=YEAR,
                direct_users=100 + 17 * index,
                program_users=10 + index,
                output_users=index % 9,
            )
        included.append(application)
    filing = record(
        Filing,
        organization=organization,
        license_year=YEAR,
        signatory_name="Jordan Avery",
        signatory_title="Director of Compliance",
        attests_accurate=True,
        attests_will_report_changes=True,
    )
    filing.applications.set(included)
    return filing


def bench_render(filing) -> dict:
    from licensing import filings, pdf

    assert "weasyprint" not in sys.modules, "the first render should pay WeasyPrint's import"
    snapshot = filings.snapshot(filing)
    started = time.perf_counter()
    data = pdf.render_application(snapshot, draft=True)
    first = time.perf_counter() - started
    pdf.render_application(snapshot, draft=True)  # warm-up
    walls, cpus = [], []
    for _ in range(5):
        wall, cpu = time.perf_counter(), time.process_time()
        data = pdf.render_application(snapshot, draft=True)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    from pypdf import PdfReader

    return {
        "pages": len(PdfReader(io.BytesIO(data)).pages),
        "first": first,
        "median": statistics.median(walls),
        "cpu_median": statistics.median(cpus),
        "walls": walls,
    }


def zip_child(out: str) -> None:
    """In the child: stream the ZIP of every benchmark filing but the big one to `out`, one PDF at a time."""
    from licensing import filings, pdf
    from licensing.models import Filing

    chosen = Filing.objects.select_related("organization").filter(organization__slug__startswith="zip-").order_by("pk")
    items = [
        (filing.file_name, lambda filing=filing: pdf.render_application(filings.snapshot(filing), draft=True))
        for filing in chosen
    ]
    started = time.perf_counter()
    written = 0
    with open(out, "wb") as sink:
        for chunk in pdf.stream_zip(items):
            sink.write(chunk)
            written += len(chunk)
    print(json.dumps({"seconds": time.perf_counter() - started, "bytes": written}))


def run_zip_child(env: dict, out: str) -> dict:
    """Run the ZIP in a child process: its own figures plus its peak resident memory (ru_maxrss, KB on Linux)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--zip-child", out]
    child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"ZIP child failed: {output[-2000:]}")
    result = json.loads(output.strip().splitlines()[-1])
    result["peak_mb"] = usage.ru_maxrss / 1024
    return result


def zip_pages(path: str) -> tuple[int, int]:
    from pypdf import PdfReader

    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pages = sum(len(PdfReader(io.BytesIO(archive.read(name))).pages) for name in names)
    return len(names), pages


def machine_note() -> str:
    memory_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    return f"{os.cpu_count()} cores, {memory_kb / 1024 / 1024:.0f} GB, Python {platform.python_version()}"


def table_row(result: dict) -> str:
    return (
        f"| {result['date']} | {result['database']} | {result['machine']} | {result['load']:.1f} | {result['pages']} "
        f"| {result['first']:.2f} | {result['median']:.2f} | {result['cpu_median']:.2f} | {result['zip_filings']} "
        f"| {result['zip_pages']:,} | {result['zip_seconds']:.1f} | {result['zip_mb']:.1f} | {result['peak_mb']:.0f} |"
    )


def update_docs(result: dict) -> None:
    """Rewrite the results table between the markers: one row per database, newest run wins."""
    text = DOCS.read_text()
    if START_MARKER not in text:
        text = text.rstrip("\n") + f"\n\n## Application PDF rendering\n\n{START_MARKER}\n{END_MARKER}\n"
    head, rest = text.split(START_MARKER, 1)
    body, tail = rest.split(END_MARKER, 1)
    rows = [line for line in body.splitlines() if line.startswith("| ") and not line.startswith("| Date")]
    rows = [row for row in rows if row.strip("|").split("|")[1].strip() != result["database"]]
    rows.append(table_row(result))
    rows.sort(key=lambda row: row.strip("|").split("|")[1].strip())
    DOCS.write_text(f"{head}{START_MARKER}\n{TABLE_HEADER}\n" + "\n".join(rows) + f"\n{END_MARKER}{tail}")


def main():
    args = parse_args()
    if args.zip_child:
        import django

        django.setup()
        zip_child(args.zip_child)
        return
    url = args.database_url
    if url and not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("--database-url must be a postgres:// URL; leave it out for SQLite")
    target = PostgresTarget(url) if url else SQLiteTarget()
    target.create()
    workdir = tempfile.mkdtemp(prefix="pdf-render-")
    try:
        setup_django(target.url)
        from django.core.management import call_command
        from django.db import connections, transaction

        call_command("migrate", verbosity=0)
        database = database_label()
        with transaction.atomic():
            big = create_filing("large", BIG_FILING_APPLICATIONS)
            for number in range(1, ZIP_FILINGS + 1):
                create_filing(f"zip-{number:03d}", 3 + number % 2)
        load = os.getloadavg()[0]
        render = bench_render(big)
        # The child must find the database free of this process's connection (SQLite locks, PostgreSQL drop).
        connections.close_all()
        out = str(Path(workdir) / "filings.zip")
        env = {**os.environ, "DATABASE_URL": target.url, "DJANGO_SETTINGS_MODULE": "portal.settings"}
        zipped = run_zip_child(env, out)
        members, pages = zip_pages(out)
        if members != ZIP_FILINGS:
            raise SystemExit(f"The ZIP holds {members} PDFs, not {ZIP_FILINGS}")
    finally:
        from django.db import connections

        connections.close_all()
        target.drop()
        for leftover in Path(workdir).glob("*"):
            leftover.unlink()
        os.rmdir(workdir)

    result = {
        "date": datetime.datetime.now(datetime.UTC).date().isoformat(),
        "database": database,
        "machine": machine_note(),
        "load": load,
        **render,
        "zip_filings": members,
        "zip_pages": pages,
        "zip_seconds": zipped["seconds"],
        "zip_mb": zipped["bytes"] / 1024 / 1024,
        "peak_mb": zipped["peak_mb"],
    }
    render_ok = result["median"] < RENDER_BUDGET_SECONDS
    memory_ok = result["peak_mb"] < MEMORY_BUDGET_MB
    print(
        f"{database}: {BIG_FILING_APPLICATIONS}-application filing, {result['pages']} pages: first render "
        f"{result['first']:.2f} s (WeasyPrint import included), median of 5 {result['median']:.2f} s "
        f"({'within' if render_ok else 'OVER'} the {RENDER_BUDGET_SECONDS:.0f} s budget; "
        f"CPU {result['cpu_median']:.2f} s; "
        f"runs {', '.join(f'{wall:.2f}' for wall in result['walls'])}; load {load:.1f}). "
        f"ZIP of {members} filings, {pages:,} pages, {result['zip_mb']:.1f} MB in {result['zip_seconds']:.1f} s, "
        f"peak memory {result['peak_mb']:.0f} MB "
        f"({'within' if memory_ok else 'OVER'} the {MEMORY_BUDGET_MB} MB budget)."
    )
    if not args.no_docs:
        update_docs(result)
        print(f"Recorded in {DOCS.relative_to(ROOT)}")
    if not (render_ok and memory_ok):
        sys.exit(1)


if __name__ == "__main__":
    main()
