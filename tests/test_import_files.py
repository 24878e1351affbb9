"""The files people actually upload (tests/import_files/): Excel's CSV variants, workbooks with dates and numbers
stored as text, messy headings and blank rows, and the broken ones. A readable file imports what it says; a
broken one is refused with a message that says what is wrong, and writes nothing at all."""

import datetime

import pytest
from django.utils import timezone

from licensing.choices import ImportOutcome
from licensing.models import Application, UserCount
from tests.import_support import (
    OTHER_EIN,
    OTHER_NAME,
    OTHER_SLUG,
    build_world,
    errors_by_line,
    history_counts,
    problems_of,
    read,
    run,
    table_counts,
    values,
    xlsx,
)

pytestmark = pytest.mark.django_db

USER_COUNT_HEADERS = ["Organization", "System name", "License year", "(a) access CPT directly"]
# openpyxl reads a date cell as a naive datetime: a workbook has no time zone.
EXCEL_DATE_CELL = datetime.datetime(2026, 1, 15)  # noqa: DTZ001


@pytest.fixture
def world(org_a):
    return build_world(org_a)


def assert_refused_and_nothing_written(outcome_of, *expected_messages):
    """Run `outcome_of()` (an import), expecting it refused with each message, and every table unchanged."""
    before = table_counts()
    result = outcome_of()
    assert result.outcome == ImportOutcome.REFUSED
    if not result.dry_run:
        assert (result.new_rows, result.updated_rows) == (0, 0)
    messages = problems_of(result)
    for expected in expected_messages:
        assert any(expected in message for message in messages), (expected, messages)
    assert table_counts() == before
    return result


# ---------------------------------------------------------------------------------------------
# Files that read: what they say is written
# ---------------------------------------------------------------------------------------------


def test_utf8_with_bom_reads_the_first_heading_and_accents(world, officer):
    result = run("user-counts", "user-counts-utf8-bom.csv", actor=officer)
    assert result.outcome == ImportOutcome.CONFIRMED, problems_of(result)
    assert (result.new_rows, result.updated_rows, result.error_rows) == (1, 1, 0)
    assert values(world.epic_count, "direct_users", "counted_by", "counted_on") == {
        "direct_users": 12,
        "counted_by": "José Núñez",
        "counted_on": datetime.date(2026, 1, 15),
    }
    added = UserCount.objects.get(application=world.cerner, license_year=2025)
    assert (added.direct_users, added.program_users, added.counted_by) == (7, 1, "José Núñez")
    assert result.report["notes"] == []


def test_windows_1252_csv_is_read_as_such_and_says_so(world, officer):
    content = read("applications-windows-1252.csv")
    with pytest.raises(UnicodeDecodeError):
        content.decode("utf-8")  # the fixture really is Windows-1252
    result = run("applications", "applications-windows-1252.csv", actor=officer)
    assert result.outcome == ImportOutcome.CONFIRMED, problems_of(result)
    added = Application.objects.get(organization=world.org, name="Clínica Scheduler")
    assert added.owner == "Señora Pérez"
    assert added.category == Application.Category.PRACTICE_MANAGEMENT
    assert list(added.data_files.values_list("code", flat=True)) == ["cpt-standard"]
    assert any("Windows-1252" in note for note in result.report["notes"])


@pytest.mark.parametrize(
    ("file_name", "separator"),
    [("user-counts-semicolon.csv", "semicolons"), ("user-counts-tab.tsv", "tabs"), ("user-counts-utf16.txt", "tabs")],
)
def test_semicolon_and_tab_separated_files_read_like_commas(world, officer, file_name, separator):
    result = run("user-counts", file_name, actor=officer)
    assert result.outcome == ImportOutcome.CONFIRMED, problems_of(result)
    assert (result.new_rows, result.updated_rows) == (1, 1)
    assert values(world.epic_count, "direct_users", "counted_on") == {
        "direct_users": 12,
        "counted_on": datetime.date(2026, 1, 15),
    }
    added = UserCount.objects.get(application=world.cerner, license_year=2025)
    assert (added.direct_users, added.program_users, added.counted_on) == (7, 1, datetime.date(2025, 1, 10))
    assert any(f"separated by {separator}" in note for note in result.report["notes"])


def test_utf16_text_keeps_accents_and_says_so(world, officer):
    result = run("user-counts", "user-counts-utf16.txt", actor=officer)
    assert result.outcome == ImportOutcome.CONFIRMED, problems_of(result)
    assert values(world.epic_count, "counted_by")["counted_by"] == "José Núñez"
    assert any("UTF-16" in note for note in result.report["notes"])


def test_numbers_stored_as_text_and_an_excel_serial_date_in_csv(world, officer):
    result = run("user-counts", "user-counts-numbers-as-text.csv", actor=officer)
    assert result.outcome == ImportOutcome.CONFIRMED, problems_of(result)
    assert values(world.epic_count, "direct_users", "program_users", "output_users", "counted_on") == {
        "direct_users": 1250,
        "program_users": 12,
        "output_users": 3,
        "counted_on": datetime.date(2026, 1, 15),  # 46037 days after Excel's 1899-12-30
    }
    [entry] = result.report["entries"]
    assert ["(a) access CPT directly", "10", "1250"] in entry["changes"]


def test_xlsx_date_cells_serials_and_numbers_stored_as_text(world, officer):
    headers = [*USER_COUNT_HEADERS, "(b) produce output with it", "Counted on"]
    content = xlsx(
        (
            "User counts",
            [
                headers,
                ["alpha-health", "Epic Ambulatory", 2026.0, "1,250", "12", EXCEL_DATE_CELL],
                ["alpha-health", "Cerner Billing", "2026", 21.0, 2, "46037"],
                ["alpha-health", "Cerner Billing", 2025, " 7 ", "0", datetime.date(2025, 1, 10)],
            ],
        )
    )
    result = run("user-counts", "counts.xlsx", content, actor=officer)
    assert result.outcome == ImportOutcome.CONFIRMED, problems_of(result)
    assert (result.new_rows, result.updated_rows) == (1, 2)
    assert values(world.epic_count, "direct_users", "program_users", "counted_on") == {
        "direct_users": 1250,
        "program_users": 12,
        "counted_on": datetime.date(2026, 1, 15),
    }
    assert values(world.cerner_count, "direct_users", "program_users", "counted_on") == {
        "direct_users": 21,
        "program_users": 2,
        "counted_on": datetime.date(2026, 1, 15),
    }
    added = UserCount.objects.get(application=world.cerner, license_year=2025)
    assert (added.direct_users, added.counted_on) == (7, datetime.date(2025, 1, 10))
    assert result.report["notes"] == []


def test_thousands_separators_in_base_metrics(world, officer):
    content = b'Organization,License year,Employees,Physicians\r\nalpha-health,2026,"2,400","1,012"\r\n'
    result = run("base-metrics", "metrics.csv", content, actor=officer)
    assert result.outcome == ImportOutcome.CONFIRMED, problems_of(result)
    metrics = world.org.base_metrics.get(license_year=2026)
    assert (metrics.employees, metrics.physicians) == (2400, 1012)


def test_heading_case_spacing_trailing_spaces_and_blank_rows(world, officer):
    result = run("user-counts", "user-counts-messy-headers.csv", actor=officer)
    assert result.outcome == ImportOutcome.CONFIRMED, problems_of(result)
    assert (result.new_rows, result.updated_rows, result.unchanged_rows) == (0, 2, 0)
    assert values(world.epic_count, "direct_users", "counted_by") == {"direct_users": 12, "counted_by": "Dana Reyes"}
    assert values(world.cerner_count, "direct_users", "counted_by") == {"direct_users": 21, "counted_by": "Dana Reyes"}
    # The preview names the lines as the file has them, blank lines counted.
    assert sorted(entry["line"] for entry in result.report["entries"]) == [3, 6]


def test_trailing_spaces_alone_are_no_change(world, officer):
    content = (
        b"Organization ,System name,License year,(a) access CPT directly\r\n"
        b"alpha-health ,Epic Ambulatory ,2026, 10 \r\n"
    )
    before = history_counts(UserCount)
    result = run("user-counts", "counts.csv", content, actor=officer)
    assert result.outcome == ImportOutcome.CONFIRMED, problems_of(result)
    assert (result.new_rows, result.updated_rows, result.unchanged_rows) == (0, 0, 1)
    assert history_counts(UserCount) == before


def test_an_xlsx_with_several_sheets_reads_the_first_and_says_so(world, officer):
    content = xlsx(
        ("User counts", [USER_COUNT_HEADERS, ["alpha-health", "Epic Ambulatory", 2026, 12]]),
        ("Scratch", [USER_COUNT_HEADERS, ["alpha-health", "Cerner Billing", 2026, 99]]),
        ("Notes", [["Ignore this sheet"]]),
    )
    result = run("user-counts", "counts.xlsx", content, actor=officer)
    assert result.outcome == ImportOutcome.CONFIRMED, problems_of(result)
    assert result.report["notes"] == ["The workbook has 3 sheets; only the first, 'User counts', was read."]
    assert values(world.epic_count, "direct_users")["direct_users"] == 12
    assert values(world.cerner_count, "direct_users")["direct_users"] == 20


# ---------------------------------------------------------------------------------------------
# Files that are refused: the plain message, and nothing written
# ---------------------------------------------------------------------------------------------

both_steps = pytest.mark.parametrize("dry_run", [True, False], ids=["preview", "confirm"])


@both_steps
def test_unknown_column_names_the_closest_known_one(world, officer, dry_run):
    result = assert_refused_and_nothing_written(
        lambda: run("user-counts", "user-counts-unknown-column.csv", actor=officer, dry_run=dry_run),
        "Column 5 is headed 'Evidense', which is not a column of user counts. Did you mean 'Evidence'?",
    )
    assert len(result.report["problems"]) == 1


@both_steps
def test_missing_key_column_is_named(world, officer, dry_run):
    assert_refused_and_nothing_written(
        lambda: run("user-counts", "user-counts-missing-key-column.csv", actor=officer, dry_run=dry_run),
        "The file has no 'License year' column; it is needed to find each row.",
    )


@both_steps
def test_the_same_key_twice_is_refused_on_the_second_line(world, officer, dry_run):
    result = assert_refused_and_nothing_written(
        lambda: run("user-counts", "user-counts-duplicate-key.csv", actor=officer, dry_run=dry_run),
        "Line 3 has the same 'System name' and 'License year'",
    )
    assert list(errors_by_line(result)) == [4]
    assert values(world.epic_count, "direct_users")["direct_users"] == 10


@both_steps
def test_references_to_records_that_do_not_exist(world, officer, dry_run):
    result = assert_refused_and_nothing_written(
        lambda: run("applications", "applications-missing-references.csv", actor=officer, dry_run=dry_run),
        "line 2: Vendor: No vendor is named 'Nonesuch Software'.",
        "line 3: AMA data files used: No AMA data file is called 'CPT Platinum'.",
        "line 4: Organization: No organization you manage has the short name or EIN 'nowhere-health'.",
    )
    assert sorted(errors_by_line(result)) == [2, 3, 4]
    assert result.error_rows == 3


@both_steps
def test_rows_of_an_organization_outside_the_memberships_are_refused_row_by_row(world, officer, dry_run):
    result = assert_refused_and_nothing_written(
        lambda: run("user-counts", "user-counts-other-organization.csv", actor=officer, dry_run=dry_run),
        f"No organization you manage has the short name or EIN '{OTHER_SLUG}'.",
        "No organization you manage has the short name or EIN '98-1234567'.",
    )
    errors = errors_by_line(result)
    assert sorted(errors) == [3, 4]  # line 2, Alpha Health's own row, was fine
    assert result.error_rows == 2
    messages = [message for problems in errors.values() for _column, _value, message in problems]
    # The problem is put on the Organization column, where the person has to correct it.
    assert [(column, value) for problems in errors.values() for column, value, _message in problems] == [
        ("Organization", OTHER_SLUG),
        ("Organization", "98-1234567"),
    ]
    assert not any(OTHER_NAME.casefold() in message.casefold() for message in messages)
    # Named by its EIN, the organization's slug is not revealed either.
    assert not any(OTHER_SLUG in message for _column, _value, message in errors[4])
    assert not any(OTHER_EIN in message for message in messages)
    # The message for an organization that exists elsewhere is the one for an organization that does not exist.
    nowhere = run(
        "user-counts",
        "nowhere.csv",
        b"Organization,System name,License year,(a) access CPT directly\r\nnowhere-at-all,Epic Ambulatory,2026,99\r\n",
        actor=officer,
        dry_run=True,
    )
    [[_column, _value, unknown]] = errors_by_line(nowhere)[2]
    [[_column, _value, outside]] = errors[3]
    assert outside == unknown.replace("nowhere-at-all", OTHER_SLUG)
    assert values(world.other_epic.user_counts.get(), "direct_users")["direct_users"] == 30
    assert values(world.epic_count, "direct_users")["direct_users"] == 10


@both_steps
def test_a_file_over_the_size_limit(world, officer, dry_run):
    assert_refused_and_nothing_written(
        lambda: run("user-counts", "user-counts-utf8-bom.csv", actor=officer, dry_run=dry_run, max_bytes=100),
        "The file is 301 bytes; the limit here is 100 bytes.",
    )


def test_the_size_limit_comes_from_the_settings(world, officer, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 200
    assert_refused_and_nothing_written(
        lambda: run("user-counts", "user-counts-utf8-bom.csv", actor=officer),
        "The file is 301 bytes; the limit here is 200 bytes.",
    )
    settings.IMPORT_MAX_UPLOAD_BYTES = 301
    assert run("user-counts", "user-counts-utf8-bom.csv", actor=officer).outcome == ImportOutcome.CONFIRMED


@both_steps
def test_csv_text_named_xlsx(world, officer, dry_run):
    assert_refused_and_nothing_written(
        lambda: run("user-counts", "user-counts-text-named.xlsx", actor=officer, dry_run=dry_run),
        "'user-counts-text-named.xlsx' is named like an Excel workbook but is not one (it looks like text). "
        "Rename it to .csv",
    )


@both_steps
def test_a_workbook_named_csv(world, officer, dry_run):
    content = xlsx(("User counts", [USER_COUNT_HEADERS, ["alpha-health", "Epic Ambulatory", 2026, 12]]))
    assert_refused_and_nothing_written(
        lambda: run("user-counts", "counts.csv", content, actor=officer, dry_run=dry_run),
        "'counts.csv' is an Excel workbook (or another zip file), not CSV. Rename it to .xlsx",
    )


@both_steps
def test_an_old_xls_workbook(world, officer, dry_run):
    assert_refused_and_nothing_written(
        lambda: run(
            "user-counts",
            "counts.xls",
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64,
            actor=officer,
            dry_run=dry_run,
        ),
        "Old Excel workbooks (.xls) cannot be read.",
    )


@both_steps
@pytest.mark.parametrize("file_name", ["empty.csv", "empty.xlsx", "empty.json"])
def test_an_empty_file(world, officer, dry_run, file_name):
    assert_refused_and_nothing_written(
        lambda: run("user-counts", file_name, read("empty.csv"), actor=officer, dry_run=dry_run),
        "The file is empty.",
    )


@both_steps
def test_headings_without_rows(world, officer, dry_run):
    assert_refused_and_nothing_written(
        lambda: run("user-counts", "headers-only.csv", actor=officer, dry_run=dry_run),
        "The file has column headings but no rows below them; nothing to import.",
    )


@both_steps
def test_a_damaged_workbook(world, officer, dry_run):
    content = xlsx(("User counts", [USER_COUNT_HEADERS]))[:300]
    assert_refused_and_nothing_written(
        lambda: run("user-counts", "counts.xlsx", content, actor=officer, dry_run=dry_run),
        "The workbook could not be opened",
    )


@both_steps
def test_a_cell_that_is_not_a_number_or_date(world, officer, dry_run):
    content = (
        b"Organization,System name,License year,(a) access CPT directly,Counted on\r\n"
        b"alpha-health,Epic Ambulatory,2026,twelve,2026-01-15\r\n"
        b"alpha-health,Cerner Billing,2026,21,the 15th\r\n"
    )
    result = assert_refused_and_nothing_written(
        lambda: run("user-counts", "counts.csv", content, actor=officer, dry_run=dry_run),
        "line 2: (a) access CPT directly: 'twelve' is not a whole number",
        "line 3: Counted on: 'the 15th' is not a date",
    )
    assert result.error_rows == 2


@both_steps
@pytest.mark.parametrize(
    "content",
    [b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n\r\n", "\r\n \r\n".encode("utf-16"), b" \r\n\t\r\n"],
    ids=["utf8-bom-only", "utf8-bom-blank-lines", "utf16-blank-lines", "blank-lines"],
)
def test_a_file_of_only_a_byte_order_mark_and_blank_lines_is_empty(world, officer, dry_run, content):
    assert_refused_and_nothing_written(
        lambda: run("user-counts", "counts.csv", content, actor=officer, dry_run=dry_run), "The file is empty."
    )


@both_steps
@pytest.mark.parametrize("encoding", ["UTF-8", "UTF-16"])
def test_a_file_whose_text_is_not_what_its_byte_order_mark_says(world, officer, dry_run, encoding):
    text = "Organization,System name,License year,Counted by\r\nalpha-health,Epic Ambulatory,2026,José\r\n"
    if encoding == "UTF-8":
        content = "\ufeff".encode() + text.encode("cp1252")
    else:
        content = text.encode("utf-16") + b"\x00"  # one byte short of a character at the end
    assert_refused_and_nothing_written(
        lambda: run("user-counts", "counts.csv", content, actor=officer, dry_run=dry_run),
        f"The file starts as {encoding} text but is not {encoding} throughout.",
    )


@both_steps
def test_a_decimal_comma_is_refused_rather_than_read_as_thousands(world, officer, dry_run):
    # European Excel writes semicolon-separated files with decimal commas: 2,5 is two and a half, not 25.
    content = (
        b"Organization;System name;License year;Method;Base metric;Base metric value;Proxy factor\r\n"
        b"alpha-health;Epic Ambulatory;2026;User Proxy Model;Physicians;12;2,5\r\n"
        b"alpha-health;Cerner Billing;2026;Counted users;;;\r\n"
    )
    result = assert_refused_and_nothing_written(
        lambda: run("user-counts", "counts.csv", content, actor=officer, dry_run=dry_run),
        "line 2: Proxy factor: '2,5' cannot be read as a number: a comma may only separate thousands (1,250).",
    )
    assert list(errors_by_line(result)) == [2]


def test_commas_between_thousands_and_currency_signs_still_read(world, admin_user):
    content = b'Name,Processing fee per user\r\nEpic Systems,"$1,250.50"\r\n'
    result = run("vendors", "vendors.csv", content, actor=admin_user, dry_run=True)
    [entry] = result.report["entries"]
    assert entry["changes"] == [["Processing fee per user", "0.00", "1250.50"]]


@both_steps
def test_a_year_in_a_date_column_is_not_read_as_an_excel_serial(world, officer, dry_run):
    content = b"Organization,System name,License year,Counted on\r\nalpha-health,Epic Ambulatory,2026,2026\r\n"
    assert_refused_and_nothing_written(
        lambda: run("user-counts", "counts.csv", content, actor=officer, dry_run=dry_run),
        "line 2: Counted on: '2026' is not a date; write it as 2026-01-31 (or 01/31/2026).",
    )


@both_steps
def test_a_count_or_date_out_of_range_is_refused_row_by_row_in_the_forms_words(world, officer, dry_run):
    # The ranges of licensing/models/ranges.py, through the model's validation as on the admin pages.
    next_year_end = f"31 December {timezone.localdate().year + 1}"
    result = assert_refused_and_nothing_written(
        lambda: run("user-counts", "user-counts-out-of-range.csv", actor=officer, dry_run=dry_run),
        "line 3: (a) access CPT directly: Users under (a) must be between 0 and 10,000,000.",
        f"line 4: Counted on: Counted on must be between 1 January 1970 and {next_year_end}.",
    )
    assert list(errors_by_line(result)) == [3, 4]
