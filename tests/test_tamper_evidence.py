"""Tamper evidence: normal use keeps every hash chain intact; out-of-band SQL on history or live rows is caught.

The check is licensing.verification, run by `manage.py verify_audit_trail` (exit status 1 on a break)
and by the organization's "Verify history" admin page.
"""

import itertools
import os
import sqlite3
import subprocess
import sys
import threading
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from licensing import demo, services
from licensing.audit import hashing, links, people, verification
from licensing.audit.records import tracked_models
from licensing.models import Application, Contact, DataFile, License, Membership, Organization, UserCount
from tests.admin_forms import field_errors, inline_errors, post_admin_form
from tests.factories import (
    ApplicationFactory,
    LicenseFactory,
    OrganizationFactory,
    UserCountFactory,
    UserFactory,
    data_file,
    record,
)

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
HistoricalLicense = License.history.model
HistoricalApplication = Application.history.model
LinkHistory = links.m2m_history_model_of(HistoricalApplication, Application._meta.get_field("data_files"))


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def verify_passes(*args) -> str:
    out, err = StringIO(), StringIO()
    call_command("verify_audit_trail", *args, stdout=out, stderr=err)
    assert err.getvalue() == ""
    return out.getvalue()


def verify_fails(*args) -> str:
    """Run the command expecting exit status 1; returns what it reported on stderr."""
    err = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("verify_audit_trail", *args, stdout=StringIO(), stderr=err)
    assert caught.value.returncode == 1
    assert "break(s) found" in str(caught.value)
    return err.getvalue()


def execute(sql: str, params=()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def edit(obj, actor, reason: str, **fields):
    """A normal save that records who and why, as services do."""
    for name, value in fields.items():
        setattr(obj, name, value)
    return services.record_save(obj, actor=actor, reason=reason, validate=False)


def chain_of(obj) -> list:
    return list(type(obj).history.model.objects.filter(id=obj.pk).order_by("history_id"))


@pytest.fixture
def actor(db):
    return UserFactory(username="records-clerk")


@pytest.fixture
def license_chain(org_a, actor):
    """A license with four versions: created, then three edits of licensed users."""
    license = LicenseFactory(application=ApplicationFactory(organization=org_a), licensed_users=10)
    for users in (20, 30, 40):
        edit(license, actor, f"Licensed users now {users}", licensed_users=users)
    rows = chain_of(license)
    assert [row.history_type for row in rows] == ["+", "~", "~", "~"]
    assert verification.verify() == []
    return license, rows


# ---------------------------------------------------------------------------------------------
# (a) Normal use never breaks a chain
# ---------------------------------------------------------------------------------------------


def test_normal_use_through_admin_services_and_deletes_keeps_every_chain_intact(client):
    call_command("seed_demo", stdout=StringIO())
    administrator = get_user_model().objects.get(username=demo.ADMIN_LOGIN.username)
    officer = get_user_model().objects.get(username=demo.OFFICER_LOGIN.username)
    system = Organization.objects.get(slug=demo.DEMO_SYSTEM_SLUG)
    application = Application.objects.filter(organization=system).exclude(cpt_coverage="no_cpt").order_by("pk").first()
    license = License.objects.filter(application__organization=system).order_by("-license_year", "pk").first()
    other_entity = Organization.objects.filter(parent=system).order_by("pk").first()
    all_files = list(DataFile.objects.values_list("pk", flat=True))

    client.force_login(officer)
    # An officer's edit with m2m changes on both tracked m2m fields.
    response = post_admin_form(
        client,
        application.get_absolute_url(),
        {
            "owner": "Revenue cycle office",
            "data_files": all_files,
            "users_at_other_entities": [other_entity.pk],
            "change_reason": "Inventory review",
        },
    )
    assert response.status_code == 302, (field_errors(response), inline_errors(response))
    assert set(application.data_files.values_list("pk", flat=True)) == set(all_files)
    # Remove files again: post_remove / post_clear also write rows.
    response = post_admin_form(
        client,
        application.get_absolute_url(),
        {"data_files": all_files[:1], "users_at_other_entities": [], "change_reason": "Files corrected"},
    )
    assert response.status_code == 302
    # A save that changes nothing still writes a row, chained like any other.
    assert post_admin_form(client, application.get_absolute_url(), {"change_reason": "Reviewed"}).status_code == 302
    response = post_admin_form(
        client,
        license.get_absolute_url(),
        {"notes": "Checked against the AMA invoice", "change_reason": "Invoice check"},
    )
    assert response.status_code == 302, (field_errors(response), inline_errors(response))
    # An organization edit with a new inline row (a contact created through the organization page).
    taken = set(Contact.objects.filter(organization=other_entity).values_list("role", flat=True))
    free_role = next((role for role in Contact.Role.values if role not in taken), None)
    if free_role is None:
        Contact.objects.filter(organization=other_entity, role=Contact.Role.LEGAL).get().delete()
        free_role = Contact.Role.LEGAL
    response = post_admin_form(
        client,
        other_entity.get_absolute_url(),
        {"city": "Riverbend", "change_reason": "Address and billing contact"},
        inline_rows={"contacts": [{"role": free_role, "name": "Pat Lee", "email": "pat@example.org"}]},
    )
    assert response.status_code == 302, response

    renewal = services.license_renew(license=license, actor=officer)
    services.license_set_status(
        license=renewal, status=License.Status.DRAFTED, actor=officer, reason="Application drafted"
    )

    client.force_login(administrator)
    contact = Contact.objects.get(organization=other_entity, role=free_role)
    response = client.post(f"/admin/licensing/contact/{contact.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and not Contact.objects.filter(pk=contact.pk).exists()
    assert [row.history_type for row in Contact.history.filter(id=contact.pk).order_by("history_id")] == ["+", "-"]

    assert verification.verify() == []
    assert "intact" in verify_passes()
    assert "intact" in verify_passes("--organization", system.slug)


def test_unknown_organization_slug_is_refused_with_a_hint():
    with pytest.raises(CommandError, match="No organization with slug 'nowhere'"):
        call_command("verify_audit_trail", "--organization", "nowhere", stdout=StringIO(), stderr=StringIO())


# ---------------------------------------------------------------------------------------------
# (b) An edited history row
# ---------------------------------------------------------------------------------------------


def test_sql_update_of_a_history_row_names_object_row_and_hashes(license_chain):
    license, rows = license_chain
    edited = rows[1]
    assert (
        execute(f"UPDATE {table(HistoricalLicense)} SET licensed_users = 99 WHERE history_id = %s", [edited.history_id])
        == 1
    )

    report = verify_fails()

    recomputed = hashing.row_hash(HistoricalLicense.objects.get(history_id=edited.history_id), {})
    assert recomputed != edited.row_hash
    assert report.strip().splitlines() == [
        (
            f"license {license.pk}, history row {edited.history_id}: row content does not match its hash "
            f"(expected {recomputed}, found {edited.row_hash})"
        )
    ]
    # The organization-scoped run sees it too; other organizations stay intact.
    assert str(edited.history_id) in verify_fails("--organization", license.application.organization.slug)
    other = OrganizationFactory()
    assert "intact" in verify_passes("--organization", other.slug)


def test_edit_with_recomputed_hash_still_breaks_the_next_link(license_chain):
    """A forger who knows the algorithm rehashes the row; the next row still points at the old hash."""
    license, rows = license_chain
    edited = HistoricalLicense.objects.get(history_id=rows[1].history_id)
    edited.licensed_users = 99
    forged_hash = hashing.row_hash(edited, {})
    execute(
        f"UPDATE {table(HistoricalLicense)} SET licensed_users = 99, row_hash = %s WHERE history_id = %s",
        [forged_hash, edited.history_id],
    )

    breaks = verification.verify()

    assert breaks == [
        verification.ChainBreak(
            "license",
            license.pk,
            rows[2].history_id,
            "link to the previous row is broken",
            forged_hash,
            rows[1].row_hash,
        )
    ]


def test_verify_audit_trail_exits_1_as_a_process(tmp_path):
    """The real exit status, from a shell: a fresh database is intact (0), an edited history row is not (1)."""
    database = tmp_path / "audit.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "DJANGO_SETTINGS_MODULE": "portal.settings"}

    def manage(*args):
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    migrated = manage("migrate", "--noinput", "-v", "0")
    assert migrated.returncode == 0, migrated.stderr
    intact = manage("verify_audit_trail")
    assert intact.returncode == 0, intact.stderr
    assert "intact" in intact.stdout

    with sqlite3.connect(database) as db:
        history_id, file_id, row_hash = db.execute(
            "SELECT history_id, id, row_hash FROM licensing_historicaldatafile ORDER BY history_id LIMIT 1"
        ).fetchone()
        db.execute(
            "UPDATE licensing_historicaldatafile SET name = 'Renamed out of band' WHERE history_id = ?", [history_id]
        )

    broken = manage("verify_audit_trail")
    assert broken.returncode == 1, (broken.stdout, broken.stderr)
    # The row is the file's only one, so it is both altered and no longer what the live file holds.
    assert f"AMA data file {file_id}, history row {history_id}: row content does not match its hash" in broken.stderr
    assert f"found {row_hash})" in broken.stderr
    assert (
        f"AMA data file {file_id}, history row {history_id}: live object differs from its newest history row"
        in broken.stderr
    )
    assert "2 break(s) found" in broken.stderr


# ---------------------------------------------------------------------------------------------
# (c) Deleted, inserted and bypassed rows
# ---------------------------------------------------------------------------------------------


def test_deleting_a_middle_row_breaks_the_link_of_the_next(license_chain):
    license, rows = license_chain
    execute(f"DELETE FROM {table(HistoricalLicense)} WHERE history_id = %s", [rows[1].history_id])

    assert verification.verify() == [
        verification.ChainBreak(
            "license",
            license.pk,
            rows[2].history_id,
            "link to the previous row is broken",
            rows[0].row_hash,
            rows[1].row_hash,
        )
    ]
    assert f"history row {rows[2].history_id}: link to the previous row is broken" in verify_fails()


def test_deleting_the_newest_row_shows_the_live_object_differs(license_chain):
    license, rows = license_chain
    execute(f"DELETE FROM {table(HistoricalLicense)} WHERE history_id = %s", [rows[-1].history_id])

    assert verification.verify() == [
        verification.ChainBreak(
            "license",
            license.pk,
            rows[-2].history_id,
            "live object differs from its newest history row",
            "the values of the newest row",
            # The live record's version is one save ahead of the row left too (licensing.versions).
            "changes in licensed_users, version",
        ),
        verification.ChainBreak(
            "license",
            license.pk,
            rows[-2].history_id,
            "newest row is not the recorded end of the chain",
            f"row {rows[-1].history_id} ({rows[-1].row_hash[:12]})",
            f"row {rows[-2].history_id} ({rows[-2].row_hash[:12]})",
        ),
    ]
    verify_fails()


def test_deleting_the_newest_row_of_a_save_that_changed_nothing_is_caught(license_chain, actor):
    license, _ = license_chain
    edit(license, actor, "Reviewed against the AMA invoice; no change")
    newest = chain_of(license)[-1]
    assert newest.changed_fields == ",,"
    execute(f"DELETE FROM {table(HistoricalLicense)} WHERE history_id = %s", [newest.history_id])

    assert verification.verify() != []


def test_deleting_every_row_of_a_live_object_is_caught(license_chain):
    license, _ = license_chain
    execute(f"DELETE FROM {table(HistoricalLicense)} WHERE id = %s", [license.pk])

    assert verification.verify() == [
        verification.ChainBreak("license", license.pk, None, "object has no history", "at least one row", "none")
    ]


def test_deleting_the_deletion_row_of_a_deleted_object_is_caught(org_a, actor):
    contact = record(Contact, organization=org_a, role="billing", name="Robin Vega")
    contact_id = contact.pk
    services.record_delete(contact, actor=actor, reason="Left the organization")
    created, deleted = Contact.history.filter(id=contact_id).order_by("history_id")
    assert verification.verify() == []

    execute(f"DELETE FROM {table(Contact.history.model)} WHERE history_id = %s", [deleted.history_id])

    assert verification.verify() == [
        verification.ChainBreak(
            "contact",
            contact_id,
            created.history_id,
            "object is gone but its history records no deletion",
            "a deletion row",
            "last row of type +",
        ),
        verification.ChainBreak(
            "contact",
            contact_id,
            created.history_id,
            "newest row is not the recorded end of the chain",
            f"row {deleted.history_id} ({deleted.row_hash[:12]})",
            f"row {created.history_id} ({created.row_hash[:12]})",
        ),
    ]


def test_an_inserted_forged_row_is_caught(license_chain):
    """A row copied from the newest one with other values, inserted with SQL, carrying the copied hash."""
    license, rows = license_chain
    newest = rows[-1]
    columns = [field.column for field in HistoricalLicense._meta.concrete_fields if field.column != "history_id"]
    quoted = ", ".join(connection.ops.quote_name(column) for column in columns)
    chosen = ", ".join(
        {"licensed_users": "500", "previous_hash": "row_hash", "previous_history_id": "history_id"}.get(
            column, connection.ops.quote_name(column)
        )
        for column in columns
    )
    execute(
        f"INSERT INTO {table(HistoricalLicense)} ({quoted}) "
        f"SELECT {chosen} FROM {table(HistoricalLicense)} WHERE history_id = %s",
        [newest.history_id],
    )
    forged = chain_of(license)[-1]
    assert forged.history_id > newest.history_id and forged.licensed_users == 500

    breaks = verification.verify()

    assert [(broken.history_id, broken.problem) for broken in breaks] == [
        (forged.history_id, "row content does not match its hash"),
        (forged.history_id, "live object differs from its newest history row"),
        (forged.history_id, "newest row is not the recorded end of the chain"),
    ]
    assert f"license {license.pk}, history row {forged.history_id}" in verify_fails()


def test_an_update_of_a_live_row_that_bypasses_history_is_caught(license_chain):
    license, rows = license_chain
    execute(f"UPDATE {table(License)} SET licensed_users = 999, notes = 'quiet edit' WHERE id = %s", [license.pk])

    assert verification.verify() == [
        verification.ChainBreak(
            "license",
            license.pk,
            rows[-1].history_id,
            "live object differs from its newest history row",
            "the values of the newest row",
            "changes in licensed_users, notes",
        )
    ]
    report = verify_fails()
    assert f"license {license.pk}, history row {rows[-1].history_id}: live object differs" in report


def test_queryset_update_on_a_tracked_model_is_caught(license_chain):
    license, _ = license_chain
    License.objects.filter(pk=license.pk).update(licensed_users=7)

    assert [broken.problem for broken in verification.verify()] == ["live object differs from its newest history row"]


def test_deleting_a_recorded_link_from_m2m_history_is_caught(org_a, actor):
    application = ApplicationFactory(organization=org_a, data_files=["cpt-standard", "cpt-rvu"])
    edit(application, actor, "Owner named", owner="Billing office")
    _created, linked, _named = chain_of(application)
    assert LinkHistory.objects.filter(history_id=linked.history_id).count() == 2
    assert verification.verify() == []

    # A recorded link removed from the m2m history: the row that recorded it no longer matches its hash.
    deleted = execute(
        f"DELETE FROM {table(LinkHistory)} WHERE history_id = %s AND datafile_id = %s",
        [linked.history_id, data_file("cpt-rvu").pk],
    )
    assert deleted == 1
    assert [(broken.history_id, broken.problem) for broken in verification.verify()] == [
        (linked.history_id, "row content does not match its hash")
    ]


def test_links_added_without_history_are_caught(org_a):
    application = ApplicationFactory(organization=org_a, data_files=["cpt-standard"])
    through = Application.data_files.through
    execute(
        f"INSERT INTO {table(through)} (application_id, datafile_id) VALUES (%s, %s)",
        [application.pk, data_file("cpt-rvu").pk],
    )

    assert [(broken.object_id, broken.found) for broken in verification.verify()] == [
        (application.pk, "changes in data_files")
    ]


# ---------------------------------------------------------------------------------------------
# (d) The organization's "Verify history" admin page
# ---------------------------------------------------------------------------------------------


def verify_url(organization) -> str:
    return f"/admin/licensing/organization/{organization.pk}/verify/"


def organization_history(organization) -> tuple[int, int]:
    """(rows, chains) of the organization's own records and its members' accounts: every row of each chain
    with a row stamped with the organization (or, a person's, concerning it)."""
    rows = chains = 0
    for model in tracked_models():
        history = model.history.model
        chain_rows = history.objects.filter(id__in=people.organization_rows(history, organization.pk).values("id"))
        rows += chain_rows.count()
        chains += chain_rows.values("id").distinct().count()
    return rows, chains


@pytest.fixture
def two_organizations(org_a, org_b, actor):
    made = {}
    for organization in (org_a, org_b):
        license = LicenseFactory(application=ApplicationFactory(organization=organization))
        edit(license, actor, "Licensed users corrected", licensed_users=15)
        record(Contact, organization=organization, role="primary", name=f"{organization.name} contact")
        made[organization.slug] = license
    return made


def test_auditor_verifies_an_intact_organization(auditor_client, org_a, two_organizations):
    page = auditor_client.get(verify_url(org_a))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Check the history now" in text and 'name="csrfmiddlewaretoken"' in text
    assert "Intact" not in text and "Broken" not in text
    assert f'href="/admin/licensing/organization/{org_a.pk}/change/"' in text  # breadcrumbs back to the organization

    result = auditor_client.post(verify_url(org_a))

    assert result.status_code == 200
    rows, chains = organization_history(org_a)
    assert rows >= 6 and chains >= 5
    assert f"Intact: {rows} history rows in {chains} chains checked" in result.content.decode()
    assert result.context["breaks"] == []


def test_verify_page_lists_each_break_of_the_organization_only(auditor_client, org_a, org_b, two_organizations):
    mine, theirs = two_organizations[org_a.slug], two_organizations[org_b.slug]
    newest = chain_of(mine)[-1]
    execute(f"UPDATE {table(License)} SET licensed_users = 999 WHERE id = %s", [mine.pk])
    execute(f"UPDATE {table(HistoricalLicense)} SET agreement_number = 'FORGED' WHERE id = %s", [theirs.pk])

    result = auditor_client.post(verify_url(org_a))

    assert result.status_code == 200
    text = result.content.decode()
    assert "Intact" not in text and "Broken: 1 problem found" in text
    assert result.context["breaks"] == [
        verification.ChainBreak(
            "license",
            mine.pk,
            newest.history_id,
            "live object differs from its newest history row",
            "the values of the newest row",
            "changes in licensed_users",
        )
    ]
    table_html = text[text.index('id="chain-breaks"') :]
    for cell in [
        "License",
        f"<td>{mine.pk}</td>",
        f"<td>{newest.history_id}</td>",
        "Live object differs from its newest history row",
        "the values of the newest row",
        "changes in licensed_users",
    ]:
        assert cell in table_html
    assert "FORGED" not in text
    # org_b's breaks (both rows rewritten, so two hash mismatches and a live mismatch) stay on org_b's page.
    assert [broken.object_id for broken in verification.verify(organization_id=org_b.pk)] == [theirs.pk] * 3


def test_verify_page_shows_edited_history_row_with_expected_and_found_hashes(officer_client, org_a, two_organizations):
    license = two_organizations[org_a.slug]
    first = chain_of(license)[0]
    execute(f"UPDATE {table(HistoricalLicense)} SET licensed_users = 1 WHERE history_id = %s", [first.history_id])

    text = officer_client.post(verify_url(org_a)).content.decode()

    expected = hashing.row_hash(HistoricalLicense.objects.get(history_id=first.history_id), {})
    assert "Row content does not match its hash" in text
    assert expected in text and first.row_hash in text


def test_verify_page_of_another_organization_is_404(auditor_client, org_b, two_organizations):
    assert auditor_client.get(verify_url(org_b)).status_code == 404
    assert auditor_client.post(verify_url(org_b)).status_code == 404
    assert auditor_client.get("/admin/licensing/organization/987654/verify/").status_code == 404


def test_verify_page_needs_view_permission(client, org_a, two_organizations):
    """A membership without the role's permissions (no group) reaches the organization but may not view it."""
    person = UserFactory(username="no-permissions")
    record(Membership, user=person, organization=org_a, role=Membership.Role.AUDITOR)
    client.force_login(person)

    assert client.get(verify_url(org_a)).status_code == 403
    assert client.post(verify_url(org_a)).status_code == 403


def test_verify_page_needs_a_login_and_a_csrf_token(client, auditor, org_a, two_organizations):
    response = client.get(verify_url(org_a))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]

    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(auditor)
    assert strict.post(verify_url(org_a)).status_code == 403
    page = strict.get(verify_url(org_a))
    token = page.cookies["csrftoken"].value
    assert strict.post(verify_url(org_a), {"csrfmiddlewaretoken": token}).status_code == 200


def test_verify_page_writes_nothing(auditor_client, org_a, two_organizations):
    before = organization_history(org_a)
    for _ in range(2):
        assert auditor_client.post(verify_url(org_a)).status_code == 200
    assert organization_history(org_a) == before
    assert auditor_client.put(verify_url(org_a)).status_code == 405


def test_verify_page_query_count_does_not_grow_with_records(
    auditor_client, org_a, actor, django_assert_max_num_queries
):
    LicenseFactory(application=ApplicationFactory(organization=org_a))
    # More queries per record type read the chain heads (90 with the 25 tracked types since roster purges, whose
    # records the check reads once more).
    with django_assert_max_num_queries(90) as few:
        auditor_client.post(verify_url(org_a))
    for _ in range(10):
        edit(LicenseFactory(application=ApplicationFactory(organization=org_a)), actor, "Edited", licensed_users=3)
    with django_assert_max_num_queries(len(few.captured_queries)) as many:
        response = auditor_client.post(verify_url(org_a))
    assert "Intact" in response.content.decode()
    assert len(many.captured_queries) == len(few.captured_queries)


# ---------------------------------------------------------------------------------------------
# Normal operations that touch history rows indirectly
# ---------------------------------------------------------------------------------------------


def test_deleting_a_person_keeps_their_history_verifiable(org_a, actor):
    """Design: deleting a user never deletes or blocks history. Their rows must still verify.

    history_user is a SET_NULL foreign key (simple-history's default), and the hash covers history_user_id,
    so the deletion rewrites every row the person signed.
    """
    license = LicenseFactory(application=ApplicationFactory(organization=org_a))
    edit(license, actor, "Licensed users corrected", licensed_users=12)
    assert verification.verify() == []

    get_user_model().objects.filter(pk=actor.pk).delete()

    row = chain_of(license)[-1]
    assert row.history_user_name == "records-clerk"
    assert verification.verify() == []


def test_reverse_side_m2m_changes_are_recorded_on_the_application(org_a, actor):
    """Adding a link from the other side (a data file's applications) changes the application's links too."""
    application = ApplicationFactory(organization=org_a, data_files=["cpt-standard"])
    assert verification.verify() == []

    rvu = data_file("cpt-rvu")
    rvu.applications.add(application)

    assert verification.verify() == []


def test_link_change_through_an_instance_loaded_before_a_save_records_current_values(org_a, actor):
    """An m2m change writes a history row from the in-memory instance; it must record what the database holds.

    Here the instance was loaded before someone else's save, so its owner is stale. (The same happens under
    concurrency: a link change waiting on stamp_saved_row's lock while a save commits.)
    """
    application = ApplicationFactory(organization=org_a, data_files=["cpt-standard"], owner="Billing office")
    loaded_earlier = Application.objects.get(pk=application.pk)
    edit(Application.objects.get(pk=application.pk), actor, "New owner", owner="Revenue cycle office")

    loaded_earlier.data_files.add(data_file("cpt-rvu"))

    assert chain_of(application)[-1].owner == "Revenue cycle office"
    assert verification.verify() == []


def test_deleting_an_organization_listed_as_users_at_other_entities_keeps_chains(org_a, org_b, client):
    """A superuser deletes an organization another application lists; the link vanishes by cascade."""
    application = ApplicationFactory(organization=org_a)
    application.users_at_other_entities.add(org_b)
    assert verification.verify() == []
    superuser = UserFactory(username="administrator", is_superuser=True)
    client.force_login(superuser)

    response = client.post(f"/admin/licensing/organization/{org_b.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302 and not Organization.objects.filter(pk=org_b.pk).exists()
    assert verification.verify() == []


# ---------------------------------------------------------------------------------------------
# (e) Bulk writes
# ---------------------------------------------------------------------------------------------


def test_bulk_create_and_bulk_update_write_one_stamped_row_per_object(org_a, actor):
    codes = [data_file(code).pk for code in ["cpt-standard", "cpt-rvu"]]
    applications = services.record_bulk_create(
        [Application(organization=org_a, name=f"Imported system {n}", category="billing_rcm") for n in range(3)],
        Application,
        actor=actor,
        reason="Imported from the inventory spreadsheet",
        m2m={"data_files": [codes[:1], codes[:2], []]},
    )
    licenses = services.record_bulk_create(
        [License(application=app, license_year=2026, status="needed", licensed_users=5) for app in applications],
        License,
        actor=actor,
        reason="Imported licenses",
    )

    for application, expected in zip(applications, [codes[:1], codes[:2], []], strict=True):
        (row,) = chain_of(application)
        assert (row.history_type, row.history_user_id, row.history_change_reason) == (
            "+",
            actor.pk,
            "Imported from the inventory spreadsheet",
        )
        assert row.organization_id == org_a.pk and row.previous_hash == "" and len(row.row_hash) == 64
        assert sorted(LinkHistory.objects.filter(history=row).values_list("datafile_id", flat=True)) == sorted(expected)
    for license in licenses:
        (row,) = chain_of(license)
        assert row.organization_id == org_a.pk and row.history_user_name == "records-clerk"
    assert verification.verify() == []

    # A normal save between the bulk writes: the bulk update chains onto it.
    edit(licenses[0], actor, "One license edited by hand", notes="Checked")
    for license in licenses:
        license.licensed_users = 8
    services.record_bulk_update(licenses, License, ["licensed_users"], actor=actor, reason="Counts reconciled")

    for license in licenses:
        rows = chain_of(license)
        assert rows[-1].history_type == "~" and rows[-1].history_change_reason == "Counts reconciled"
        assert rows[-1].previous_history_id == rows[-2].history_id and rows[-1].previous_hash == rows[-2].row_hash
        assert rows[-1].changed_fields == ",licensed_users,"
    assert [len(chain_of(license)) for license in licenses] == [3, 2, 2]
    assert HistoricalLicense.objects.filter(id__in=[license.pk for license in licenses]).count() == 7
    assert verification.verify() == []


def test_bulk_update_of_stale_objects_is_refused_and_records_what_the_database_holds(org_a, actor):
    """bulk_update writes only `fields`; its history rows must not carry stale in-memory values of other fields."""
    license = LicenseFactory(application=ApplicationFactory(organization=org_a), notes="")
    stale = License.objects.get(pk=license.pk)
    # Someone else edits another field after `stale` was loaded, through the normal path.
    edit(License.objects.get(pk=license.pk), actor, "Notes added", notes="Renewal invoice received")

    stale.licensed_users = 25
    # A license carries a version (licensing.versions): the copy loaded before the edit is refused outright.
    with pytest.raises(services.StaleRecord, match="Notes: \\(empty\\) → Renewal invoice received"):
        services.record_bulk_update([stale], License, ["licensed_users"], actor=actor, reason="Counts reconciled")
    assert License.objects.get(pk=license.pk).licensed_users != 25

    fresh = License.objects.get(pk=license.pk)
    fresh.licensed_users = 25
    services.record_bulk_update([fresh], License, ["licensed_users"], actor=actor, reason="Counts reconciled")
    assert License.objects.get(pk=license.pk).notes == "Renewal invoice received"
    assert (chain_of(license)[-1].notes, chain_of(license)[-1].licensed_users) == ("Renewal invoice received", 25)
    assert verification.verify() == []


# ---------------------------------------------------------------------------------------------
# (f) Concurrent saves of one object on PostgreSQL
# ---------------------------------------------------------------------------------------------

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite serialises writers; the race exists only on PostgreSQL"
)


def run_concurrently(*workers):
    """Start each worker in its own thread (own connection) at the same moment; re-raise the first error."""
    barrier = threading.Barrier(len(workers))
    errors = []

    def run(worker):
        try:
            barrier.wait(timeout=30)
            worker()
        except Exception as error:  # noqa: BLE001 - reported to the test thread below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a worker hung"
    if errors:
        raise errors[0]


SAVES = 20
CHAIN_PROBLEMS = {"link to the previous row is broken", "row content does not match its hash"}


def reference_files(*codes) -> list[DataFile]:
    """The migrations' data files a test needs (a committing test starts from the initial content, which holds them)."""
    return [DataFile.objects.get(code=code) for code in codes]


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_concurrent_saves_of_one_object_keep_a_single_chain():
    license = LicenseFactory(licensed_users=1)

    def saver(base):
        def work():
            for n in range(SAVES):
                with transaction.atomic():
                    obj = License.objects.get(pk=license.pk)
                    obj.licensed_users = base + n
                    obj.save()

        return work

    run_concurrently(saver(100), saver(200))

    rows = chain_of(license)
    assert len(rows) == 2 * SAVES + 1
    assert verification.verify() == []
    assert all(row.previous_history_id == earlier.history_id for earlier, row in itertools.pairwise(rows))


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_concurrent_saves_outside_a_transaction_keep_a_single_chain():
    """A script or command calling obj.save() without transaction.atomic(): each UPDATE commits on its own.

    stamp_saved_row takes its lock only inside an atomic block, so two such savers read the same previous
    row and fork the chain.
    """
    license = LicenseFactory(licensed_users=1)

    def saver(base):
        def work():
            for n in range(SAVES):
                obj = License.objects.get(pk=license.pk)
                obj.licensed_users = base + n
                obj.save()

        return work

    run_concurrently(saver(100), saver(200))

    assert len(chain_of(license)) == 2 * SAVES + 1
    assert verification.verify() == []


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_concurrent_link_changes_and_saves_of_one_application_keep_a_single_chain():
    """m2m changes update no application row, so only stamp_saved_row's lock orders them against saves."""
    standard, rvu = reference_files("cpt-standard", "cpt-rvu")
    application = ApplicationFactory(data_files=[standard.code])

    def toggler():
        for n in range(SAVES):
            with transaction.atomic():
                obj = Application.objects.get(pk=application.pk)
                if n % 2:
                    obj.data_files.remove(rvu)
                else:
                    obj.data_files.add(rvu)

    def saver():
        for n in range(SAVES):
            with transaction.atomic():
                obj = Application.objects.get(pk=application.pk)
                obj.owner = f"Owner {n}"
                obj.save()

    run_concurrently(toggler, saver)

    rows = chain_of(application)
    # The factory's create and data_files.set() wrote 2 rows; each add, remove and save one more.
    assert len(rows) == 2 + 2 * SAVES
    # The chain itself: every row links to the one before and matches its hash. (Whether the newest row
    # holds the live values depends on stale instances, a separate bug shown deterministically by
    # test_link_change_through_an_instance_loaded_before_a_save_records_current_values.)
    assert [broken for broken in verification.verify() if broken.problem in CHAIN_PROBLEMS] == []


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_concurrent_link_changes_from_two_people_neither_fails_nor_forks():
    """Two officers add links to the same application at once: both succeed, one chain."""
    standard, *files = reference_files("cpt-standard", "cpt-rvu", "cpt-snomed")
    application = ApplicationFactory(data_files=[standard.code])

    def toggler(file):
        def work():
            for n in range(SAVES):
                with transaction.atomic():
                    obj = Application.objects.get(pk=application.pk)
                    if n % 2:
                        obj.data_files.remove(file)
                    else:
                        obj.data_files.add(file)

        return work

    run_concurrently(toggler(files[0]), toggler(files[1]))

    assert len(chain_of(application)) == 2 + 2 * SAVES
    assert verification.verify() == []


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_concurrent_bulk_update_and_saves_keep_a_single_chain():
    licenses = [LicenseFactory(licensed_users=1) for _ in range(3)]
    actor = UserFactory(username="importer")

    def bulk():
        for n in range(SAVES):
            while True:
                objs = list(License.objects.filter(pk__in=[license.pk for license in licenses]))
                for obj in objs:
                    obj.licensed_users = 300 + n
                try:
                    services.record_bulk_update(objs, License, ["licensed_users"], actor=actor, reason="Reconciled")
                    break
                except services.StaleRecord:
                    continue  # saved meanwhile (licensing.versions): read the licenses again

    def saver():
        for n in range(SAVES):
            with transaction.atomic():
                obj = License.objects.get(pk=licenses[0].pk)
                obj.licensed_users = 500 + n
                obj.save()

    run_concurrently(bulk, saver)

    assert len(chain_of(licenses[0])) == 1 + 2 * SAVES
    assert verification.verify() == []


# ---------------------------------------------------------------------------------------------
# Newest hashes kept outside the database catch a whole chain rewritten consistently
# ---------------------------------------------------------------------------------------------


def rewrite_chain_consistently(rows, *, licensed_users: int) -> None:
    """What someone with database write access and the algorithm could do: change a row and re-hash every
    later row and the chain head, so the chain itself verifies again."""
    from licensing.models import ChainHead

    previous_hash = ""
    for position, original in enumerate(rows):
        row = HistoricalLicense.objects.get(history_id=original.history_id)
        if position == 1:
            row.licensed_users = licensed_users
        row.previous_hash = previous_hash
        row.row_hash = hashing.row_hash(row, {})
        execute(
            f"UPDATE {table(HistoricalLicense)} SET licensed_users = %s, previous_hash = %s, row_hash = %s "
            "WHERE history_id = %s",
            [row.licensed_users, row.previous_hash, row.row_hash, row.history_id],
        )
        previous_hash = row.row_hash
    head = ChainHead.objects.get(record_type="licensing.license", object_id=rows[0].id)
    execute(f"UPDATE {table(ChainHead)} SET row_hash = %s WHERE id = %s", [previous_hash, head.pk])


def test_saved_hashes_catch_a_chain_rewritten_consistently(license_chain, tmp_path, org_a):
    license, rows = license_chain
    saved = tmp_path / "heads.csv"
    report = verify_passes("--save-heads", str(saved))
    assert "written to" in report
    lines = saved.read_text().splitlines()
    assert lines[0] == "record_type,object_id,history_id,row_hash"
    assert f"licensing.license,{license.pk},{rows[-1].history_id},{rows[-1].row_hash}" in lines
    assert "still match" in verify_passes("--check-heads", str(saved))

    rewrite_chain_consistently(rows, licensed_users=99)

    # The chain alone verifies: nothing inside the database contradicts the rewrite ...
    assert verification.verify() == []
    # ... but the hash kept outside does.
    report = verify_fails("--check-heads", str(saved))
    assert f"license {license.pk}, history row {rows[-1].history_id}: history row differs from the copy" in report


def test_saved_hashes_of_one_organization(license_chain, tmp_path, org_a, org_b):
    theirs = LicenseFactory(application=ApplicationFactory(organization=org_b))
    saved = tmp_path / "alpha.csv"
    verify_passes("--organization", org_a.slug, "--save-heads", str(saved))
    text = saved.read_text()
    assert f"licensing.license,{license_chain[0].pk}," in text
    assert f"licensing.license,{theirs.pk}," not in text
    assert f"licensing.organization,{org_a.pk}," in text


@pytest.mark.parametrize(
    "content, message",
    [
        ("nothing,like,this\n", "is not a file of saved hashes"),
        ("record_type,object_id,history_id,row_hash\nlicensing.license,x,1,abc\n", "line 2 is not"),
    ],
)
def test_a_file_that_is_not_saved_hashes_is_refused_in_words(tmp_path, db, content, message):
    wrong = tmp_path / "wrong.csv"
    wrong.write_text(content)
    with pytest.raises(CommandError, match=message):
        call_command("verify_audit_trail", "--check-heads", str(wrong), stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="No file"):
        call_command("verify_audit_trail", "--check-heads", str(tmp_path / "missing.csv"), stdout=StringIO())


# ---------------------------------------------------------------------------------------------
# Fields added after rows were hashed
# ---------------------------------------------------------------------------------------------


def test_a_field_added_later_keeps_old_rows_verifying(org_a, actor):
    """A count row hashed before `needs_review` existed still verifies; setting it behind history's back is caught."""
    count = UserCountFactory(application=ApplicationFactory(organization=org_a), direct_users=12)
    row = count.history.model.objects.get(id=count.pk)
    content = hashing.canonical_content(row, {})
    assert "needs_review" not in content["values"], "the default of a field added later is left out of the hash"
    # The row as the code before the field would have hashed it: the same content, so the same hash.
    assert row.row_hash == hashing.hash_of(content)
    assert verification.verify() == []

    execute(
        f"UPDATE {table(UserCount.history.model)} SET needs_review = %s WHERE history_id = %s", [True, row.history_id]
    )
    breaks = verification.verify()
    assert {item.history_id for item in breaks} == {row.history_id}


def test_every_tracked_field_added_after_the_first_migration_is_declared():
    """A tracked field that is not in the initial migration must be declared in ADDED_LATER (or old rows break)."""
    from django.db.migrations.loader import MigrationLoader

    # The original chain, not the squashed migration a new database runs: ADDED_LATER is about 0001_initial.
    loader = MigrationLoader(None, ignore_no_migrations=True, replace_migrations=False)
    initial = loader.project_state(("licensing", "0001_initial"))
    for model in tracked_models():
        state = initial.models.get(("licensing", model._meta.model_name))
        if state is None:
            continue
        first = {
            model._meta.get_field(name).attname for name in state.fields if name in {f.name for f in model._meta.fields}
        }
        added = {field.attname for field in model.history.model.tracked_fields} - first
        undeclared = {name for name in added if (model._meta.label, name) not in hashing.ADDED_LATER}
        assert not undeclared, f"{model._meta.label}: declare {sorted(undeclared)} in hashing.ADDED_LATER"
