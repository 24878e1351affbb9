"""What the import tests share: a small organization with records of every kind, the files in import_files/,
and a count of every table an import could write to (live and history), to prove a refused file wrote nothing."""

import io
from dataclasses import dataclass
from pathlib import Path

from django.apps import apps

from licensing import imports
from licensing.models import (
    Application,
    ChainHead,
    Contact,
    DataImport,
    License,
    Organization,
    UserCount,
    Vendor,
)
from tests.factories import (
    ApplicationFactory,
    BaseMetricsFactory,
    LicenseFactory,
    OrganizationFactory,
    UserCountFactory,
    VendorFactory,
    record,
)

FILES = Path(__file__).resolve().parent / "import_files"
OTHER_NAME = "Northwind Cardiology"
OTHER_SLUG = "northwind-cardiology"
OTHER_EIN = "981234567"
# The import's own evidence (its record, the record's history and chain head) is written even when refused.
IMPORT_TABLES = {"dataimport", "historicaldataimport"}


@dataclass
class World:
    org: Organization
    other: Organization
    vendor: Vendor
    epic: Application
    cerner: Application
    other_epic: Application
    epic_count: UserCount
    cerner_count: UserCount
    epic_license: License


def build_world(org: Organization) -> World:
    """Alpha Health (the officer's) with two applications, counts, a license, a contact and base metrics; and
    Northwind Cardiology, outside the officer's memberships, with an application of the same system name."""
    other = OrganizationFactory(name=OTHER_NAME, slug=OTHER_SLUG, ein=OTHER_EIN)
    vendor = VendorFactory(name="Epic Systems", is_authorized_distributor=False)
    epic = ApplicationFactory(
        organization=org, name="Epic Ambulatory", category=Application.Category.AMBULATORY_EHR, vendor=vendor
    )
    cerner = ApplicationFactory(organization=org, name="Cerner Billing")
    other_epic = ApplicationFactory(organization=other, name="Epic Ambulatory")
    epic_count = UserCountFactory(application=epic, license_year=2026, direct_users=10, counted_by="Dana Reyes")
    cerner_count = UserCountFactory(application=cerner, license_year=2026, direct_users=20)
    UserCountFactory(application=other_epic, license_year=2026, direct_users=30)
    epic_license = LicenseFactory(application=epic, license_year=2026, licensed_users=10)
    record(Contact, organization=org, role="primary", name="Dana Reyes", email="dana.reyes@example.org")
    BaseMetricsFactory(organization=org, license_year=2026, physicians=12, employees=1850)
    return World(org, other, vendor, epic, cerner, other_epic, epic_count, cerner_count, epic_license)


def read(name: str) -> bytes:
    return (FILES / name).read_bytes()


def run(resource_name: str, file_name: str, content: bytes | None = None, *, actor, dry_run=False, **options):
    """Import a file of import_files/ (or `content` under that name); a confirmed run unless dry_run."""
    if content is None:
        content = read(file_name)
    return imports.run(
        resource_name=resource_name, file_name=file_name, content=content, actor=actor, dry_run=dry_run, **options
    )


def table_counts() -> dict[str, int]:
    """Rows in every table of the portal an import could write: records, their history, link tables and
    their history, chain heads (the import's own record and its history left out)."""
    counts = {}
    for model in apps.get_app_config("licensing").get_models(include_auto_created=True):
        name = model._meta.model_name
        if name in IMPORT_TABLES:
            continue
        rows = model._default_manager.all() if hasattr(model, "_default_manager") else model.objects.all()
        if model is ChainHead:
            rows = rows.exclude(record_type="licensing.dataimport")
        counts[model._meta.db_table] = rows.count()
    return counts


def history_counts(*models) -> dict[str, int]:
    return {model._meta.label: model.history.model.objects.count() for model in models}


def values(obj, *names) -> dict:
    obj = type(obj)._default_manager.get(pk=obj.pk)
    return {name: getattr(obj, name) for name in names}


def problems_of(result: DataImport) -> list[str]:
    """Every message of a result: the file's, then each refused row's, as "line N: column: message"."""
    found = list(result.report.get("problems", []))
    for entry in result.report.get("entries", []):
        for column, _value, message in entry.get("problems", []):
            found.append(f"line {entry['line']}: {column}: {message}")
    return found


def errors_by_line(result: DataImport) -> dict[int, list]:
    return {entry["line"]: entry["problems"] for entry in result.report["entries"] if entry["kind"] == "error"}


def xlsx(*sheets: tuple[str, list[list]]) -> bytes:
    """A workbook with these sheets (title, rows), cells keeping their Python types (dates stay date cells)."""
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets:
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    content = io.BytesIO()
    workbook.save(content)
    return content.getvalue()


def response_bytes(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(chunk if isinstance(chunk, bytes) else chunk.encode() for chunk in response.streaming_content)
    return response.content


def export(resource_name: str, actor, file_format: str) -> bytes:
    """What the portal exports for `actor`: the file a person downloads."""
    from licensing import exports
    from licensing.resources.catalog import RESOURCES

    resource = RESOURCES[resource_name](actor=actor)
    return response_bytes(
        exports.response(resource, resource.get_queryset(), file_format=file_format, file_stem=resource_name)
    )
