"""The application PDF: content from the snapshot, PDF/A and metadata, page furniture, DRAFT, safe fetching, ZIP."""

import io
import os
import re
import shutil
import socket
import subprocess
import sys
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection, transaction
from pypdf import PdfReader

from licensing import filings, pdf
from licensing.models import Contact, Filing
from tests.factories import (
    ApplicationFactory,
    LicenseFactory,
    OrganizationFactory,
    ProxyCountFactory,
    UserCountFactory,
    VendorFactory,
    record,
)

# Also makes pytest-django create the test database, which the module-scoped snapshot fixture writes to.
pytestmark = pytest.mark.django_db

YEAR = 2026
ORG_NAME = "Lakeside Medical Center & Clinics"
# Letter is 792 pt high; the page margins are 0.9 in at the top and 0.8 in at the bottom.
HEADER_BOTTOM, FOOTER_TOP = 792 - 0.9 * 72, 0.8 * 72


def build_filing(*, org_name=ORG_NAME, extra_applications=0, long_names=False) -> Filing:
    parent = OrganizationFactory(name=f"{org_name} Health System")
    organization = OrganizationFactory(
        name=org_name,
        parent=parent,
        street="1200 Lakeshore Drive",
        city="Springfield",
        state="IL",
        postal_code="62701",
        phone="217-555-0100",
    )
    record(
        Contact,
        organization=organization,
        role="primary",
        name="Morgan Lee",
        title="Chief Compliance Officer",
        email="morgan.lee@lakeside.example.org",
        phone="217-555-0142",
    )
    affiliate = OrganizationFactory(name=f"{org_name} Physicians LLC")
    vendor = VendorFactory(name=f"Meridian Health Software {organization.pk}")
    billing = ApplicationFactory(
        organization=organization,
        name="Patient Accounting",
        category="billing_rcm",
        vendor=vendor,
        product_version="2025.2",
        deployment="hosted",
        data_files=["cpt-standard", "cpt-rvu"],
        internal_use="Charge capture, claim coding and denial follow-up in the central billing office.",
        internet_facing=True,
        internet_use="Coders work from home through the vendor's web client.",
        users_outside_us=True,
        countries_outside_us="India, Philippines",
    )
    billing.users_at_other_entities.set([affiliate])
    ehr = ApplicationFactory(
        organization=organization,
        name="Clinic EHR",
        category="ambulatory_ehr",
        deployment="saas",
        data_files=["cpt-standard"],
        internal_use="Physicians pick procedures for orders and visit notes.",
    )
    encoder = ApplicationFactory(
        organization=organization,
        name="Encoder <Pro> & Co",
        category="coding",
        data_files=["cpt-standard"],
        internal_use="Coding staff look up codes and descriptors.",
    )
    UserCountFactory(application=billing, license_year=YEAR, direct_users=1200, program_users=150, output_users=45)
    ProxyCountFactory(
        application=ehr,
        license_year=YEAR,
        base_metric="physicians",
        metric_value=Decimal(85),
        factor=Decimal(4),
        metric_source="Medical staff office roster, January 2026",
    )
    UserCountFactory(application=encoder, license_year=YEAR, direct_users=12, program_users=3, output_users=0)
    LicenseFactory(application=billing, license_year=YEAR, licensed_users=1395)
    applications = [billing, ehr, encoder]
    for number in range(extra_applications):
        name = f"Department system {number:02d}"
        if long_names:
            name += " used by the radiology, laboratory, pharmacy and outpatient surgery departments for orders"
        application = ApplicationFactory(
            organization=organization,
            name=name,
            category="analytics",
            data_files=["cpt-standard", "cpt-rvu"] if number % 2 else ["cpt-standard"],
            internal_use="Reports on procedure volumes by department.",
        )
        if number % 3:
            UserCountFactory(application=application, license_year=YEAR, direct_users=20 + number, program_users=number)
        else:
            ProxyCountFactory(
                application=application, license_year=YEAR, metric_value=Decimal(10 + number), factor=Decimal("1.5")
            )
        applications.append(application)
    filing = record(
        Filing,
        organization=organization,
        license_year=YEAR,
        signatory_name="Morgan Lee",
        signatory_title="Chief Compliance Officer",
        attests_accurate=True,
        attests_will_report_changes=True,
    )
    filing.applications.set(applications)
    return filing


def snapshot_of(django_db_blocker, **options) -> dict:
    """A snapshot from real rows, which are rolled back so the module's data leaks into no other test."""
    with django_db_blocker.unblock(), transaction.atomic():
        name = str(connection.settings_dict["NAME"])
        assert "memorydb" in name or name.startswith("test"), f"not a test database: {name}"
        data = filings.snapshot(build_filing(**options))
        transaction.set_rollback(True)
    return data


@pytest.fixture(scope="module")
def snapshot(django_db_setup, django_db_blocker):
    return snapshot_of(django_db_blocker)


@pytest.fixture(scope="module")
def final_pdf(snapshot):
    return pdf.render_application(snapshot, draft=False)


@pytest.fixture(scope="module")
def draft_pdf(snapshot):
    return pdf.render_application(snapshot, draft=True)


def pages_text(data: bytes) -> list[str]:
    """Each page's text with runs of whitespace made one space, so wrapped lines still match."""
    return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(data)).pages]


def text_between(page, low: float, high: float) -> str:
    """The text a page draws between two heights, in PDF points from the bottom edge."""
    found = []

    def visit(text, cm, tm, font, size):
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        if low <= y <= high and text.strip():
            found.append(text)

    page.extract_text(visitor_text=visit)
    return " ".join(found)


def money(amount: str) -> str:
    return f"${Decimal(amount):,.2f}"


def test_every_answer_of_the_snapshot_is_in_the_pdf(snapshot, final_pdf):
    text = "\n".join(pages_text(final_pdf))
    organization = snapshot["organization"]
    assert organization["ein"] and organization["npi"]
    for expected in [
        "CPT License Application — Internal Use",
        ORG_NAME,
        organization["parent"],
        organization["ein"],
        organization["npi"],
        "1200 Lakeshore Drive, Springfield, IL 62701",
        "Morgan Lee, Chief Compliance Officer",
        "217-555-0142",
        "morgan.lee@lakeside.example.org",
        snapshot["document_id"],
        f"{ORG_NAME} Physicians LLC",
        "India, Philippines",
        "Coders work from home through the vendor's web client.",
        "SaaS",
        "CPT Standard, CPT Relative Value Units",
        "Medical staff office roster, January 2026",
        snapshot["attestation"]["text"][:60],
        snapshot["attestation"]["confidentiality"][:60],
    ]:
        assert expected in text, expected
    assert [app["name"] for app in snapshot["applications"]] == [
        "Clinic EHR",
        "Encoder <Pro> & Co",
        "Patient Accounting",
    ]
    for application in snapshot["applications"]:
        assert application["name"] in text, application["name"]
        assert f"{application['count']['users']:,}" in text
    # Each kind of a counted count and the proxy inputs appear as numbers, grouped like the totals.
    for number in ["1,395", "1,200", "150", "45", "340", "85", "15"]:
        assert re.search(rf"(?<![\d,]){number}(?![\d,])", text), number
    fees = snapshot["fees"]
    assert fees["total"] and fees["applications_total"] and fees["entity_fee"]
    for amount in [fees["total"], fees["applications_total"], fees["entity_fee"]] + [
        line["amount"] for line in fees["lines"]
    ]:
        assert money(amount) in text, amount
    assert "$58,265.00" in text  # 1,395 x $37 + 340 x $18.50 + 15 x $18.50 + the $82.50 entity fee, at 2026 rates


def test_a_year_without_rates_and_an_uncounted_application_still_render(snapshot):
    # The shape filings.snapshot gives when no rate schedule covers the year and a count is missing.
    problem = f"No rate schedule covers {YEAR}. Add one under Rate schedules, with its source."
    data = {
        **snapshot,
        "applications": [
            {**snapshot["applications"][0], "count": {"method": None, "users": None, "explanation": "Not counted"}}
        ],
        "fees": {
            "rate_year": YEAR,
            "rates_label": problem,
            "is_estimate": True,
            "entity_fee": None,
            "entity_fee_note": "",
            "per_user_rates": [],
            "lines": [
                {
                    "application": "Clinic EHR",
                    "users": None,
                    "per_user": None,
                    "flat_fees": None,
                    "amount": None,
                    "note": problem,
                }
            ],
            "applications_total": None,
            "total": None,
        },
    }
    text = " ".join(pages_text(pdf.render_application(data, draft=True)))
    assert problem in text and "Not available" in text and "Not counted" in text
    assert "$" not in text


def test_values_are_escaped_not_interpreted_as_html(final_pdf):
    assert "Encoder <Pro> & Co" in "\n".join(pages_text(final_pdf))


def test_metadata_and_pdfa_3b_identification(snapshot, final_pdf):
    reader = PdfReader(io.BytesIO(final_pdf))
    info = reader.metadata
    assert ORG_NAME in info["/Title"] and str(YEAR) in info["/Title"]
    assert info["/Author"] == ORG_NAME
    assert snapshot["document_id"] in info["/Subject"]
    assert "CPT" in info["/Keywords"] and snapshot["document_id"] in info["/Keywords"]
    root = reader.trailer["/Root"]
    assert "/OutputIntents" in root
    xmp = root["/Metadata"].get_object().get_data().decode()
    assert re.search(r'pdfaid:part(="|>)3', xmp) and re.search(r'pdfaid:conformance(="|>)B', xmp)
    assert reader.trailer["/ID"][0] == snapshot["document_id"]


def test_every_font_is_embedded(final_pdf):
    reader = PdfReader(io.BytesIO(final_pdf))
    descriptors = []
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            for part in font.get("/DescendantFonts", [font]):
                descriptors.append(part.get_object()["/FontDescriptor"].get_object())
    assert descriptors
    assert all({"/FontFile", "/FontFile2", "/FontFile3"} & set(descriptor) for descriptor in descriptors)
    names = {descriptor["/FontName"].split("+")[-1] for descriptor in descriptors}
    assert {"Liberation-Sans", "Liberation-Serif-Bold"} <= names, names


def test_page_numbers_header_and_footer_on_every_page(snapshot, final_pdf):
    reader = PdfReader(io.BytesIO(final_pdf))
    count = len(reader.pages)
    assert count >= 3
    assert "Page 1 of" in reader.pages[0].extract_text()
    for number, page in enumerate(reader.pages, start=1):
        header, footer = text_between(page, HEADER_BOTTOM, 792), text_between(page, 0, FOOTER_TOP)
        assert ORG_NAME in header and f"License year {YEAR}" in header, (number, header)
        assert f"Page {number} of {count}" in footer and snapshot["document_id"] in footer, (number, footer)


def test_draft_is_marked_on_every_page_and_final_nowhere(draft_pdf, final_pdf):
    draft_pages = pages_text(draft_pdf)
    assert all("DRAFT" in text for text in draft_pages)
    assert "DRAFT — not submitted" in draft_pages[0]
    assert not any("DRAFT" in text for text in pages_text(final_pdf))


def test_same_snapshot_gives_the_same_bytes(snapshot, final_pdf):
    assert pdf.render_application(snapshot, draft=False) == final_pdf


def test_first_page_rasterises_to_a_letter_page_with_ink(final_pdf, tmp_path):
    from PIL import Image

    assert shutil.which("pdftoppm"), "pdftoppm is missing: install poppler-utils (make setup does)"
    (tmp_path / "application.pdf").write_bytes(final_pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", "application.pdf", "page"], cwd=tmp_path, check=True
    )
    [png] = tmp_path.glob("page-*.png")
    assert png.stat().st_size > 5_000
    with Image.open(png) as image:
        assert image.size == (425, 550)  # 8.5 x 11 in at 50 dpi
        grey = image.convert("L")
        dark = sum(grey.histogram()[:128]) / (image.size[0] * image.size[1])
    assert 0.005 < dark < 0.2, dark  # text on a mostly white page


def test_fetcher_serves_only_pdf_assets():
    fetcher = pdf.asset_fetcher()
    response = fetcher(f"{pdf.BASE_URL}application.css")
    assert b"@page" in response.read() and response.content_type == "text/css"
    for url in [
        "file:///etc/passwd",
        f"file://{pdf.STATIC_DIR}/licensing/pdf/application.css",
        f"file://{pdf.ASSETS_HOST}/licensing/admin.css",
        f"file://{pdf.ASSETS_HOST}/licensing/pdf/../../../portal/settings.py",
        f"file://{pdf.ASSETS_HOST}/licensing/pdf/%2e%2e/%2e%2e/%2e%2e/portal/settings.py",
        f"file://{pdf.ASSETS_HOST}/licensing/pdf/missing.css",
        "http://127.0.0.1/application.css",
        "https://example.org/application.css",
        "data:text/css,body{}",
        "ftp://example.org/x",
    ]:
        with pytest.raises(pdf.AssetRefused):
            fetcher(url)


def test_a_symlink_out_of_the_assets_folder_is_refused(tmp_path, monkeypatch):
    assets = tmp_path / "licensing" / "pdf"
    assets.mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("secret")
    (assets / "secret.css").symlink_to(tmp_path / "secret.txt")
    monkeypatch.setattr(pdf, "STATIC_DIR", tmp_path)
    monkeypatch.setattr(pdf, "ASSETS_DIR", assets)
    with pytest.raises(pdf.AssetRefused):
        pdf.asset_path(f"{pdf.BASE_URL}secret.css")


@pytest.mark.parametrize("kind", ["file", "http"])
def test_html_naming_a_forbidden_url_is_not_rendered_and_nothing_is_read(kind):
    # A local server shows whether WeasyPrint tried to connect.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(0.3)
        url = "file:///etc/passwd" if kind == "file" else f"http://127.0.0.1:{server.getsockname()[1]}/logo.png"
        html = (
            '<html><head><link rel="stylesheet" href="application.css"></head>'
            f'<body><p>x</p><img src="{url}"></body></html>'
        )
        fetcher = pdf.asset_fetcher()
        with pytest.raises(pdf.RenderError, match="may only read its own static files"):
            pdf.html_to_pdf(html, fetcher=fetcher)
        assert fetcher.requested == [f"{pdf.BASE_URL}application.css", url]
        with pytest.raises(TimeoutError):
            server.accept()


def test_a_stylesheet_url_cannot_reach_outside_either():
    html = '<html><head><style>@import url("file:///etc/hostname");</style></head><body>x</body></html>'
    with pytest.raises(pdf.RenderError):
        pdf.html_to_pdf(html)


def test_importing_the_project_does_not_import_weasyprint():
    code = (
        "import sys, django; django.setup(); import portal.urls, licensing.pdf, licensing.admin; "
        "sys.exit(1 if 'weasyprint' in sys.modules else 0)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent, env=env, check=False
    )
    assert result.returncode == 0, "weasyprint was imported at start-up"


def test_long_filing_keeps_table_rows_whole(django_db_blocker):
    data = snapshot_of(
        django_db_blocker, org_name="Northfield Regional Hospital", extra_applications=37, long_names=True
    )
    assert len(data["applications"]) == len(data["fees"]["lines"]) == 40
    document = pdf.layout(pdf.render_html(data, draft=False))
    assert 10 <= len(document.pages) <= 40, len(document.pages)
    pages_of_row = {}
    for number, page in enumerate(document.pages):
        for box in page._page_box.descendants():
            if type(box).__name__ == "TableRowGroupBox" and not box.is_header:
                for row in box.children:
                    pages_of_row.setdefault(id(row.element), set()).add(number)
    assert len(pages_of_row) == 40 + len(data["fees"]["per_user_rates"])
    assert all(len(pages) == 1 for pages in pages_of_row.values())
    # The fee table runs over more than one page, with its header repeated.
    assert len({page for pages in pages_of_row.values() for page in pages}) >= 2
    text = pages_text(document.write_pdf(pdf_variant=pdf.PDF_VARIANT))
    assert sum("Application Users Per user" in page for page in text) >= 2


def test_stream_zip_renders_one_pdf_at_a_time(final_pdf, draft_pdf):
    calls = []

    def later(data, label):
        def render():
            calls.append(label)
            return data

        return render

    items = [
        ("CPT-license-application_lakeside_2026.pdf", final_pdf),
        ("CPT-license-application_lakeside_2026.pdf", later(draft_pdf, "second")),
        ("../CPT-license-application_other_2026.pdf", later(final_pdf, "third")),
    ]
    chunks = pdf.stream_zip(items)
    first = next(chunks)
    assert first.startswith(b"PK\x03\x04") and calls == []
    rest = list(chunks)
    assert calls == ["second", "third"]
    assert sum(1 for chunk in rest if chunk) == 3  # two more files, then the central directory
    archive = zipfile.ZipFile(io.BytesIO(first + b"".join(rest)))
    assert archive.testzip() is None
    assert archive.namelist() == [
        "CPT-license-application_lakeside_2026.pdf",
        "CPT-license-application_lakeside_2026 (2).pdf",
        "_CPT-license-application_other_2026.pdf",
    ]
    for name, expected in zip(archive.namelist(), [final_pdf, draft_pdf, final_pdf], strict=True):
        member = archive.read(name)
        assert member == expected and member.startswith(b"%PDF-")
        assert len(PdfReader(io.BytesIO(member)).pages) >= 1
