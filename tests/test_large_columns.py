"""Pages and lists never read the large columns they do not show (a frozen PDF, a data snapshot, an import's
report, what a job was asked), and they make the same queries for few records and for many.

A column is "read" when a statement names it as Django quotes it on SQLite and PostgreSQL alike
("table"."column"); the same statements before the columns were deferred named every one of them.
"""

import datetime
import hashlib
import io
import zipfile
from functools import partial

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from licensing import reminders, services
from licensing.models import DataImport, Filing, Job
from tests.factories import record

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7 " + b"x" * 20_000
SUBMITTED = datetime.datetime(2026, 1, 5, 12, tzinfo=datetime.UTC)


def statements_naming(captured, table: str, *columns: str) -> list[str]:
    """The captured statements that name any of `table`'s `columns`."""
    needles = [f'"{table}"."{column}"' for column in columns]
    return [query["sql"] for query in captured.captured_queries if any(n in query["sql"] for n in needles)]


def visit(client, url, **query):
    client.get(url, query)  # warm per-process caches (content types), as any second visit finds them
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, query)
    assert response.status_code == 200, (url, response.status_code)
    return response, captured


def listing_queries(client, model, rows: int, add, *, unread: dict, read: dict | None = None) -> int:
    """The queries `model`'s list makes to show `rows` rows (`add(n)` makes the n-th), having checked that none
    names an `unread` column and that some name each `read` one (so the check sees columns at all)."""
    for n in range(model.objects.count(), rows):
        add(n)
    response, captured = visit(client, reverse(f"admin:licensing_{model._meta.model_name}_changelist"), all="")
    assert len(response.context["cl"].result_list) == rows
    for table, columns in unread.items():
        assert statements_naming(captured, table, *columns) == [], (table, columns)
    for table, columns in (read or {}).items():
        assert all(statements_naming(captured, table, column) for column in columns), (table, columns)
    return len(captured)


# Filings -----------------------------------------------------------------------------------------------------


def submitted_filing(organization, year: int) -> Filing:
    return record(
        Filing,
        organization=organization,
        license_year=year,
        status=Filing.Status.SUBMITTED,
        submitted_at=SUBMITTED,
        pdf=PDF,
        pdf_sha256=hashlib.sha256(PDF).hexdigest(),
        snapshot={"applications": [{"name": f"System {n}"} for n in range(200)]},
    )


def test_the_filing_list_reads_no_pdf_or_snapshot_and_the_same_queries_for_few_and_many(officer_client, org_a):
    def listed(rows: int) -> int:
        return listing_queries(
            officer_client,
            Filing,
            rows,
            lambda n: submitted_filing(org_a, 2020 + n),
            unread={"licensing_filing": ("pdf", "snapshot")},
            read={"licensing_filing": ("pdf_sha256",)},  # the list shows the hash
        )

    assert listed(2) == listed(7)


def test_the_zip_streamed_from_the_list_holds_the_stored_pdf_it_did_not_list(auditor_client, org_a):
    # The action gets the list's queryset, PDFs deferred: each is read as it goes into the ZIP.
    filing = submitted_filing(org_a, 2026)
    response = auditor_client.post(
        reverse("admin:licensing_filing_changelist"), {"action": "download_zip", "_selected_action": [filing.pk]}
    )
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.read("CPT-license-application_alpha-health_2026.pdf") == PDF


def test_the_reminders_read_unanswered_filings_without_their_pdf(org_a, officer):
    submitted_filing(org_a, 2026)
    with CaptureQueriesContext(connection) as captured:
        built = reminders.digests(datetime.date(2026, 3, 1))
    assert [item.kind for digest in built for item in digest.items] == [reminders.ReminderKind.FILING_UNANSWERED]
    assert statements_naming(captured, "licensing_filing", "pdf", "snapshot") == []


# Imports and jobs --------------------------------------------------------------------------------------------

REPORT = {"problems": [], "entries": [{"line": n, "values": {"users": n}} for n in range(2_000)]}


def data_import(organization, n: int) -> DataImport:
    return record(
        DataImport,
        resource="user-counts",
        file_name=f"counts-{n}.csv",
        file_sha256=f"{n:064d}",
        outcome=DataImport.Outcome.PREVIEWED,
        reason="Annual recount",
        organization=organization,
        report=REPORT,
    )


def import_job(organization, n: int) -> Job:
    return record(
        Job,
        kind=Job.Kind.IMPORT,
        organization=organization,
        title=f"Import of counts-{n}.csv: preview",
        parameters={"step": "preview", "file_name": f"counts-{n}.csv", "filler": ["x" * 100] * 100},
        data_import=data_import(organization, n),
        state=Job.State.FAILED,
        error="The file was refused and nothing was written.",
        progress_total=10,
    )


def test_the_import_list_reads_no_report_and_the_same_queries_for_few_and_many(officer_client, org_a):
    def listed(rows: int) -> int:
        add = partial(data_import, org_a)
        return listing_queries(officer_client, DataImport, rows, add, unread={"licensing_dataimport": ("report",)})

    assert listed(2) == listed(12)


def test_the_job_list_reads_neither_parameters_nor_errors_and_the_same_queries_for_few_and_many(officer_client, org_a):
    unread = {"licensing_job": ("parameters", "error"), "licensing_dataimport": ("report",)}

    def listed(rows: int) -> int:
        return listing_queries(officer_client, Job, rows, partial(import_job, org_a), unread=unread)

    assert listed(2) == listed(12)


def test_a_jobs_page_and_its_progress_read_neither_the_imports_report_nor_the_parameters(officer_client, org_a):
    small = import_job(org_a, 1)
    large = import_job(org_a, 2)
    large.data_import.report = {**REPORT, "entries": REPORT["entries"] * 5}
    services.record_save(large.data_import, actor=None, reason="A larger preview")

    def page_queries(job: Job) -> int:
        response, captured = visit(officer_client, job.get_absolute_url())
        page = response.content.decode()
        assert "The file was refused and nothing was written." in page and job.data_import.file_name in page
        assert statements_naming(captured, "licensing_dataimport", "report") == []
        assert statements_naming(captured, "licensing_job", "parameters") == []
        return len(captured)

    assert page_queries(small) == page_queries(large)
    response, captured = visit(officer_client, reverse("admin:licensing_job_progress", args=[large.pk]))
    assert response.json()["state"] == "failed"
    assert statements_naming(captured, "licensing_job", "parameters", "error") == []
    assert statements_naming(captured, "licensing_dataimport", "report") == []
