"""The other ways in to a roster import, as an officer or an administrator meets them: the staff directory marked at
import (it derives no count), `manage.py import_data rosters` with its flags (and its refusals, nothing written), a
large roster previewed and confirmed by jobs (the derived count appears), the application chosen through a scoped
autocomplete; and the import and re-derivation making the same number of queries for few and many people."""

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from licensing import counting, imports, services
from licensing.choices import UserKind
from licensing.models import DataImport, Job, UserCount
from licensing.models.rosters import Person, RoleMapping, Roster, RosterLine
from tests import test_rosters
from tests.factories import ApplicationFactory, OrganizationFactory, UserCountFactory
from tests.test_rosters import FIRST, MAPPING, confirm, map_roles, preview_of, roster_file, upload

pytestmark = pytest.mark.django_db
# The rosters' own organization and application, as tests/test_rosters.py sets them up.
clinic = test_rosters.clinic
epic = test_rosters.epic

STAFF = [
    "E1,Pat Lee,pat.lee@example.org,,US,Employee",
    "E2,Sam Roe,sam.roe@example.org,,US,Employee",
    "E4,Ana Diaz,ana.diaz@example.org,,PH,Employee",
]


@pytest.fixture
def workday(org_a):
    return ApplicationFactory(organization=org_a, name="Workday")


def every_role_mapped(client, epic):
    map_roles(client, epic, {**MAPPING, "Scheduler": (UserKind.PROGRAM, "")})


# ---------------------------------------------------------------------------------------------
# The directory, marked at import
# ---------------------------------------------------------------------------------------------


def test_a_roster_marked_as_the_directory_derives_no_count_and_reconciliation_uses_it(
    officer_client, org_a, epic, workday
):
    map_roles(officer_client, workday, {"Employee": (UserKind.NOT_A_USER, "The staff list, not users")})
    typed = UserCountFactory(application=workday, license_year=2026, direct_users=3)
    response = officer_client.post(
        reverse("admin:licensing_rosterline_import"),
        {
            "application": workday.pk,
            "license_year": 2026,
            "taken_on": "2026-01-10",
            "source": "Workday staff list",
            "directory": "on",
            "file": SimpleUploadedFile("staff.csv", roster_file(STAFF), content_type="text/csv"),
            "change_reason": "January staff list",
        },
    )
    preview = preview_of(response)
    page = officer_client.get(reverse("admin:licensing_dataimport_change", args=[preview.pk])).content.decode()
    assert "This roster is the directory of Alpha Health (3 people): it derives no user count" in page
    confirm(officer_client, preview)

    directory = Roster.objects.get()
    assert directory.is_directory and directory.lines.count() == 3
    # The typed count of the HR system is left as it was: a directory is nobody's users.
    typed.refresh_from_db()
    assert (typed.roster_id, typed.direct_users) == (None, 3)
    assert UserCount.objects.filter(roster=directory).count() == 0

    every_role_mapped(officer_client, epic)
    confirm(officer_client, preview_of(upload(officer_client, epic, roster_file(FIRST))))
    assert UserCount.objects.get(application=epic).roster.is_directory is False
    reconcile = reverse("admin:licensing_organization_reconcile", args=[org_a.pk])
    found = officer_client.get(f"{reconcile}?year=2026&finding=left")
    # E3 and the service account's line are not in the directory; the service account is not a user.
    assert [row.identifier for row, _ in found.context["findings"]] == ["E3"]
    # The mark is set at import, and read-only afterwards.
    change = officer_client.get(reverse("admin:licensing_roster_change", args=[directory.pk])).content.decode()
    assert 'name="is_directory"' not in change


# ---------------------------------------------------------------------------------------------
# manage.py import_data rosters
# ---------------------------------------------------------------------------------------------


def roster_command(path, **options):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_data", "rosters", str(path), stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def refused_command(resource, path, **options) -> str:
    with pytest.raises(CommandError) as caught:
        call_command("import_data", resource, str(path), stdout=io.StringIO(), stderr=io.StringIO(), **options)
    return str(caught.value)


FLAGS = {"actor": "officer-a", "year": "2026", "taken_on": "2026-01-15", "source": "Epic access list"}


def test_the_command_imports_a_roster_for_the_application_named_by_its_flags(officer, epic, tmp_path):
    every_role_mapped_by_services(officer, epic)
    path = tmp_path / "epic.csv"
    path.write_bytes(roster_file(FIRST))

    out, err = roster_command(path, application="epic ambulatory", **FLAGS)

    assert "Imported 5 new" in out, (out, err)
    assert "Roster of 2026-01-15 from Epic access list: 1 (a) + 2 (b) + 1 (c) = 4 users" in err
    roster = Roster.objects.get()
    assert (roster.application, roster.source, roster.is_directory) == (epic, "Epic access list", False)
    assert roster.data_import.parameters["application"] == epic.pk
    count = UserCount.objects.get(application=epic)
    assert (count.roster, count.direct_users, count.program_users, count.output_users) == (roster, 1, 2, 1)


def test_the_command_marks_the_directory_and_finds_the_application_by_id(officer, workday, tmp_path):
    services.record_save(
        RoleMapping(application=workday, role="Employee", kind=UserKind.NOT_A_USER, explanation="Staff list"),
        actor=officer,
        reason="Mapping",
    )
    path = tmp_path / "staff.csv"
    path.write_bytes(roster_file(STAFF))

    out, err = roster_command(path, application=str(workday.pk), directory=True, **FLAGS)

    assert "Imported 3 new" in out and "it derives no user count" in err
    assert Roster.objects.get().is_directory and not UserCount.objects.exists()


def every_role_mapped_by_services(officer, application):
    for role, (kind, explanation) in {**MAPPING, "Scheduler": (UserKind.PROGRAM, "")}.items():
        services.record_save(
            RoleMapping(application=application, role=role, kind=kind, explanation=explanation),
            actor=officer,
            reason="Mapping",
        )


def test_the_command_refuses_bad_flags_in_words_and_writes_nothing(officer, org_a, clinic, org_b, epic, tmp_path):
    every_role_mapped_by_services(officer, epic)
    ApplicationFactory(organization=clinic, name="Epic Ambulatory")
    ApplicationFactory(organization=org_b, name="Beta EHR")
    path = tmp_path / "epic.csv"
    path.write_bytes(roster_file(FIRST))
    counts = tmp_path / "counts.csv"
    counts.write_text("Organization,System name,License year\n")
    flags = {**FLAGS, "application": "Epic Ambulatory", "organization": "alpha-health"}

    def without(name, **changes):
        return {key: value for key, value in {**flags, **changes}.items() if key != name}

    assert refused_command("rosters", path, **without("source")) == (
        "A roster is imported for one application, license year, date and source: give --source (e.g. --application "
        "'Epic Ambulatory' --year 2026 --taken-on 2026-01-15 --source 'Epic access list')."
    )
    assert "give --application, --year, --taken-on, --source" in refused_command("rosters", path, actor="officer-a")
    assert refused_command("rosters", path, **{**flags, "year": "twenty"}) == (
        "--year must be a year such as 2026, not 'twenty'."
    )
    assert refused_command("rosters", path, **{**flags, "year": "1850"}).startswith("--year 1850: ")
    assert refused_command("rosters", path, **{**flags, "taken_on": "15/01/2026"}) == (
        "--taken-on must be a date written YYYY-MM-DD, not '15/01/2026'."
    )
    assert "Several applications you manage are named 'Epic Ambulatory' (at alpha-clinic, alpha-health)" in (
        refused_command("rosters", path, **without("organization"))
    )
    assert "No application named 'Beta EHR' that officer-a manages" in refused_command(
        "rosters", path, **{**without("organization"), "application": "Beta EHR"}
    )
    assert "No application named '99999999999999999999'" in refused_command(
        "rosters", path, **{**flags, "application": "99999999999999999999"}
    )
    assert refused_command("user-counts", counts, actor="officer-a", source="x", directory=True) == (
        "--source, --directory only apply to the rosters resource; leave them out for user-counts."
    )
    # Refused before the import starts: not even an import record.
    assert not DataImport.objects.exists() and not Roster.objects.exists() and not Person.objects.exists()

    # The flags as given: the organization settles which Epic it is.
    out, _ = roster_command(path, **flags)
    assert "Imported 5 new" in out and Roster.objects.get().application == epic


# ---------------------------------------------------------------------------------------------
# A large roster goes to jobs
# ---------------------------------------------------------------------------------------------


def test_a_large_roster_is_previewed_and_confirmed_by_jobs_and_derives_its_count(
    officer_client, epic, settings, django_capture_on_commit_callbacks
):
    # "Large" is a setting: the file's six lines stand for thousands.
    settings.IMPORT_JOB_MIN_ROWS = 5
    every_role_mapped(officer_client, epic)
    with django_capture_on_commit_callbacks(execute=True):
        uploaded = upload(officer_client, epic, roster_file(FIRST))
    preview_job = Job.objects.get()
    assert uploaded.status_code == 302 and uploaded["Location"] == preview_job.get_absolute_url()
    preview_job.refresh_from_db()
    assert preview_job.state == Job.State.DONE, preview_job.error
    preview = preview_job.data_import
    assert preview.outcome == DataImport.Outcome.PREVIEWED and preview.parameters["application"] == epic.pk
    assert not Roster.objects.exists()
    job_page = officer_client.get(preview_job.get_absolute_url()).content.decode()
    assert "The preview is ready" in job_page

    with django_capture_on_commit_callbacks(execute=True):
        confirmed = officer_client.post(reverse("admin:licensing_dataimport_change", args=[preview.pk]))
    confirm_job = Job.objects.exclude(pk=preview_job.pk).get()
    assert confirmed.status_code == 302 and confirmed["Location"] == confirm_job.get_absolute_url()
    confirm_job.refresh_from_db()
    assert confirm_job.state == Job.State.DONE, confirm_job.error
    assert confirm_job.data_import.outcome == DataImport.Outcome.CONFIRMED

    roster = Roster.objects.get()
    assert (roster.source, roster.data_import) == ("Epic access list", confirm_job.data_import)
    count = UserCount.objects.get(application=epic, license_year=2026)
    assert (count.roster, count.direct_users, count.program_users, count.output_users) == (roster, 1, 2, 1)
    page = officer_client.get(reverse("admin:licensing_usercount_change", args=[count.pk])).content.decode()
    assert "Roster of 2026-01-15 from Epic access list: 1 (a) + 2 (b) + 1 (c) = 4 users; 1 excluded as not users" in (
        page
    )


# ---------------------------------------------------------------------------------------------
# The application field: an autocomplete scoped through access
# ---------------------------------------------------------------------------------------------


def test_the_application_is_chosen_through_an_autocomplete_of_the_persons_applications(
    officer_client, epic, clinic, org_b
):
    ApplicationFactory(organization=clinic, name="Epic Clinic Billing")
    ApplicationFactory(organization=org_b, name="Epic Beta")
    page = officer_client.get(reverse("admin:licensing_rosterline_import")).content.decode()
    assert 'class="admin-autocomplete' in page and 'data-model-name="roster"' in page
    assert "autocomplete.js" in page and 'name="directory"' in page
    # Nothing listed up front: the choices come from the autocomplete, as on every admin form.
    assert "Epic Beta" not in page

    found = officer_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "licensing", "model_name": "roster", "field_name": "application", "term": "epic"},
    )
    assert found.status_code == 200
    names = sorted(result["text"] for result in json.loads(found.content)["results"])
    assert names == ["Epic Ambulatory (Alpha Health)", "Epic Clinic Billing (Alpha Clinic)"]


# ---------------------------------------------------------------------------------------------
# Query counts: the same for few and many people
# ---------------------------------------------------------------------------------------------


def people_file(size: int, *, role: str = "Physician", renamed: int = 0) -> bytes:
    """`size` people, every third listed twice, `renamed` of them with a new name (a correction)."""
    lines = []
    for n in range(size):
        name = f"Person {n}" + (" Jr" if n < renamed else "")
        lines.append(f"P{n},{name},,,US,{role if n % 4 else 'Front desk'}")
        if n % 3 == 0:
            lines.append(f"P{n},{name},,,US,Finance analyst (reports)")
    return roster_file(lines)


def test_importing_and_re_deriving_make_the_same_queries_for_few_and_many_people(officer, org_a):
    def queries(size):
        # An affiliate each: people are the organization's, so the sizes share none.
        site = OrganizationFactory(name=f"Site {size}", slug=f"site-{size}", parent=org_a)
        application = ApplicationFactory(organization=site, name=f"System {size}")
        every_role_mapped_by_services(officer, application)
        parameters = {"application": application.pk, "license_year": 2026, "source": "Access list"}

        def run(content, taken_on):
            with CaptureQueriesContext(connection) as captured:
                record = imports.run(
                    resource_name="rosters",
                    file_name="list.csv",
                    content=content,
                    actor=officer,
                    dry_run=False,
                    parameters={**parameters, "taken_on": taken_on},
                )
            assert record.outcome == DataImport.Outcome.CONFIRMED, record.report["problems"]
            return len(captured)

        first = run(people_file(size), "2026-01-15")
        # The next month: compared with the first, two people renamed (their records corrected).
        second = run(people_file(size, renamed=2), "2026-02-15")
        mapping = RoleMapping.objects.get(application=application, role="Physician")
        mapping.kind = UserKind.OUTPUT
        with CaptureQueriesContext(connection) as captured:
            services.role_mapping_save(mapping=mapping, actor=officer, reason="Physicians only read reports")
        rederive = len(captured)
        count = UserCount.objects.get(application=application)
        roster = Roster.objects.get(application=application, taken_on__month=2)
        expected = counting.tally_roster(roster.lines.values_list("person_id", "kind"))
        assert (count.roster, count.direct_users, count.program_users, count.output_users) == (
            roster,
            expected.direct,
            expected.program,
            expected.output,
        )
        assert expected.output > 0 and expected.direct == 0
        return first, second, rederive

    imports.may_import(officer, "rosters")  # the person's permissions, read once
    # Both within one batch of SQLite's multi-row inserts (its parameter limit splits larger ones).
    few, many = queries(6), queries(30)
    assert few == many, (few, many)
    assert RosterLine.objects.filter(kind=UserKind.DIRECT).count() == 0


def test_a_mapping_change_moves_every_line_a_chunk_at_a_time(officer, epic, monkeypatch):
    every_role_mapped_by_services(officer, epic)
    parameters = {"application": epic.pk, "license_year": 2026, "taken_on": "2026-01-15", "source": "Access list"}
    record = imports.run(
        resource_name="rosters",
        file_name="list.csv",
        content=people_file(9),
        actor=officer,
        dry_run=False,
        parameters=parameters,
    )
    assert record.outcome == DataImport.Outcome.CONFIRMED
    physicians = RosterLine.objects.filter(role="Physician")
    moved = set(physicians.values_list("pk", flat=True))
    assert len(moved) == 6
    # Two lines a chunk: the six physicians' lines are written in three chunks.
    monkeypatch.setattr(services, "REDERIVE_CHUNK", 2)
    mapping = RoleMapping.objects.get(application=epic, role="Physician")
    mapping.kind = UserKind.OUTPUT
    services.role_mapping_save(mapping=mapping, actor=officer, reason="Physicians only read reports")

    assert set(physicians.filter(kind=UserKind.OUTPUT).values_list("pk", flat=True)) == moved
    history = RosterLine.history.filter(history_type="~")
    assert sorted(history.values_list("id", flat=True)) == sorted(moved)
    assert set(history.values_list("history_change_reason", flat=True)) == {
        "Role mapping 'Physician' changed: Physicians only read reports"
    }
    count = UserCount.objects.get(application=epic)
    assert (count.direct_users, count.program_users, count.output_users) == (0, 3, 6)
