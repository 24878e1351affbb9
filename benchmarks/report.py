"""Time the compliance report of a large health system: the data, CSV, XLSX and above all the PDF.

    .venv/bin/python benchmarks/report.py                 # SQLite in a temporary file
    .venv/bin/python benchmarks/report.py --entities 10 --applications 5
    .venv/bin/python benchmarks/report.py --database-url postgres://postgres@127.0.0.1:5432/postgres

A health system of 50 legal entities (the system and 49 affiliates) with 20 applications each, every one
counted (head counts and proxy counts) and licensed in various states, written through the audited bulk
path. It prints the queries and seconds of licensing.reports.compliance_report, the seconds of each writer,
and for the PDF the first render (WeasyPrint's import included) and the median of three after it. Nothing is
asserted; the database is a fresh one, dropped afterwards.
"""

import argparse
import io
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from seed_scale import PostgresTarget, SQLiteTarget, database_label  # noqa: E402 (benchmarks are scripts; the path is set just above)

YEAR = 2026
REASON = "Benchmark data"
CATEGORIES = ["billing_rcm", "ambulatory_ehr", "coding", "chargemaster", "analytics", "lab_radiology", "inpatient_ehr"]
FILE_SETS = [["cpt-standard"], ["cpt-standard", "cpt-rvu"], ["cpt-standard", "cpt-rvu", "cpt-snomed"]]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=50, help="legal entities, the system included (default 50)")
    parser.add_argument("--applications", type=int, default=20, help="applications per entity (default 20)")
    parser.add_argument(
        "--database-url", default="", help="postgres://... for PostgreSQL; empty for a temporary SQLite file"
    )
    return parser.parse_args()


def create_system(entities: int, per_entity: int):
    """The health system and its affiliates, their applications, counts and licenses (audited bulk writes)."""
    from licensing import services
    from licensing.models import Application, DataFile, License, Organization, UserCount, Vendor
    from tests.factories import valid_npi

    def bulk(objs, model, **options):
        return services.record_bulk_create(objs, model, actor=None, reason=REASON, **options)

    [system] = bulk(
        [Organization(name="Benchmark Health System", slug="benchmark-health", kind="health_system", npi=valid_npi())],
        Organization,
    )
    affiliates = bulk(
        [
            Organization(
                name=f"Benchmark Affiliate {number:02d}",
                slug=f"benchmark-affiliate-{number:02d}",
                kind="hospital" if number % 3 else "physician_group",
                parent=system,
                ein=f"{36 + number % 60:02d}{2000000 + number:07d}",
                npi=valid_npi(),
            )
            for number in range(1, entities)
        ],
        Organization,
    )
    [vendor] = bulk([Vendor(name="Benchmark Software", is_authorized_distributor=True)], Vendor)
    file_ids = dict(DataFile.objects.values_list("code", "pk"))
    applications, files = [], []
    for organization in [system, *affiliates]:
        for index in range(per_entity):
            category = CATEGORIES[index % len(CATEGORIES)]
            coverage = "vendor" if index % 6 == 5 else ("no_cpt" if index % 10 == 9 else "direct")
            applications.append(
                Application(
                    organization=organization,
                    name=f"{category.replace('_', ' ').title()} system {index + 1:02d}",
                    category=category,
                    cpt_coverage=coverage,
                    vendor=vendor if coverage == "vendor" or index % 2 else None,
                )
            )
            files.append([] if coverage == "no_cpt" else [file_ids[code] for code in FILE_SETS[index % 3]])
    applications = bulk(applications, Application, m2m={"data_files": files})
    counts, licenses = [], []
    for index, application in enumerate(applications):
        if application.cpt_coverage == "no_cpt":
            continue
        if index % 3 == 0:
            counts.append(
                UserCount(
                    application=application,
                    license_year=YEAR,
                    method="proxy",
                    base_metric="physicians",
                    metric_value=Decimal(20 + index % 40),
                    factor=Decimal(4),
                    metric_source="Medical staff roster, January",
                )
            )
            users = (20 + index % 40) * 4
        elif index % 17 != 4:
            counts.append(
                UserCount(
                    application=application,
                    license_year=YEAR,
                    method="counted",
                    direct_users=100 + index % 50,
                    program_users=10 + index % 7,
                    output_users=index % 9,
                )
            )
            users = 110 + index % 50 + index % 7 + index % 9
        else:
            users = 0
        if application.cpt_coverage == "vendor":
            continue
        active = index % 4 != 3
        licenses.append(
            License(
                application=application,
                license_year=YEAR,
                status="active" if active else "needed",
                licensed_users=max(users - index % 5, 1) if active else None,
                agreement_number=f"AMA-IU-{index:06d}" if active else "",
            )
        )
    bulk(counts, UserCount)
    bulk(licenses, License)
    return system


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def timed_cpu(function, *args, **kwargs) -> tuple[float, float]:
    """Wall and CPU seconds of one call: on a shared machine the CPU time is the steadier figure."""
    wall, cpu = time.perf_counter(), time.process_time()
    function(*args, **kwargs)
    return time.perf_counter() - wall, time.process_time() - cpu


def main():
    args = parse_args()
    url = args.database_url
    if url and not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("--database-url must be a postgres:// URL; leave it out for SQLite")
    target = PostgresTarget(url) if url else SQLiteTarget()
    target.create()
    try:
        os.environ.update({"DATABASE_URL": target.url, "DJANGO_SETTINGS_MODULE": "portal.settings"})
        import django

        django.setup()
        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from django.db import connection, transaction
        from django.test.utils import CaptureQueriesContext
        from pypdf import PdfReader

        from licensing import reports

        call_command("migrate", verbosity=0)
        with transaction.atomic():
            system, seeded = timed(create_system, args.entities, args.applications)
        admin = get_user_model().objects.create_superuser("benchmark-admin", "admin@example.org", None)
        with CaptureQueriesContext(connection) as queries:
            report, built = timed(reports.compliance_report, system, YEAR, include_affiliates=True, viewer=admin)
        csv_data, csv_seconds = timed(reports.as_csv, report)
        xlsx_data, xlsx_seconds = timed(reports.as_xlsx, report)
        assert "weasyprint" not in sys.modules, "the first PDF should pay WeasyPrint's import"
        pdf_data, first = timed(reports.as_pdf, report)
        runs = [timed_cpu(reports.as_pdf, report) for _ in range(3)]
        walls, cpus = [wall for wall, _ in runs], [cpu for _, cpu in runs]
        pages = len(PdfReader(io.BytesIO(pdf_data)).pages)
        database = database_label()
    finally:
        from django.db import connections

        connections.close_all()
        target.drop()
    lines = len(report.applications)
    print(
        f"{database}: {len(report.entities)} legal entities, {lines} applications (seeded in {seeded:.1f} s).\n"
        f"  data: {len(queries)} queries, {built:.2f} s\n"
        f"  CSV: {len(csv_data) / 1024:.0f} KB in {csv_seconds:.2f} s; XLSX: {len(xlsx_data) / 1024:.0f} KB "
        f"in {xlsx_seconds:.2f} s\n"
        f"  PDF: {pages} pages, {len(pdf_data) / 1024:.0f} KB; first render {first:.2f} s (WeasyPrint's import "
        f"included), median of 3 {statistics.median(walls):.2f} s, CPU {statistics.median(cpus):.2f} s "
        f"(runs {', '.join(f'{w:.2f}' for w in walls)}; load {os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    main()
