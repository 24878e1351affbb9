"""The import_data and export_data commands, as an administrator scripting a load meets them.

Real files in a temporary folder; the database checked row by row afterwards. import_data checks and scopes a
file exactly as the admin does (licensing.imports.run), writes it whole or not at all, and says what is wrong
on stderr (and in --errors-to FILE) with exit status 1; export_data writes what imports back unchanged.
"""

import csv
import io
import json
from datetime import date

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, OutputWrapper

from licensing import services
from licensing.choices import ImportOutcome
from licensing.management.commands import export_data, import_data
from licensing.models import Contact, DataImport, UserCount
from licensing.resources.catalog import RESOURCES
from tests.factories import (
    ApplicationFactory,
    BaseMetricsFactory,
    LicenseFactory,
    OrganizationFactory,
    UserCountFactory,
    UserFactory,
    VendorFactory,
    record,
)

pytestmark = pytest.mark.django_db

HEADER = "Organization,System name,License year,Method,(a) access CPT directly,(b) produce output with it,Counted on"


@pytest.fixture
def world(org_a, org_b):
    """Alpha Health (the officer's) with an affiliate clinic, and Beta Clinics, which the officer cannot see."""
    clinic = OrganizationFactory(name="Alpha Clinic", slug="alpha-clinic", ein="361234567", parent=org_a)
    epic = ApplicationFactory(organization=org_a, name="Epic Ambulatory", category="ambulatory_ehr")
    cerner = ApplicationFactory(organization=org_a, name="Cerner Billing")
    clinic_app = ApplicationFactory(organization=clinic, name="Clinic Scheduling")
    beta_app = ApplicationFactory(organization=org_b, name="Beta Billing")
    cerner_count = UserCountFactory(application=cerner, license_year=2026, direct_users=20, program_users=1)
    UserCountFactory(application=clinic_app, license_year=2026, direct_users=5)
    UserCountFactory(application=beta_app, license_year=2026, direct_users=30)
    LicenseFactory(application=cerner, license_year=2026, licensed_users=21)
    record(Contact, organization=org_a, role="primary", name="Dana Reyes", email="dana.reyes@example.org")
    BaseMetricsFactory(organization=clinic, license_year=2026, physicians=12, employees=1850)
    return {
        "clinic": clinic,
        "epic": epic,
        "cerner": cerner,
        "clinic_app": clinic_app,
        "beta_app": beta_app,
        "cerner_count": cerner_count,
    }


def write(tmp_path, name: str, *lines: str) -> str:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def import_(*args, **options) -> tuple[str, str]:
    """call_command("import_data", ...): its stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    call_command("import_data", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def export(*args, **options) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("export_data", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def refused(*args, **options) -> tuple[CommandError, str]:
    """An import expected to fail: the CommandError and what went to stderr."""
    err = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("import_data", *args, stdout=io.StringIO(), stderr=err, **options)
    return caught.value, err.getvalue()


def history_of(model) -> int:
    return model.history.model.objects.count()


class TTY(io.StringIO):
    def isatty(self):
        return True


def from_command_line(monkeypatch, capsys, command, *argv) -> tuple[int, str, str]:
    """Run a command as manage.py does (run_from_argv): its exit status, stdout and stderr."""
    # run_from_argv closes the database connections when it ends, which would end the test's transaction.
    monkeypatch.setattr("django.core.management.base.connections.close_all", lambda: None)
    name = command.__name__.rsplit(".", 1)[-1]
    status = 0
    try:
        command.Command().run_from_argv(["manage.py", name, *argv, "--skip-checks"])
    except SystemExit as exit_:
        status = exit_.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# ---------------------------------------------------------------------------------------------
# import_data: a clean file
# ---------------------------------------------------------------------------------------------


def test_a_clean_file_is_written_row_by_row_with_stamped_history(tmp_path, world, officer):
    path = write(
        tmp_path,
        "counts.csv",
        HEADER,
        "alpha-health,Epic Ambulatory,2026,Counted,40,12,2026-01-15",
        "alpha-health,Cerner Billing,2026,Counted,25,1,",
        "alpha-clinic,Clinic Scheduling,2025,Counted,4,,01/31/2025",
    )
    counts_before, history_before = UserCount.objects.count(), history_of(UserCount)

    out, err = import_("user-counts", path, actor="officer-a", reason="2026 roster")

    assert "Imported 2 new, 1 updated, 0 unchanged user counts in counts.csv" in out
    assert err == ""
    record = DataImport.objects.get(dry_run=False)
    assert (record.outcome, record.actor, record.reason, record.new_rows, record.updated_rows) == (
        ImportOutcome.CONFIRMED,
        officer,
        "2026 roster",
        2,
        1,
    )
    assert f"import #{record.pk}" in out
    epic = UserCount.objects.get(application=world["epic"], license_year=2026)
    assert (epic.method, epic.direct_users, epic.program_users, epic.output_users, epic.counted_on) == (
        "counted",
        40,
        12,
        None,
        date(2026, 1, 15),
    )
    cerner = UserCount.objects.get(pk=world["cerner_count"].pk)
    assert (cerner.direct_users, cerner.program_users) == (25, 1)
    clinic = UserCount.objects.get(application=world["clinic_app"], license_year=2025)
    assert (clinic.direct_users, clinic.counted_on) == (4, date(2025, 1, 31))
    # The rest is untouched: Alpha Clinic's 2026 count, Beta's count.
    assert UserCount.objects.get(application=world["clinic_app"], license_year=2026).direct_users == 5
    assert UserCount.objects.get(application=world["beta_app"]).direct_users == 30
    assert UserCount.objects.count() == counts_before + 2
    # One history row per written record, each naming the person, the reason and the import.
    assert history_of(UserCount) == history_before + 3
    written = UserCount.history.model.objects.filter(data_import_id=record.pk)
    assert sorted(row.id for row in written) == sorted([epic.pk, cerner.pk, clinic.pk])
    assert {(row.history_user_id, row.history_change_reason) for row in written} == {(officer.pk, "2026 roster")}
    assert sorted(row.history_type for row in written) == ["+", "+", "~"]


def test_a_dry_run_checks_everything_and_writes_nothing(tmp_path, world, officer):
    path = write(tmp_path, "counts.csv", HEADER, "alpha-health,Epic Ambulatory,2026,Counted,40,12,2026-01-15")
    before = UserCount.objects.count(), history_of(UserCount)

    out, _ = import_("user-counts", path, actor="officer-a", dry_run=True)

    assert out.startswith("Dry run, nothing written: 1 new, 0 updated, 0 unchanged user counts in counts.csv")
    assert (UserCount.objects.count(), history_of(UserCount)) == before
    assert DataImport.objects.get().outcome == ImportOutcome.PREVIEWED


def test_verbosity_2_lists_each_change(tmp_path, world, officer):
    path = write(tmp_path, "counts.csv", HEADER, "alpha-health,Cerner Billing,2026,Counted,25,1,")

    out, _ = import_("user-counts", path, actor="officer-a", verbosity=2)

    assert "Line 2 (alpha-health / Cerner Billing / 2026), updated: (a) access CPT directly: 20 -> 25" in out


def test_an_unchanged_file_writes_no_record_and_no_history(tmp_path, world, officer):
    path = write(tmp_path, "counts.csv", HEADER, "alpha-health,Cerner Billing,2026,Counted,20,1,")
    before = history_of(UserCount)

    out, _ = import_("user-counts", path, actor="officer-a")

    assert "0 new, 0 updated, 1 unchanged" in out
    assert history_of(UserCount) == before


def test_the_command_line_limit_is_its_own_not_the_admins(tmp_path, world, officer, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 50
    path = write(tmp_path, "counts.csv", HEADER, "alpha-health,Epic Ambulatory,2026,Counted,40,12,2026-01-15")

    out, _ = import_("user-counts", path, actor="officer-a")
    assert "1 new" in out

    error, _ = refused("user-counts", path, actor="officer-a", max_mb=0.0001)
    assert "over the 0.0001 MB limit" in str(error) and "--max-mb" in str(error)
    assert import_data.DEFAULT_MAX_MB == 200


# ---------------------------------------------------------------------------------------------
# import_data: what is wrong, and that nothing was written
# ---------------------------------------------------------------------------------------------

BAD_LINES = (
    HEADER,
    "alpha-health,Epic Ambulatory,2026,Counted,40,12,2026-01-15",
    "alpha-health,Cerner Billing,2026,Counted,abc,1,",
    "alpha-health,Nonexistent System,2026,Counted,3,,",
    "beta-clinics,Beta Billing,2026,Counted,31,,",
    "alpha-health,Epic Ambulatory,2025,Counted,5,,31/31/2025",
)


def test_row_errors_exit_1_list_line_column_value_and_message_and_write_nothing(tmp_path, world, officer):
    path = write(tmp_path, "counts.csv", *BAD_LINES)
    counts_before = list(UserCount.objects.order_by("pk").values_list("pk", "direct_users"))
    history_before = history_of(UserCount)

    error, err = refused("user-counts", path, actor="officer-a")

    assert error.returncode == 1
    assert "Nothing was imported: 4 row(s) with problems in counts.csv" in str(error)
    lines = err.splitlines()
    assert (
        "Line 3 (alpha-health / Cerner Billing / 2026), column '(a) access CPT directly', value 'abc': "
        "'abc' is not a whole number; write digits only, e.g. 1250."
    ) in lines
    assert any(
        line.startswith("Line 4 (alpha-health / Nonexistent System / 2026), column 'System name', value ")
        and "Alpha Health has no application with the system name 'Nonexistent System'" in line
        for line in lines
    )
    assert any(
        line.startswith("Line 5 (beta-clinics / Beta Billing / 2026), column 'Organization', value 'beta-clinics'")
        and "No organization you manage" in line
        for line in lines
    )
    assert any(line.startswith("Line 6 ") and "'31/31/2025' is not a date" in line for line in lines)
    # Listed in line order; the good line 2 is not written either.
    numbers = [int(line.split()[1]) for line in lines if line.startswith("Line ")]
    assert numbers == sorted(numbers)
    assert not UserCount.objects.filter(application=world["epic"]).exists()
    assert list(UserCount.objects.order_by("pk").values_list("pk", "direct_users")) == counts_before
    assert history_of(UserCount) == history_before
    assert DataImport.objects.get().outcome == ImportOutcome.REFUSED


def test_errors_to_writes_the_problems_as_csv(tmp_path, world, officer):
    path = write(tmp_path, "counts.csv", *BAD_LINES)
    errors = tmp_path / "problems.csv"

    refused("user-counts", path, actor="officer-a", errors_to=str(errors))

    with errors.open(encoding="utf-8-sig", newline="") as stream:
        rows = list(csv.reader(stream))
    assert rows[0] == ["Line", "Record", "Column", "Value", "Problem"]
    assert [
        "3",
        "alpha-health / Cerner Billing / 2026",
        "(a) access CPT directly",
        "abc",
        "'abc' is not a whole number; write digits only, e.g. 1250.",
    ] in rows
    assert [row[0] for row in rows[1:]] == sorted((row[0] for row in rows[1:]), key=int)
    assert {row[0] for row in rows[1:]} == {"3", "4", "5", "6"}
    assert all(len(row) == 5 for row in rows)


def test_errors_to_is_only_the_header_when_nothing_is_wrong(tmp_path, world, officer):
    path = write(tmp_path, "counts.csv", HEADER, "alpha-health,Epic Ambulatory,2026,Counted,40,12,2026-01-15")
    errors = tmp_path / "problems.csv"
    errors.write_text("stale content from an earlier run\n")

    import_("user-counts", path, actor="officer-a", errors_to=str(errors))

    assert errors.read_text(encoding="utf-8-sig").splitlines() == ["Line,Record,Column,Value,Problem"]


def test_errors_to_escapes_cells_that_would_run_as_formulas(tmp_path, world, officer):
    path = write(tmp_path, "counts.csv", HEADER, "alpha-health,Epic Ambulatory,2026,Counted,=1+2,,")
    errors = tmp_path / "problems.csv"

    refused("user-counts", path, actor="officer-a", errors_to=str(errors))

    rows = list(csv.reader(errors.open(encoding="utf-8-sig", newline="")))
    assert rows[1][3] == "'=1+2"


def test_a_file_level_problem_is_reported_without_a_line(tmp_path, world, officer):
    path = write(tmp_path, "counts.csv", "Organisation,System name,License year", "alpha-health,Epic Ambulatory,2026")
    errors = tmp_path / "problems.csv"

    error, err = refused("user-counts", path, actor="officer-a", errors_to=str(errors))

    assert error.returncode == 1
    assert "Column 1 is headed 'Organisation'" in err and "Did you mean 'Organization'?" in err
    assert "problem(s) with the file" in str(error)
    rows = list(csv.reader(errors.open(encoding="utf-8-sig", newline="")))
    assert rows[1][:4] == ["", "", "", ""] and "Organisation" in rows[1][4]


def test_many_problems_are_cut_short_on_stderr_but_complete_in_the_file(tmp_path, world, officer):
    lines = [HEADER] + [f"alpha-health,Epic Ambulatory,{2000 + n},Counted,x,," for n in range(101)]
    path = write(tmp_path, "counts.csv", *lines)
    errors = tmp_path / "problems.csv"

    _, err = refused("user-counts", path, actor="officer-a", errors_to=str(errors))

    assert len([line for line in err.splitlines() if line.startswith("Line ")]) == import_data.SHOWN_PROBLEMS
    assert f"and 1 more; {errors} lists them all." in err
    assert len(list(csv.reader(errors.open(encoding="utf-8-sig", newline="")))) >= 102


def test_an_auditor_is_refused_with_exit_1(tmp_path, world, auditor):
    path = write(tmp_path, "counts.csv", HEADER, "alpha-health,Epic Ambulatory,2026,Counted,40,12,2026-01-15")

    error, err = refused("user-counts", path, actor="auditor-a")

    assert error.returncode == 1
    assert "Your role does not allow importing user counts." in err
    assert not UserCount.objects.filter(application=world["epic"]).exists()


def test_an_officer_cannot_import_rate_schedules(tmp_path, world, officer):
    path = write(tmp_path, "rates.csv", "License year,Basis,Source", "2030,Estimated,A guess")

    _, err = refused("rate-schedules", path, actor="officer-a")

    assert "Your role does not allow importing rate schedules." in err


def test_unknown_resource_actor_or_file_is_a_plain_message(tmp_path, world, officer):
    UserFactory(username="retired", is_active=False)
    path = write(tmp_path, "counts.csv", HEADER, "alpha-health,Epic Ambulatory,2026,Counted,40,12,")
    missing = str(tmp_path / "missing.csv")

    with pytest.raises(CommandError, match=r"^Unknown resource 'user-countz'\. Choose one of: organizations, contacts"):
        import_("user-countz", path, actor="officer-a")
    with pytest.raises(CommandError, match=r"^No person with username 'nobody'\."):
        import_("user-counts", path, actor="nobody")
    with pytest.raises(CommandError, match=r"^The account 'retired' is inactive"):
        import_("user-counts", path, actor="retired")
    with pytest.raises(CommandError, match=rf"^No file {missing}\.$"):
        import_("user-counts", missing, actor="officer-a")
    with pytest.raises(CommandError, match=r"is not a file"):
        import_("user-counts", str(tmp_path), actor="officer-a")
    assert not DataImport.objects.exists()


def test_from_the_command_line_errors_exit_non_zero_without_a_traceback(tmp_path, world, officer, monkeypatch, capsys):
    path = write(tmp_path, "counts.csv", *BAD_LINES)

    status, _, err = from_command_line(monkeypatch, capsys, import_data, "user-counts", path, "--actor", "officer-a")
    assert status == 1
    assert "Line 3 (alpha-health / Cerner Billing / 2026)" in err
    assert "CommandError: Nothing was imported" in err and "Traceback" not in err

    status, _, err = from_command_line(monkeypatch, capsys, import_data, "user-counts", path, "--actor", "nobody")
    assert status == 1
    assert (
        err.strip()
        == "CommandError: No person with username 'nobody'. Check the spelling, or create the account first."
    )

    missing = str(tmp_path / "missing.csv")
    status, _, err = from_command_line(monkeypatch, capsys, import_data, "user-counts", missing, "--actor", "officer-a")
    assert (status, err.strip()) == (1, f"CommandError: No file {missing}.")


def test_from_the_command_line_a_clean_import_exits_0(tmp_path, world, officer, monkeypatch, capsys):
    path = write(tmp_path, "counts.csv", HEADER, "alpha-health,Epic Ambulatory,2026,Counted,40,12,2026-01-15")

    status, out, err = from_command_line(monkeypatch, capsys, import_data, "user-counts", path, "--actor", "officer-a")

    assert (status, err) == (0, "")
    assert "Imported 1 new" in out


def test_progress_is_drawn_on_a_terminal_only(tmp_path, world, officer):
    path = write(tmp_path, "counts.csv", HEADER, "alpha-health,Epic Ambulatory,2026,Counted,40,12,2026-01-15")

    terminal = TTY()
    call_command(
        "import_data", "user-counts", path, actor="officer-a", dry_run=True, stdout=io.StringIO(), stderr=terminal
    )
    assert "\rChecking counts.csv: 1 rows checked" in terminal.getvalue()
    assert terminal.getvalue().endswith("\n")

    _, err = import_("user-counts", path, actor="officer-a", dry_run=True)
    assert "\r" not in err and "rows checked" not in err


def test_progress_counts_every_row():
    stream = TTY()
    progress = import_data.Progress(OutputWrapper(stream), "Importing x.csv")
    for _ in range(2500):
        progress(1)
    progress.finish()
    assert stream.getvalue().rstrip("\n").rsplit("\r", 1)[-1].startswith("Importing x.csv: 2,500 rows checked")


# ---------------------------------------------------------------------------------------------
# export_data
# ---------------------------------------------------------------------------------------------


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def test_export_to_stdout_is_the_resources_columns_and_every_row(world):
    out, err = export("user-counts")

    rows = rows_of(out)
    assert rows[0] == RESOURCES["user-counts"](actor=None).headers()
    assert sorted((row[0], row[1], row[2], row[4]) for row in rows[1:]) == [
        ("alpha-clinic", "Clinic Scheduling", "2026", "5"),
        ("alpha-health", "Cerner Billing", "2026", "20"),
        ("beta-clinics", "Beta Billing", "2026", "30"),
    ]
    assert err.strip() == "Exported 3 user counts to stdout (CSV)."


def test_export_of_an_organization_includes_its_affiliates_only(world):
    out, _ = export("user-counts", organization=["alpha-health"])
    assert sorted(row[0] for row in rows_of(out)[1:]) == ["alpha-clinic", "alpha-health"]

    out, _ = export("user-counts", organization=["alpha-clinic"])
    assert [row[0] for row in rows_of(out)[1:]] == ["alpha-clinic"]


def test_export_finds_organizations_by_ein_and_takes_several(world, org_b):
    out, _ = export("applications", organization=[f"{org_b.ein[:2]}-{org_b.ein[2:]}", "alpha-clinic"])
    assert sorted((row[0], row[1]) for row in rows_of(out)[1:]) == [
        ("alpha-clinic", "Clinic Scheduling"),
        ("beta-clinics", "Beta Billing"),
    ]


def test_export_as_an_actor_is_what_they_may_view(world, officer, auditor):
    out, _ = export("user-counts", actor="officer-a")
    assert sorted(row[0] for row in rows_of(out)[1:]) == ["alpha-clinic", "alpha-health"]

    out, _ = export("user-counts", actor="auditor-a")
    assert sorted(row[0] for row in rows_of(out)[1:]) == ["alpha-clinic", "alpha-health"]

    with pytest.raises(CommandError, match="No organization that this person may view has the short name or EIN"):
        export("user-counts", actor="officer-a", organization=["beta-clinics"])


def test_export_refuses_unknowns_plainly(world, tmp_path):
    with pytest.raises(CommandError, match="Unknown resource 'countz'"):
        export("countz")
    with pytest.raises(CommandError, match="No person with username 'nobody'"):
        export("user-counts", actor="nobody")
    with pytest.raises(CommandError, match="No organization has the short name or EIN 'gamma'"):
        export("user-counts", organization=["gamma"])
    with pytest.raises(CommandError, match="Vendors are shared by every organization"):
        export("vendors", organization=["alpha-health"])
    with pytest.raises(CommandError, match="XLSX workbook cannot go to stdout"):
        export("user-counts", format="xlsx")
    with pytest.raises(CommandError, match="Cannot tell the format"):
        export("user-counts", output=str(tmp_path / "counts.txt"))


def test_export_to_files_in_each_format(world, tmp_path):
    from openpyxl import load_workbook

    _, err = export("user-counts", output=str(tmp_path / "counts.xlsx"), organization=["alpha-health"])
    assert err.strip() == f"Exported 2 user counts to {tmp_path / 'counts.xlsx'} (XLSX)."
    sheet = load_workbook(tmp_path / "counts.xlsx", read_only=True).worksheets[0]
    cells = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert cells[0][:3] == ["Organization", "System name", "License year"]
    assert sorted((row[1], row[2], row[4]) for row in cells[1:]) == [
        ("Cerner Billing", 2026, 20),
        ("Clinic Scheduling", 2026, 5),
    ]

    export("user-counts", output=str(tmp_path / "counts.json"), organization=["alpha-clinic"])
    items = json.loads((tmp_path / "counts.json").read_text())
    assert [(item["System name"], item["License year"]) for item in items] == [("Clinic Scheduling", 2026)]

    export("user-counts", output=str(tmp_path / "counts.data"), format="csv")
    assert len(rows_of((tmp_path / "counts.data").read_text(encoding="utf-8"))) == 4


def test_export_escapes_formulas(world):
    ApplicationFactory(organization=world["clinic"], name="=HYPERLINK(1)")
    out, _ = export("applications", organization=["alpha-clinic"])
    assert "'=HYPERLINK(1)" in [row[1] for row in rows_of(out)]


# ---------------------------------------------------------------------------------------------
# Round trip: an export imports back writing nothing
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def admin(db):
    return UserFactory(username="root", is_superuser=True)


# A roster file imports as a new roster, compared with the last one (tests/test_rosters.py has its round trip).
@pytest.mark.parametrize("resource", [name for name, resource in RESOURCES.items() if not resource.whole_file])
@pytest.mark.parametrize("file_format", ["csv", "xlsx", "json"])
def test_an_export_imports_back_writing_nothing(world, admin, tmp_path, resource, file_format):
    VendorFactory(name="Cedarline Health Systems")
    path = tmp_path / f"{resource}.{file_format}"
    export(resource, output=str(path))
    model = RESOURCES[resource]._meta.model
    rows, history = model._default_manager.count(), history_of(model)

    out, _ = import_(resource, str(path), actor="root")

    assert f"0 new, 0 updated, {rows:,} unchanged" in out
    assert (model._default_manager.count(), history_of(model)) == (rows, history)


def test_an_officers_export_imports_back_as_that_officer(world, officer, tmp_path):
    path = tmp_path / "licenses.csv"
    export("licenses", actor="officer-a", output=str(path))

    out, _ = import_("licenses", str(path), actor="officer-a")

    assert "0 new, 0 updated, 1 unchanged" in out


def test_export_from_the_command_line(world, monkeypatch, capsys, tmp_path):
    status, out, err = from_command_line(
        monkeypatch, capsys, export_data, "user-counts", "--organization", "alpha-clinic"
    )
    assert (status, err.strip()) == (0, "Exported 1 user counts to stdout (CSV).")
    assert [row[:2] for row in rows_of(out)[1:]] == [["alpha-clinic", "Clinic Scheduling"]]

    status, _, err = from_command_line(monkeypatch, capsys, export_data, "user-counts", "--organization", "gamma")
    assert (status, err.strip()) == (
        1,
        "CommandError: No organization has the short name or EIN 'gamma'. The Organizations page shows both.",
    )


def test_export_of_organizations_narrowed_to_one_system(world):
    out, _ = export("organizations", organization=["alpha-health"])
    assert sorted(row[1] for row in rows_of(out)[1:]) == ["alpha-clinic", "alpha-health"]


def test_what_was_assumed_about_the_file_is_noted_on_stderr(tmp_path, world, officer):
    path = tmp_path / "counts.csv"
    path.write_bytes(
        (HEADER + "\nalpha-health,Epic Ambulatory,2026,Counted,40,12,2026-01-15\n").replace(",", ";").encode("cp1252")
        + "alpha-health;Cerner Billing;2026;Counted;25;1;\n".encode("cp1252")
    )

    out, err = import_("user-counts", str(path), actor="officer-a")

    assert "1 new, 1 updated" in out
    assert "Note: Columns are separated by semicolons" in err


def test_an_officers_application_file_keeps_links_they_cannot_see(world, admin, officer, org_b, tmp_path):
    epic = world["epic"]
    epic.users_at_other_entities.add(world["clinic"], org_b)
    services.record_save(epic, actor=admin, reason="Beta's staff use it too")
    path = tmp_path / "applications.csv"
    export("applications", actor="officer-a", output=str(path))
    text = path.read_text(encoding="utf-8-sig")
    assert "alpha-clinic" in text and "beta-clinics" not in text  # Beta is outside the officer's access

    edited = text.replace("Epic Ambulatory,Ambulatory EHR", "Epic Ambulatory,Billing / revenue cycle")
    path.write_text(edited, encoding="utf-8")
    out, _ = import_("applications", str(path), actor="officer-a")

    assert "1 updated" in out
    epic.refresh_from_db()
    assert epic.category == "billing_rcm"
    assert set(epic.users_at_other_entities.all()) == {world["clinic"], org_b}
