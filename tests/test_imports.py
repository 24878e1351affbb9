"""Importing as a person meets it: preview, confirm, and what an import leaves behind.

All or nothing (a bad last line writes nothing, in any table); the preview is what the confirmed import does;
an export imports back unchanged; a person imports only into the organizations they manage, and only what
their role allows; every change is on the history with the person, the reason and the import's number, and
the hash chains still verify; a confirm is refused when the file or the data changed since the preview.
"""

import csv
import hashlib
import io
import json

import pytest
from django.contrib.auth import get_user_model

from licensing import access, demo, imports, services
from licensing.audit import verification
from licensing.audit.records import tracked_models
from licensing.choices import ImportOutcome
from licensing.models import (
    Application,
    Contact,
    DataImport,
    License,
    Organization,
    ProxyFactor,
    RateSchedule,
    UserCount,
)
from licensing.resources.catalog import RESOURCES
from tests.factories import ApplicationFactory, OrganizationFactory, UserCountFactory, UserFactory, member
from tests.import_support import (
    build_world,
    errors_by_line,
    export,
    history_counts,
    problems_of,
    read,
    run,
    table_counts,
    values,
)

pytestmark = pytest.mark.django_db

COUNTS_HEADER = b"Organization,System name,License year,(a) access CPT directly\r\n"


@pytest.fixture
def world(org_a):
    return build_world(org_a)


@pytest.fixture
def other_officer(world):
    user = UserFactory(username="officer-northwind")
    member(user, world.other, "officer")
    return user


@pytest.fixture
def admin(db):
    return UserFactory(username="administrator", is_superuser=True)


def stamped_rows(data_import) -> dict[str, list]:
    """The history rows of every tracked model that carry this import's id, by model."""
    found = {}
    for model in tracked_models():
        rows = list(model.history.model.objects.filter(data_import_id=data_import.pk))
        if rows:
            found[model._meta.model_name] = rows
    return found


# ---------------------------------------------------------------------------------------------
# All or nothing
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [1000, 1], ids=["one-batch", "a-batch-per-row"])
def test_a_bad_last_line_leaves_every_table_and_history_unchanged(world, officer, monkeypatch, batch_size):
    # With a batch per row, the good lines are written to the database before the bad one is read.
    monkeypatch.setattr(RESOURCES["user-counts"]._meta, "batch_size", batch_size)
    before = table_counts()
    stored = [values(count, "direct_users", "program_users") for count in (world.epic_count, world.cerner_count)]
    result = run("user-counts", "user-counts-last-row-bad.csv", actor=officer)
    assert result.outcome == ImportOutcome.REFUSED
    assert not result.dry_run
    assert (result.new_rows, result.updated_rows, result.error_rows) == (0, 0, 1)
    assert problems_of(result) == [
        "line 5: (a) access CPT directly: 'lots' is not a whole number; write digits only, e.g. 1250."
    ]
    assert table_counts() == before
    assert [
        values(count, "direct_users", "program_users") for count in (world.epic_count, world.cerner_count)
    ] == stored
    assert not UserCount.objects.filter(application=world.cerner, license_year=2025).exists()
    assert stamped_rows(result) == {}
    assert not DataImport.objects.filter(outcome=ImportOutcome.CONFIRMED).exists()


def test_a_preview_writes_nothing_but_its_own_record(world, officer):
    before = table_counts()
    preview = run("user-counts", "user-counts-utf8-bom.csv", actor=officer, dry_run=True)
    assert preview.outcome == ImportOutcome.PREVIEWED
    assert (preview.new_rows, preview.updated_rows) == (1, 1)
    assert table_counts() == before
    assert values(world.epic_count, "direct_users")["direct_users"] == 10
    assert DataImport.objects.get() == preview


def test_a_refused_import_keeps_its_record_as_evidence(world, officer):
    result = run("user-counts", "user-counts-last-row-bad.csv", actor=officer, reason="Recount")
    stored = DataImport.objects.get()
    assert stored == result
    assert (stored.outcome, stored.actor, stored.reason, stored.error_rows) == ("refused", officer, "Recount", 1)
    assert stored.file_sha256 == hashlib.sha256(read("user-counts-last-row-bad.csv")).hexdigest()
    assert stored.history.count() == 1
    assert stored.history.get().history_change_reason == "Import of user-counts-last-row-bad.csv refused"


# ---------------------------------------------------------------------------------------------
# The preview is what the import does
# ---------------------------------------------------------------------------------------------


def test_the_confirmed_import_reports_exactly_what_the_preview_showed(world, officer):
    content = (
        b"Organization,System name,License year,(a) access CPT directly,Counted by\r\n"
        b"alpha-health,Epic Ambulatory,2026,12,Dana Reyes\r\n"  # updated
        b"alpha-health,Cerner Billing,2026,20,\r\n"  # unchanged
        b"alpha-health,Cerner Billing,2025,7,Dana Reyes\r\n"  # new
    )
    preview = run("user-counts", "counts.csv", content, actor=officer, dry_run=True)
    assert preview.outcome == ImportOutcome.PREVIEWED, problems_of(preview)
    done = run("user-counts", "counts.csv", content, actor=officer, preview=preview)
    assert done.outcome == ImportOutcome.CONFIRMED, problems_of(done)
    assert done.preview_of == preview
    assert done.report["entries"] == preview.report["entries"]
    assert done.report["totals"] == preview.report["totals"] == {"new": 1, "updated": 1, "unchanged": 1, "error": 0}
    assert done.report["digest"] == preview.report["digest"]
    assert [(entry["line"], entry["kind"]) for entry in done.report["entries"]] == [(2, "updated"), (4, "new")]
    assert (done.new_rows, done.updated_rows, done.unchanged_rows) == (1, 1, 1)
    assert values(world.epic_count, "direct_users")["direct_users"] == 12
    assert UserCount.objects.get(application=world.cerner, license_year=2025).direct_users == 7


def test_a_preview_with_errors_lists_them_first_and_cannot_be_confirmed(world, officer):
    preview = run("user-counts", "user-counts-last-row-bad.csv", actor=officer, dry_run=True)
    assert preview.outcome == ImportOutcome.REFUSED
    assert [entry["kind"] for entry in preview.report["entries"]] == ["error", "updated", "updated", "new"]
    before = table_counts()
    done = run("user-counts", "user-counts-last-row-bad.csv", actor=officer, preview=preview)
    assert done.outcome == ImportOutcome.REFUSED
    assert table_counts() == before


def test_confirm_with_a_different_file_is_refused(world, officer):
    preview = run("user-counts", "user-counts-utf8-bom.csv", actor=officer, dry_run=True)
    assert preview.outcome == ImportOutcome.PREVIEWED
    other_file = read("user-counts-utf8-bom.csv").replace(b",12,", b",13,")
    before = table_counts()
    done = run("user-counts", "user-counts-utf8-bom.csv", other_file, actor=officer, preview=preview)
    assert done.outcome == ImportOutcome.REFUSED
    assert not done.dry_run and done.preview_of == preview
    assert done.report["problems"] == [
        "This is not the file that was previewed (its SHA-256 differs); upload it again."
    ]
    assert table_counts() == before
    assert values(world.epic_count, "direct_users")["direct_users"] == 10


def test_confirm_after_the_data_changed_since_the_preview_is_refused(world, officer):
    preview = run("user-counts", "user-counts-utf8-bom.csv", actor=officer, dry_run=True)
    assert preview.outcome == ImportOutcome.PREVIEWED
    # Someone else corrects the count between the preview and the confirm.
    count = UserCount.objects.get(pk=world.epic_count.pk)
    count.direct_users = 11
    services.record_save(count, actor=None, reason="Recounted by phone")
    before = table_counts()
    done = run("user-counts", "user-counts-utf8-bom.csv", actor=officer, preview=preview)
    assert done.outcome == ImportOutcome.REFUSED
    assert imports.CHANGED_SINCE_PREVIEW in done.report["problems"]
    assert "changed since the preview" in imports.CHANGED_SINCE_PREVIEW
    assert table_counts() == before
    assert values(world.epic_count, "direct_users")["direct_users"] == 11
    assert not UserCount.objects.filter(application=world.cerner, license_year=2025).exists()
    # The row whose count moved on is refused, saying what the other person changed (licensing.versions).
    [refused] = [entry for entry in done.report["entries"] if entry["kind"] == "error"]
    [(_column, _value, message)] = refused["problems"]
    assert "changed since your preview (version 1 then, 2 now)" in message
    assert "(a) access CPT directly: 10 → 11" in message and "Recounted by phone" in message


def test_a_preview_confirmed_twice_writes_once(world, officer):
    preview = run("user-counts", "user-counts-utf8-bom.csv", actor=officer, dry_run=True)
    first = run("user-counts", "user-counts-utf8-bom.csv", actor=officer, preview=preview)
    assert first.outcome == ImportOutcome.CONFIRMED
    before = table_counts()
    second = run("user-counts", "user-counts-utf8-bom.csv", actor=officer, preview=preview)
    assert second.outcome == ImportOutcome.REFUSED
    assert second.report["problems"] == ["This preview was already confirmed; its changes are on the audit trail."]
    assert table_counts() == before


def test_the_preview_keeps_the_file_for_the_confirm_step_only_when_it_can_be_confirmed(
    world, officer, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    kept = run("user-counts", "user-counts-utf8-bom.csv", actor=officer, dry_run=True, keep_file=True)
    with kept.upload.open("rb") as stored:
        assert stored.read() == read("user-counts-utf8-bom.csv")
    refused = run("user-counts", "user-counts-last-row-bad.csv", actor=officer, dry_run=True, keep_file=True)
    assert not refused.upload


# ---------------------------------------------------------------------------------------------
# Round trip: what the portal exports imports back as it was
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("file_format", ["csv", "xlsx", "json"])
def test_an_export_of_the_demo_imports_back_unchanged(file_format):
    demo.seed_demo()
    people = get_user_model().objects.filter(username__in=["demo-admin", "demo-officer"]).order_by("username")
    before = table_counts()
    imported = 0
    for person in people:
        for name, resource in RESOURCES.items():
            if resource.whole_file:
                # A roster file imports as a new roster (its round trip is in tests/test_rosters.py).
                continue
            if not imports.may_import(person, name):
                assert person.username == "demo-officer" and name in ("rate-schedules", "proxy-factors")
                continue
            rows = RESOURCES[name](actor=person).get_queryset().count()
            assert rows, name
            result = run(name, f"{name}.{file_format}", export(name, person, file_format), actor=person)
            assert result.outcome == ImportOutcome.CONFIRMED, (person.username, name, problems_of(result))
            assert result.report["totals"] == {"new": 0, "updated": 0, "unchanged": rows, "error": 0}, name
            assert result.report["entries"] == []
            imported += 1
    assert imported == 9 + 7
    assert table_counts() == before  # not one history row more
    assert verification.verify() == []


def test_cells_that_look_like_formulas_are_escaped_in_exports_and_import_back_unchanged(world, officer):
    contact = Contact.objects.get(organization=world.org)
    formulas = {
        "name": '=HYPERLINK("http://evil.example","Click")',
        "title": "+Lead auditor",
        "phone": "-555 0100",
    }
    for field_name, value in formulas.items():
        setattr(contact, field_name, value)
    services.record_save(contact, actor=None, reason="Test data")
    epic = Application.objects.get(pk=world.epic.pk)
    epic.notes = "@SUM(A1:A9)"
    # Text that itself starts with an apostrophe before a formula character must come back as it was.
    epic.owner = "'=already quoted"
    services.record_save(epic, actor=None, reason="Test data", validate=False)
    escaped = {"'" + value for value in [*formulas.values(), epic.notes, epic.owner]}

    before = table_counts()
    for file_format in ("csv", "xlsx", "json"):
        contacts = export("contacts", officer, file_format)
        applications = export("applications", officer, file_format)
        cells = set()
        for content in (contacts, applications):
            if file_format == "csv":
                cells |= {cell for line in csv.reader(io.StringIO(content.decode("utf-8-sig"))) for cell in line}
            elif file_format == "json":
                cells |= {cell for item in json.loads(content) for cell in item.values()}
            else:
                from openpyxl import load_workbook

                sheet = load_workbook(io.BytesIO(content), read_only=True).active
                cells |= {cell for line in sheet.iter_rows(values_only=True) for cell in line}
        assert escaped <= cells, file_format
        assert not set(formulas.values()) & cells, file_format
        for name, content in (("contacts", contacts), ("applications", applications)):
            result = run(name, f"{name}.{file_format}", content, actor=officer)
            assert result.outcome == ImportOutcome.CONFIRMED, problems_of(result)
            assert (result.new_rows, result.updated_rows) == (0, 0), (name, file_format, result.report["entries"])
    assert table_counts() == before
    assert values(contact, *formulas) == formulas
    assert values(epic, "notes", "owner") == {"notes": "@SUM(A1:A9)", "owner": "'=already quoted"}


def test_a_file_written_with_escaped_formulas_stores_the_text_without_the_apostrophe(world, officer):
    content = b"Organization,Role,Name,Phone\r\nalpha-health,Billing contact,'=Pat Doe,'+1 555 0100\r\n"
    result = run("contacts", "contacts.csv", content, actor=officer)
    assert result.outcome == ImportOutcome.CONFIRMED, problems_of(result)
    added = Contact.objects.get(organization=world.org, role="billing")
    assert (added.name, added.phone) == ("=Pat Doe", "+1 555 0100")


# ---------------------------------------------------------------------------------------------
# Scoping
# ---------------------------------------------------------------------------------------------


def test_an_officer_cannot_change_another_organizations_rows_even_with_the_same_system_name(
    world, officer, other_officer
):
    content = (
        COUNTS_HEADER + b"northwind-cardiology,Epic Ambulatory,2026,99\r\nalpha-health,Epic Ambulatory,2026,12\r\n"
    )
    before = table_counts()
    result = run("user-counts", "counts.csv", content, actor=officer)
    assert result.outcome == ImportOutcome.REFUSED
    assert list(errors_by_line(result)) == [2]
    assert table_counts() == before
    # The other organization's officer imports the same line into their own organization.
    theirs = run(
        "user-counts",
        "counts.csv",
        COUNTS_HEADER + b"northwind-cardiology,Epic Ambulatory,2026,99\r\n",
        actor=other_officer,
    )
    assert theirs.outcome == ImportOutcome.CONFIRMED, problems_of(theirs)
    assert world.other_epic.user_counts.get().direct_users == 99
    assert values(world.epic_count, "direct_users")["direct_users"] == 10


def test_an_officer_cannot_add_an_application_to_another_organization(world, officer):
    content = (
        b"Organization,System name,Category,How CPT is covered,AMA data files used\r\n"
        b"northwind-cardiology,Shadow EHR,Ambulatory EHR,Own AMA license,CPT Standard\r\n"
    )
    before = table_counts()
    result = run("applications", "apps.csv", content, actor=officer)
    assert result.outcome == ImportOutcome.REFUSED
    [[column, value, message]] = errors_by_line(result)[2]
    assert (column, value) == ("Organization", "northwind-cardiology")
    assert "Northwind" not in message
    assert table_counts() == before


def test_an_officer_of_a_parent_imports_for_its_affiliates(world, officer):
    clinic = OrganizationFactory(name="Alpha North Clinic", slug="alpha-north", parent=world.org)
    clinic_app = ApplicationFactory(organization=clinic, name="Clinic Scheduler")
    content = COUNTS_HEADER + b"alpha-north,Clinic Scheduler,2026,4\r\n"
    only_clinic = run("user-counts", "counts.csv", content, actor=officer)
    assert only_clinic.outcome == ImportOutcome.CONFIRMED, problems_of(only_clinic)
    assert only_clinic.organization == clinic
    assert clinic_app.user_counts.get().direct_users == 4
    both = run(
        "user-counts",
        "counts.csv",
        content.replace(b",4", b",5") + b"alpha-health,Epic Ambulatory,2026,12\r\n",
        actor=officer,
    )
    assert both.outcome == ImportOutcome.CONFIRMED, problems_of(both)
    assert both.organization == world.org  # the nearest organization covering both


def test_the_import_record_is_seen_only_within_its_organizations_scope(world, officer, auditor, other_officer, admin):
    done = run("user-counts", "user-counts-utf8-bom.csv", actor=officer)
    refused = run("user-counts", "user-counts-other-organization.csv", actor=officer, dry_run=True)
    assert done.organization == refused.organization == world.org
    records = DataImport.objects.all()
    assert set(access.restrict(records, officer)) == {done, refused}
    assert set(access.restrict(records, auditor)) == {done, refused}
    assert set(access.restrict(records, admin)) == {done, refused}
    assert not access.restrict(records, other_officer).exists()
    # Nobody but an administrator changes an import's record: it is evidence.
    assert not officer.has_perm("licensing.change_dataimport")
    assert not officer.has_perm("licensing.delete_dataimport")
    # The history rows the import wrote are on Alpha Health's trail, not Northwind's.
    assert {row.organization_id for rows in stamped_rows(done).values() for row in rows} == {world.org.pk}


def test_a_file_spanning_sibling_affiliates_without_their_parent_is_refused_with_a_way_out(world):
    north = OrganizationFactory(name="Alpha North Clinic", slug="alpha-north", parent=world.org)
    south = OrganizationFactory(name="Alpha South Clinic", slug="alpha-south", parent=world.org)
    ApplicationFactory(organization=north, name="Scheduler")
    ApplicationFactory(organization=south, name="Scheduler")
    person = UserFactory(username="two-clinics")
    member(person, north, "officer")
    member(person, south, "officer")
    content = COUNTS_HEADER + b"alpha-north,Scheduler,2026,4\r\nalpha-south,Scheduler,2026,5\r\n"
    before = table_counts()
    for dry_run in (True, False):
        outcome = run("user-counts", "counts.csv", content, actor=person, dry_run=dry_run)
        assert outcome.outcome == ImportOutcome.REFUSED
        assert any("file of its own" in problem for problem in problems_of(outcome)), problems_of(outcome)
    assert table_counts() == before
    # Each clinic's rows on their own import fine, and the person sees that import.
    alone = run("user-counts", "north.csv", COUNTS_HEADER + b"alpha-north,Scheduler,2026,4\r\n", actor=person)
    assert alone.outcome == ImportOutcome.CONFIRMED
    assert access.restrict(DataImport.objects.all(), person).filter(pk=alone.pk).exists()


# ---------------------------------------------------------------------------------------------
# History: who, why, which import; the chains still verify
# ---------------------------------------------------------------------------------------------


def test_history_rows_carry_the_person_the_reason_and_the_import_id(world, officer):
    done = run("user-counts", "user-counts-utf8-bom.csv", actor=officer, reason="  Annual recount 2026 ")
    assert done.outcome == ImportOutcome.CONFIRMED
    assert done.reason == "Annual recount 2026"
    rows = stamped_rows(done)
    assert list(rows) == ["usercount"]
    by_type = {row.history_type: row for row in rows["usercount"]}
    assert sorted(by_type) == ["+", "~"]
    for row in rows["usercount"]:
        assert row.history_user == officer
        assert row.history_user_name == "officer-a"
        assert row.history_change_reason == "Annual recount 2026"
        assert row.organization_id == world.org.pk
    assert by_type["~"].id == world.epic_count.pk
    assert set(by_type["~"].changed_fields.strip(",").split(",")) == {"direct_users", "counted_by", "counted_on"}
    assert by_type["+"].id == UserCount.objects.get(application=world.cerner, license_year=2025).pk
    # The import's own record says who, what and how many.
    assert (done.actor, done.actor_name, done.resource, done.file_name) == (
        officer,
        "officer-a",
        "user-counts",
        "user-counts-utf8-bom.csv",
    )
    assert (done.new_rows, done.updated_rows, done.unchanged_rows, done.error_rows) == (1, 1, 0, 0)


def test_the_default_reason_names_the_file(world, officer):
    done = run("user-counts", "user-counts-utf8-bom.csv", actor=officer)
    assert done.reason == "Import user-counts-utf8-bom.csv"
    assert {row.history_change_reason for row in stamped_rows(done)["usercount"]} == {"Import user-counts-utf8-bom.csv"}


def test_updating_n_rows_writes_exactly_n_history_rows(world, officer):
    epic_2024, epic_2025, cerner_2024, cerner_2025 = (
        UserCountFactory(application=application, license_year=year, direct_users=1)
        for application in (world.epic, world.cerner)
        for year in (2024, 2025)
    )
    lines = [
        b"alpha-health,Epic Ambulatory,2026,10",  # unchanged
        b"alpha-health,Cerner Billing,2026,20",  # unchanged
        b"alpha-health,Epic Ambulatory,2024,2",
        b"alpha-health,Epic Ambulatory,2025,1",  # unchanged
        b"alpha-health,Cerner Billing,2024,3",
        b"alpha-health,Cerner Billing,2025,4",
    ]
    before = history_counts(UserCount, Application, License)
    done = run("user-counts", "counts.csv", COUNTS_HEADER + b"\r\n".join(lines) + b"\r\n", actor=officer)
    assert done.outcome == ImportOutcome.CONFIRMED, problems_of(done)
    assert (done.new_rows, done.updated_rows, done.unchanged_rows) == (0, 3, 3)
    after = history_counts(UserCount, Application, License)
    assert after["licensing.UserCount"] - before["licensing.UserCount"] == 3
    assert after["licensing.Application"] == before["licensing.Application"]
    assert after["licensing.License"] == before["licensing.License"]
    assert sorted(row.id for row in stamped_rows(done)["usercount"]) == sorted(
        [epic_2024.pk, cerner_2024.pk, cerner_2025.pk]
    )
    assert values(epic_2025, "direct_users") == {"direct_users": 1}


def test_the_hash_chains_verify_after_imports_of_every_kind(world, officer, admin):
    assert verification.verify() == []
    steps = [
        (
            "organizations",
            b"Legal name,Short name (slug),Parent organization,City\r\n"
            b"Alpha Health,alpha-health,,Lakeview\r\nAlpha East,alpha-east,alpha-health,Eastville\r\n",
            officer,
        ),
        ("vendors", b"Name,AMA-authorized distributor,Processing fee per user\r\nOptum360,Yes,1.25\r\n", officer),
        (
            "applications",
            b"Organization,System name,Category,Vendor,How CPT is covered,AMA data files used\r\n"
            b"alpha-health,Epic Ambulatory,Ambulatory EHR,Epic Systems,Own AMA license,"
            b"CPT Standard; CPT Relative Value Units\r\n"
            b"alpha-east,East Coder,Coding / encoder,Optum360,Third-party distributor,cpt-standard\r\n",
            officer,
        ),
        (
            "user-counts",
            COUNTS_HEADER + b"alpha-east,East Coder,2026,8\r\nalpha-health,Epic Ambulatory,2026,12\r\n",
            officer,
        ),
        (
            "licenses",
            b"Organization,System name,License year,Route,Distributor,Status,Licensed users\r\n"
            b"alpha-east,East Coder,2026,Distributor,Optum360,Needed,8\r\n"
            b"alpha-health,Epic Ambulatory,2026,Direct (AMA),,Active,12\r\n",
            officer,
        ),
        ("contacts", b"Organization,Role,Name\r\nalpha-east,Primary contact,Lee Park\r\n", officer),
        ("base-metrics", b"Organization,License year,Physicians\r\nalpha-east,2026,4\r\n", officer),
        ("rate-schedules", b"License year,Basis,Source\r\n2027,Estimated,Projection\r\n", admin),
        ("proxy-factors", b"Category,Base metric,Factor,Source\r\nCoding / encoder,Physicians,2,Estimate\r\n", admin),
    ]
    for name, content, person in steps:
        done = run(name, f"{name}.csv", content, actor=person)
        assert done.outcome == ImportOutcome.CONFIRMED, (name, problems_of(done))
        assert done.new_rows + done.updated_rows > 0, name
        assert stamped_rows(done), name
    epic = Application.objects.get(pk=world.epic.pk)
    assert sorted(epic.data_files.values_list("code", flat=True)) == ["cpt-rvu", "cpt-standard"]
    assert Organization.objects.get(slug="alpha-health").city == "Lakeview"
    assert verification.verify() == []


# ---------------------------------------------------------------------------------------------
# Who may import what
# ---------------------------------------------------------------------------------------------


def test_auditors_cannot_import(world, auditor):
    for name in RESOURCES:
        assert imports.may_import(auditor, name) is False, name
    before = table_counts()
    for file_name, name in [
        ("user-counts-utf8-bom.csv", "user-counts"),
        ("applications-windows-1252.csv", "applications"),
    ]:
        result = run(name, file_name, actor=auditor)
        assert result.outcome == ImportOutcome.REFUSED
        assert result.report["problems"] == [f"Your role does not allow importing {name.replace('-', ' ')}."]
        preview = run(name, file_name, actor=auditor, dry_run=True)
        assert preview.outcome == ImportOutcome.REFUSED
    assert table_counts() == before


def test_nobody_and_inactive_people_cannot_import(world, officer):
    assert imports.may_import(None, "user-counts") is False
    officer.is_active = False
    officer.save()
    assert imports.may_import(officer, "user-counts") is False
    before = table_counts()
    assert run("user-counts", "user-counts-utf8-bom.csv", actor=officer).outcome == ImportOutcome.REFUSED
    assert table_counts() == before


def test_officers_import_their_records_but_not_rates_or_factors(world, officer):
    assert imports.may_import(officer, "user-counts") is True
    assert imports.may_import(officer, "rate-schedules") is False
    assert imports.may_import(officer, "proxy-factors") is False
    before = table_counts()
    rates = run("rate-schedules", "rates.csv", b"License year,Basis,Source\r\n2027,Estimated,Guess\r\n", actor=officer)
    assert rates.report["problems"] == ["Your role does not allow importing rate schedules."]
    factors = run(
        "proxy-factors",
        "factors.csv",
        b"Category,Base metric,Factor,Source\r\nCoding / encoder,Physicians,2,Guess\r\n",
        actor=officer,
    )
    assert factors.report["problems"] == ["Your role does not allow importing proxy factors."]
    assert table_counts() == before


def test_an_administrator_imports_rate_schedules_and_proxy_factors(world, admin):
    assert imports.may_import(admin, "rate-schedules") and imports.may_import(admin, "proxy-factors")
    rates = run(
        "rate-schedules",
        "rates.csv",
        b"License year,Basis,Entity fee,Entity fee estimated,Source\r\n2027,Estimated,85.00,Yes,Projection\r\n",
        actor=admin,
    )
    assert rates.outcome == ImportOutcome.CONFIRMED, problems_of(rates)
    added = RateSchedule.objects.get(license_year=2027)
    assert (str(added.entity_fee), added.entity_fee_estimated) == ("85.00", True)
    assert [row.history_type for row in stamped_rows(rates)["rateschedule"]] == ["+"]
    assert rates.organization is None  # reference data: the record is the administrators'
    factors = run(
        "proxy-factors",
        "factors.csv",
        b"Category,Base metric,Factor,Source\r\nCoding / encoder,Physicians,2.5,Estimate\r\n",
        actor=admin,
    )
    assert factors.outcome == ImportOutcome.CONFIRMED, problems_of(factors)
    assert str(ProxyFactor.objects.get(category="coding", base_metric="physicians").factor).rstrip("0") == "2.5"


# ---------------------------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------------------------


def test_a_key_in_another_case_finds_the_row_and_is_not_reported_as_a_change(world, officer):
    content = b"Organization,System name,System owner\r\nALPHA-HEALTH,epic ambulatory,IT department\r\n"
    done = run("applications", "apps.csv", content, actor=officer)
    assert done.outcome == ImportOutcome.CONFIRMED, problems_of(done)
    [entry] = done.report["entries"]
    assert entry["changes"] == [["System owner", "", "IT department"]]
    epic = Application.objects.get(pk=world.epic.pk)
    assert (epic.name, epic.owner) == ("Epic Ambulatory", "IT department")
    [row] = stamped_rows(done)["application"]
    assert row.changed_fields == ",owner,"
    # A file that differs from the stored rows only by a key's case changes nothing.
    again = run("applications", "apps.csv", content, actor=officer)
    assert (again.updated_rows, again.unchanged_rows) == (0, 1)


def test_a_new_row_the_database_refuses_is_reported_once_as_refused(world, officer):
    # The slug belongs to an organization outside the officer's scope: not found, so a new row, which the
    # database's unique slug then refuses.
    content = b"Legal name,Short name (slug),Parent organization\r\nNew Clinic,northwind-cardiology,alpha-health\r\n"
    before = table_counts()
    for dry_run in (True, False):
        result = run("organizations", "orgs.csv", content, actor=officer, dry_run=dry_run)
        assert result.outcome == ImportOutcome.REFUSED
        assert [entry["kind"] for entry in result.report["entries"]] == ["error"]
        assert result.report["totals"] == {"new": 0, "updated": 0, "unchanged": 0, "error": 1}
        assert not any("Northwind" in message for message in problems_of(result))
    assert table_counts() == before
    assert Organization.objects.filter(slug="northwind-cardiology").get().name == "Northwind Cardiology"
