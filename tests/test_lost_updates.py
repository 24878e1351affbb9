"""No lost updates (issue 11): two people edit the same record; the second save is refused, shows what the first
changed, keeps the second person's input, and overwrites nothing. Also concurrent saves on PostgreSQL and on a
file-based SQLite database."""

import csv
import io
import shutil
import sqlite3
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections, transaction
from django.test import Client
from django.urls import reverse

from licensing import services
from licensing.admin import versions as form_versions
from licensing.admin.versions import MISSING, VERSION_FIELD
from licensing.models import Application, Filing, License, Organization, UserCount
from tests.admin_forms import inline_errors, page_form_data
from tests.factories import (
    ApplicationFactory,
    LicenseFactory,
    UserCountFactory,
    UserFactory,
    member,
    record,
)

REASON = {"change_reason": "Checked against the roster"}


@pytest.fixture
def second_client(org_a):
    """Another officer of the same organization, signed in in a browser of their own."""
    person = UserFactory(username="officer-b")
    member(person, org_a, "officer")
    client = Client()
    client.force_login(person)
    return client


def change_url(obj) -> str:
    return f"/admin/licensing/{obj._meta.model_name}/{obj.pk}/change/"


# Per record: how to make one, the field the first person changes (old -> new as history shows it), and the
# field the second person changes.
RECORDS = {
    "usercount": (
        lambda org: UserCountFactory(application=ApplicationFactory(organization=org), direct_users=10),
        ("direct_users", "12", "(a) access CPT directly: 10 → 12"),
        ("evidence", "HR roster, March"),
    ),
    "license": (
        lambda org: LicenseFactory(application=ApplicationFactory(organization=org), licensed_users=10),
        ("licensed_users", "14", "Licensed users: 10 → 14"),
        ("notes", "Invoice 2026-114 received"),
    ),
    "application": (
        lambda org: ApplicationFactory(organization=org, owner="IT"),
        ("owner", "Revenue cycle office", "System owner: IT → Revenue cycle office"),
        ("notes", "Replaced in 2027"),
    ),
    "organization": (
        lambda org: org,
        ("city", "Lakeview", "City: Springfield → Lakeview"),
        ("notes", "Merged billing office"),
    ),
    "filing": (
        lambda org: record(Filing, organization=org, license_year=2026, signatory_name="Pat Doe"),
        ("signatory_name", "Sam Roe", "Signatory name: Pat Doe → Sam Roe"),
        ("signatory_title", "Chief compliance officer"),
    ),
}


def fresh(obj):
    return type(obj)._default_manager.get(pk=obj.pk)


@pytest.mark.parametrize("name", list(RECORDS))
def test_the_second_save_is_refused_shows_the_first_change_and_keeps_the_input(
    officer_client, second_client, org_a, name
):
    build, (first_field, first_value, shown), (second_field, second_value) = RECORDS[name]
    obj = build(org_a)
    url = change_url(obj)
    # Both open the record before either saves.
    first_page, second_page = page_form_data(officer_client.get(url)), page_form_data(second_client.get(url))
    assert first_page[VERSION_FIELD] == second_page[VERSION_FIELD] == str(obj.version)
    history_before = obj.history.count()

    saved = officer_client.post(url, {**first_page, first_field: first_value, **REASON})
    assert saved.status_code == 302, saved.context and saved.context["adminform"].form.errors

    refused = second_client.post(url, {**second_page, second_field: second_value, **REASON})
    assert refused.status_code == 200
    text = refused.content.decode()
    assert "changed by someone else after you opened it" in text
    assert shown in text and "officer-a" in text
    assert "Nothing was overwritten" in text
    form = refused.context["adminform"].form
    # The second person's input is kept; where they changed nothing, the form shows the first person's value.
    assert str(form[second_field].value()) == second_value
    assert str(form[first_field].value()) == first_value
    assert form[VERSION_FIELD].value() == str(obj.version + 1)

    stored = fresh(obj)
    assert str(getattr(stored, first_field)) == first_value
    assert getattr(stored, second_field) != second_value
    assert stored.version == obj.version + 1
    rows = list(obj.history.order_by("history_id"))
    assert len(rows) == history_before + 1
    assert rows[-1].history_user_name == "officer-a"

    # Saving the re-displayed form applies the second person's edit over the first one's.
    again = second_client.post(url, page_form_data(refused))
    assert again.status_code == 302
    stored = fresh(obj)
    assert (str(getattr(stored, first_field)), getattr(stored, second_field)) == (first_value, second_value)
    assert stored.version == obj.version + 2


def test_both_changing_the_same_field_keeps_the_second_value_on_the_form_only(officer_client, second_client, org_a):
    count = UserCountFactory(application=ApplicationFactory(organization=org_a), direct_users=10)
    url = change_url(count)
    first_page, second_page = page_form_data(officer_client.get(url)), page_form_data(second_client.get(url))
    assert officer_client.post(url, {**first_page, "direct_users": "12", **REASON}).status_code == 302

    refused = second_client.post(url, {**second_page, "direct_users": "15", **REASON})
    assert "(a) access CPT directly: 10 → 12" in refused.content.decode()
    assert refused.context["adminform"].form["direct_users"].value() == "15"
    assert fresh(count).direct_users == 12


def test_a_license_status_move_over_a_newer_version_is_refused(officer_client, second_client, org_a):
    license = LicenseFactory(
        application=ApplicationFactory(organization=org_a), status=License.Status.NEEDED, agreement_number=""
    )
    url = change_url(license)
    first_page, second_page = page_form_data(officer_client.get(url)), page_form_data(second_client.get(url))
    assert officer_client.post(url, {**first_page, "licensed_users": "30", **REASON}).status_code == 302

    refused = second_client.post(url, {**second_page, "status": License.Status.DRAFTED, **REASON})
    assert refused.status_code == 200
    assert "Licensed users: 10 → 30" in refused.content.decode()
    stored = fresh(license)
    assert (stored.status, stored.licensed_users) == (License.Status.NEEDED, 30)


def test_a_page_posted_without_its_version_is_refused(officer_client, org_a):
    count = UserCountFactory(application=ApplicationFactory(organization=org_a), direct_users=10)
    url = change_url(count)
    data = page_form_data(officer_client.get(url))
    for value in (None, "", "abc", "0", "-3", "9" * 30):
        posted = {**data, "direct_users": "11", **REASON}
        if value is None:
            posted.pop(VERSION_FIELD)
        else:
            posted[VERSION_FIELD] = value
        response = officer_client.post(url, posted)
        assert response.status_code == 200, value
        assert (
            "does not say which version of the record it was opened at"
            in response.context["adminform"].form.non_field_errors()[0]
        )
        assert MISSING in response.context["adminform"].form.non_field_errors()
    assert fresh(count).direct_users == 10
    assert count.history.count() == 1


# ---------------------------------------------------------------------------------------------
# Inline rows: a count or license edited on its own page meanwhile is not overwritten from the parent page
# ---------------------------------------------------------------------------------------------


def row_prefix(data: dict, prefix: str, pk: int) -> str:
    return next(
        key[: -len("-id")]
        for key, value in data.items()
        if key.startswith(prefix) and key.endswith("-id") and value == str(pk)
    )


def test_an_inline_count_changed_on_its_own_page_meanwhile_is_not_overwritten(officer_client, second_client, org_a):
    application = ApplicationFactory(organization=org_a)
    count = UserCountFactory(application=application, direct_users=10)
    page = page_form_data(second_client.get(change_url(application)))
    own = page_form_data(officer_client.get(change_url(count)))
    assert officer_client.post(change_url(count), {**own, "direct_users": "12", **REASON}).status_code == 302

    row = row_prefix(page, "user_counts-", count.pk)
    refused = second_client.post(
        change_url(application), {**page, f"{row}-direct_users": "20", "owner": "IT", **REASON}
    )
    assert refused.status_code == 200
    problems = " ".join(inline_errors(refused))
    assert "changed by someone else" in problems and "(a) access CPT directly: 10 → 12" in problems
    assert fresh(count).direct_users == 12
    # The page as a whole is refused: the application's own field is not saved either.
    assert fresh(application).owner != "IT"


def test_an_inline_application_changed_meanwhile_is_not_overwritten_from_the_organization_page(
    officer_client, second_client, org_a
):
    application = ApplicationFactory(organization=org_a, name="Billing")
    page = page_form_data(second_client.get(change_url(org_a)))
    own = page_form_data(officer_client.get(change_url(application)))
    assert officer_client.post(change_url(application), {**own, "name": "Billing (Epic)"}).status_code == 302

    row = row_prefix(page, "applications-", application.pk)
    refused = second_client.post(change_url(org_a), {**page, f"{row}-in_service_from": "2020-01-01"})
    assert refused.status_code == 200
    assert (
        "System name: Billing → Billing (Epic)" in " ".join(inline_errors(refused))
        or "Billing → Billing (Epic)" in refused.content.decode()
    )
    stored = fresh(application)
    assert (stored.name, stored.in_service_from) == ("Billing (Epic)", None)


# ---------------------------------------------------------------------------------------------
# The write path itself
# ---------------------------------------------------------------------------------------------


def test_record_save_from_an_older_version_raises_stale_record_with_the_change(org_a, officer):
    count = UserCountFactory(application=ApplicationFactory(organization=org_a), direct_users=10)
    mine, theirs = fresh(count), fresh(count)
    theirs.direct_users = 12
    services.record_save(theirs, actor=officer, reason="Recount")

    mine.direct_users = 99
    with pytest.raises(services.StaleRecord) as refused:
        services.record_save(mine, actor=officer, reason="Mine")
    (item,) = refused.value.stale
    assert (item.expected, item.current) == (1, 2)
    assert [(change.old, change.new) for edit in item.edits for change in edit.changes] == [("10", "12")]
    assert item.edits[0].person == "officer-a" and item.edits[0].reason == "Recount"
    assert fresh(count).direct_users == 12
    assert mine.version == 1, "a refused save leaves the copy at the version it was loaded with"

    # An explicit expected version is what counts, whatever the copy was loaded with.
    with pytest.raises(services.StaleRecord):
        services.record_save(fresh(count), actor=officer, reason="Late", expected_version=1)
    saved = services.record_save(fresh(count), actor=officer, reason="Current", expected_version=2)
    assert saved.version == 3


def test_every_save_and_bulk_update_moves_the_version_on(org_a, officer):
    application = ApplicationFactory(organization=org_a)
    assert application.version == 1
    services.record_save(application, actor=officer, reason="Owner", validate=False)
    assert fresh(application).version == 2
    rows = services.record_bulk_update([fresh(application)], Application, ["owner"], actor=officer, reason="Bulk")
    assert rows[0].version == fresh(application).version == 3
    # (The factory's data files are a second row at version 1: a link change is no save of the record.)
    assert list(application.history.order_by("history_id").values_list("version", flat=True)) == [1, 1, 2, 3]
    stale = Application.objects.get(pk=application.pk)
    services.record_save(fresh(application), actor=officer, reason="Meanwhile")
    with pytest.raises(services.StaleRecord):
        services.record_bulk_update([stale], Application, ["owner"], actor=officer, reason="Bulk again")
    assert fresh(application).version == 4


# ---------------------------------------------------------------------------------------------
# Two concurrent transactions on PostgreSQL
# ---------------------------------------------------------------------------------------------

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="threads on SQLite's in-memory test database share one lock table"
)


def in_threads(*workers):
    """Run each worker in its own thread (own database connection); return their results or exceptions."""
    results: list = [None] * len(workers)

    def run(index, worker):
        try:
            results[index] = worker()
        except Exception as error:  # noqa: BLE001 - returned to the test thread
            results[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, worker)) for i, worker in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a worker hung"
    return results


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_transactions_saving_one_count_only_one_wins():
    person = UserFactory(username="officer-a")
    count = UserCountFactory(direct_users=10)
    both_loaded = threading.Barrier(2, timeout=30)

    def saver(users):
        def work():
            with transaction.atomic():
                mine = UserCount.objects.get(pk=count.pk)
                both_loaded.wait()
                mine.direct_users = users
                return services.record_save(mine, actor=person, reason=f"Set to {users}").direct_users

        return work

    results = in_threads(saver(11), saver(22))
    won = [result for result in results if isinstance(result, int)]
    refused = [result for result in results if isinstance(result, services.StaleRecord)]
    assert len(won) == 1 and len(refused) == 1, results
    stored = fresh(count)
    assert (stored.direct_users, stored.version) == (won[0], 2)
    assert f"10 → {won[0]}" in str(refused[0])
    assert count.history.count() == 2


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_two_officers_posting_the_same_license_at_once_only_one_is_saved():
    org = Organization.objects.create(name="Alpha Health", slug="alpha-health", city="Springfield")
    license = LicenseFactory(application=ApplicationFactory(organization=org), licensed_users=10)
    clients, pages = [], []
    for name in ("officer-a", "officer-b"):
        person = UserFactory(username=name)
        member(person, org, "officer")
        client = Client()
        client.force_login(person)
        clients.append(client)
        pages.append(page_form_data(client.get(change_url(license))))

    both_ready = threading.Barrier(2, timeout=30)

    def post(index, users):
        def work():
            both_ready.wait()
            return clients[index].post(change_url(license), {**pages[index], "licensed_users": users, **REASON})

        return work

    responses = in_threads(post(0, "11"), post(1, "22"))
    assert sorted(response.status_code for response in responses) == [200, 302]
    refused = next(response for response in responses if response.status_code == 200)
    assert "changed by someone else after you opened it" in refused.content.decode()
    winner = next(response for response in responses if response.status_code == 302)
    stored = fresh(license)
    assert stored.licensed_users == (11 if winner is responses[0] else 22)
    assert stored.version == 2 and license.history.count() == 2


# ---------------------------------------------------------------------------------------------
# SQLite in a file, as `make run` uses it: two saves at once wait for each other instead of failing
# ---------------------------------------------------------------------------------------------

needs_sqlite = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's locking only")


@pytest.fixture
def sqlite_file(tmp_path, django_db_blocker):
    """A copy of the migrated test database in a file, with the portal's SQLite settings; `in_file(work)` runs
    `work` in a thread whose default database is that file. (Transactional: the copy is taken outside a test
    transaction, which would hold the in-memory database's lock; it holds the initial content, as every committing
    test starts with, tests/conftest.py.)"""
    path = tmp_path / "portal.sqlite3"
    with django_db_blocker.unblock():
        connection.ensure_connection()
        target = sqlite3.connect(path)
        connection.connection.backup(target)
        target.close()
        settings_dict = {**connection.settings_dict, "NAME": str(path)}
        wrapper_class = type(connections["default"])
    assert settings_dict["ATOMIC_REQUESTS"] and settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"

    def in_file(work):
        def run():
            connections["default"] = wrapper_class(settings_dict, "default")
            with django_db_blocker.unblock():
                return work()

        return run

    yield in_file
    shutil.rmtree(tmp_path, ignore_errors=True)


def setup_two_counts():
    org = Organization.objects.create(name="Alpha Health", slug="alpha-health")
    counts = [UserCountFactory(application=ApplicationFactory(organization=org), direct_users=10) for _ in range(2)]
    clients = []
    for name in ("officer-a", "officer-b"):
        person = UserFactory(username=name)
        member(person, org, "officer")
        client = Client()
        client.force_login(person)
        clients.append(client)
    return counts, clients


@needs_sqlite
@pytest.mark.django_db(transaction=True)
def test_two_saves_at_once_on_sqlite_both_succeed(sqlite_file, monkeypatch):
    ((counts, clients),) = in_threads(sqlite_file(setup_two_counts))
    # One after the other: the test client reads a page's form from a signal that concurrent requests share.
    pages = [
        in_threads(sqlite_file(lambda c=c, n=n: page_form_data(c.get(change_url(n)))))[0]
        for c, n in zip(clients, counts, strict=True)
    ]

    # Each save waits, after reading, until the other has read too: begun deferred, the second writer would
    # find its snapshot out of date and answer "database is locked" at once.
    real_save = services.record_save
    both_read = threading.Barrier(2, timeout=2)

    def save_when_both_have_read(*args, **kwargs):
        try:
            both_read.wait()
        except threading.BrokenBarrierError:
            pass  # the other is waiting for the write lock, as it should
        return real_save(*args, **kwargs)

    monkeypatch.setattr(services, "record_save", save_when_both_have_read)

    def post(index, users):
        return sqlite_file(
            lambda: clients[index].post(change_url(counts[index]), {**pages[index], "direct_users": users, **REASON})
        )

    responses = in_threads(post(0, "11"), post(1, "22"))
    for response in responses:
        assert getattr(response, "status_code", response) == 302, response
    stored = in_threads(sqlite_file(lambda: sorted(UserCount.objects.values_list("direct_users", flat=True))))
    assert stored == [[11, 22]]


@needs_sqlite
@pytest.mark.django_db(transaction=True)
def test_a_page_opens_on_sqlite_while_a_save_holds_the_write_lock(sqlite_file, monkeypatch):
    ((counts, clients),) = in_threads(sqlite_file(setup_two_counts))
    (page,) = in_threads(sqlite_file(lambda: page_form_data(clients[0].get(change_url(counts[0])))))
    real_save = services.record_save
    saving, release = threading.Event(), threading.Event()

    def held_save(*args, **kwargs):
        saving.set()
        release.wait(timeout=40)
        return real_save(*args, **kwargs)

    monkeypatch.setattr(services, "record_save", held_save)
    seen = []

    def read_while_saving():
        assert saving.wait(timeout=30)
        try:
            seen.append(clients[1].get("/admin/licensing/usercount/").status_code)
        finally:
            release.set()

    responses = in_threads(
        sqlite_file(lambda: clients[0].post(change_url(counts[0]), {**page, "direct_users": "11", **REASON})),
        sqlite_file(read_while_saving),
    )
    # The list opened while the save was still holding the lock (it released the save only afterwards).
    assert seen == [200]
    assert getattr(responses[0], "status_code", responses[0]) == 302


# ---------------------------------------------------------------------------------------------
# Imports: an old export, and a preview confirmed after someone else saved
# ---------------------------------------------------------------------------------------------


def csv_file(rows: list[list[str]]) -> SimpleUploadedFile:
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    return SimpleUploadedFile("counts.csv", text.getvalue().encode(), content_type="text/csv")


def import_counts(client, rows) -> str:
    response = client.post(reverse("admin:licensing_usercount_import"), {"file": csv_file(rows), "change_reason": ""})
    assert response.status_code == 302, response.content.decode()[:2000]
    return response["Location"]


def edit_count(client, count, users: str) -> None:
    page = page_form_data(client.get(change_url(count)))
    assert client.post(change_url(count), {**page, "direct_users": users, **REASON}).status_code == 302


def test_a_reimported_old_export_is_refused_for_the_records_changed_since(officer_client, second_client, org_a):
    billing = UserCountFactory(application=ApplicationFactory(organization=org_a, name="Billing"), direct_users=10)
    ehr = UserCountFactory(application=ApplicationFactory(organization=org_a, name="Clinic EHR"), direct_users=5)
    exported = officer_client.get(reverse("admin:licensing_usercount_export") + "?format=csv")
    rows = list(csv.reader(io.StringIO(b"".join(exported.streaming_content).decode("utf-8-sig"))))
    header = rows[0]
    assert header[-1] == "Version"
    by_system = {row[header.index("System name")]: row for row in rows[1:]}
    assert by_system["Billing"][-1] == by_system["Clinic EHR"][-1] == "1"

    edit_count(second_client, billing, "12")
    users = header.index("(a) access CPT directly")
    by_system["Billing"][users], by_system["Clinic EHR"][users] = "20", "6"
    preview = import_counts(officer_client, [header, *by_system.values()])
    text = officer_client.get(preview).content.decode()
    assert "changed since the file was exported (version 1 in the file, 2 now)" in text
    assert "(a) access CPT directly: 10 → 12" in text and "officer-b" in text
    assert 'value="Confirm import"' not in text
    officer_client.post(preview)
    assert (fresh(billing).direct_users, fresh(ehr).direct_users) == (12, 5)

    # Clearing the Version cell writes the row over the change, deliberately.
    by_system["Billing"][-1] = ""
    preview = import_counts(officer_client, [header, *by_system.values()])
    assert 'value="Confirm import"' in officer_client.get(preview).content.decode()
    assert officer_client.post(preview).status_code == 302
    assert (fresh(billing).direct_users, fresh(ehr).direct_users) == (20, 6)
    assert fresh(billing).version == 3


def test_a_row_changed_between_preview_and_confirm_is_refused_and_nothing_is_written(
    officer_client, second_client, org_a
):
    billing = UserCountFactory(application=ApplicationFactory(organization=org_a, name="Billing"), direct_users=10)
    ApplicationFactory(organization=org_a, name="Clinic EHR")
    header = ["Organization", "System name", "License year", "Method", "(a) access CPT directly"]
    preview = import_counts(
        officer_client,
        [
            header,
            ["alpha-health", "Billing", "2026", "Counted", "20"],
            ["alpha-health", "Clinic EHR", "2026", "Counted", "4"],
        ],
    )
    assert 'value="Confirm import"' in officer_client.get(preview).content.decode()
    edit_count(second_client, billing, "12")

    refused = officer_client.post(preview, follow=True)
    text = refused.content.decode()
    assert "changed since your preview (version 1 then, 2 now)" in text
    assert "(a) access CPT directly: 10 → 12" in text and "officer-b" in text
    assert fresh(billing).direct_users == 12
    assert not UserCount.objects.filter(application__name="Clinic EHR").exists()
    assert not UserCount.history.filter(data_import_id__isnull=False).exists()


def test_the_write_path_refuses_even_where_the_form_check_is_missed(officer_client, second_client, org_a, monkeypatch):
    """Should a save slip past the form's check, record_save refuses it: the page says what changed, writes nothing."""
    license = LicenseFactory(application=ApplicationFactory(organization=org_a), licensed_users=10)
    url = change_url(license)
    first_page, second_page = page_form_data(officer_client.get(url)), page_form_data(second_client.get(url))
    assert officer_client.post(url, {**first_page, "licensed_users": "14", **REASON}).status_code == 302

    monkeypatch.setattr(form_versions, "clean_version", lambda form: setattr(form, "seen_version", 1))
    refused = second_client.post(url, {**second_page, "notes": "Invoice received", **REASON}, follow=True)
    assert refused.status_code == 200
    assert "Licensed users: 10 → 14" in refused.content.decode()
    stored = fresh(license)
    assert (stored.licensed_users, stored.notes, stored.version) == (14, "", 2)
    assert license.history.count() == 2


def test_the_hidden_version_is_no_change_of_its_own(officer_client, org_a):
    """A page saved as it was opened changes nothing, so no reason is asked for rows the person did not touch."""
    application = ApplicationFactory(organization=org_a)
    count = UserCountFactory(application=application)
    url = change_url(application)
    data = page_form_data(officer_client.get(url))
    assert officer_client.post(url, data).status_code == 302
    assert fresh(count).version == 1
