"""Who may do what is audited too: people, their groups and memberships, changed through the admin.

An administrator deactivates an officer, toggles staff status, resets a password, changes groups, grants and
revokes a membership, each posting the real admin form; every change is in the history with who, when and
why, and on the audit trail (page and CSV) of the organization concerned, never another's. The password hash
is never recorded. One digest summarises every chain; a kept digest proves later that nothing was rewritten.
"""

import csv
import io
import re
from io import StringIO

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.http import HttpRequest
from django.utils import timezone

from licensing import roles, services
from licensing.audit import verification
from licensing.models import Membership
from tests.admin_forms import field_errors, post_admin_form
from tests.factories import LicenseFactory, UserFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(client):
    admin = UserFactory(username="root", is_superuser=True)
    client.force_login(admin)
    return admin


@pytest.fixture
def officer_b(org_b):
    user = UserFactory(username="officer-b")
    member(user, org_b, "officer")
    return user


def person_url(user, suffix="change") -> str:
    return f"/admin/auth/user/{user.pk}/{suffix}/"


def edit_person(client, user, changes: dict):
    return post_admin_form(client, person_url(user), changes)


def newest(user):
    return User.history.filter(id=user.pk).order_by("-history_id").first()


def trail_text(client, organization, query="") -> str:
    response = client.get(f"/admin/licensing/organization/{organization.pk}/audit-trail/{query}")
    assert response.status_code == 200
    return re.sub(r"\s+", " ", response.content.decode())


def trail_csv(client, organization) -> list[list[str]]:
    response = client.get(f"/admin/licensing/organization/{organization.pk}/audit-trail/?format=csv")
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))[1:]


def person_lines(lines, username: str) -> list[list[str]]:
    return [line for line in lines if line[2] == "User" and line[4] == username]


def assert_on_trail_of(client, organization, others, *, username, reason, field, old, new):
    """The change is on `organization`'s trail, page and CSV, with who and why, and on none of `others`."""
    page = trail_text(client, organization)
    assert f"<strong>{field}</strong>: {old} &rarr; {new}" in page, page[:3000]
    assert reason in page
    lines = person_lines(trail_csv(client, organization), username)
    assert [field, old, new, reason] in [[line[6], line[7], line[8], line[9]] for line in lines], lines
    assert all(line[1] == "root" for line in lines if line[9] == reason)
    for other in others:
        assert reason not in trail_text(client, other)
        assert not [line for line in trail_csv(client, other) if line[9] == reason]


# ---------------------------------------------------------------------------------------------
# People, through the admin
# ---------------------------------------------------------------------------------------------


def test_deactivating_an_officer_needs_a_reason_and_is_recorded(client, root, officer, org_a, org_b, officer_b):
    before = User.history.filter(id=officer.pk).count()
    refused = edit_person(client, officer, {"is_active": False})
    assert "change_reason" in field_errors(refused)
    officer.refresh_from_db()
    assert officer.is_active and User.history.filter(id=officer.pk).count() == before

    saved = edit_person(client, officer, {"is_active": False, "change_reason": "Left the company"})
    assert saved.status_code == 302, field_errors(saved)
    officer.refresh_from_db()
    assert not officer.is_active
    row = newest(officer)
    assert User.history.filter(id=officer.pk).count() == before + 1
    assert (row.history_user, row.history_user_name, row.history_change_reason) == (root, "root", "Left the company")
    assert row.changed_fields == ",is_active," and row.history_date <= timezone.now()
    assert_on_trail_of(
        client, org_a, [org_b], username="officer-a", reason="Left the company", field="Active", old="Yes", new="No"
    )


@pytest.mark.parametrize(
    ("flag", "label", "old", "new"),
    [("is_staff", "Staff status", "Yes", "No"), ("is_superuser", "Superuser status", "No", "Yes")],
)
def test_staff_and_superuser_flags_are_recorded(client, root, officer, org_a, org_b, officer_b, flag, label, old, new):
    # Officer B's change: on B's trail, not A's (the other tests go the other way).
    saved = edit_person(client, officer_b, {flag: new == "Yes", "change_reason": f"{label} changed"})
    assert saved.status_code == 302, field_errors(saved)
    assert newest(officer_b).changed_fields == f",{flag},"
    assert_on_trail_of(
        client, org_b, [org_a], username="officer-b", reason=f"{label} changed", field=label, old=old, new=new
    )


def test_a_password_reset_is_recorded_without_the_hash(client, root, officer, org_a, org_b, officer_b):
    url = person_url(officer, "password")
    form = {"usable_password": "true", "password1": "a new long passphrase 42", "password2": "a new long passphrase 42"}
    refused = client.post(url, {**form, "set-password": "Change password"})
    assert refused.status_code == 200 and "Say why the password is set or reset" in refused.content.decode()
    officer.refresh_from_db()
    assert officer.check_password("correct horse battery staple")

    response = client.post(url, {**form, "change_reason": "Forgotten, ticket 4711", "set-password": "Change password"})
    assert response.status_code == 302
    officer.refresh_from_db()
    assert officer.check_password("a new long passphrase 42")
    row = newest(officer)
    assert (row.history_user_name, row.history_change_reason, row.password_changed) == (
        "root",
        "Forgotten, ticket 4711",
        True,
    )
    assert row.changed_fields == ",password,"
    assert_on_trail_of(
        client,
        org_a,
        [org_b],
        username="officer-a",
        reason="Forgotten, ticket 4711",
        field="Password",
        old="(not recorded)",
        new="set or reset",
    )
    # Neither the hash nor any part of it is in the history tables, pages or exports.
    secret = officer.password.split("$")[-1]
    history_tables = [name for name in connection.introspection.table_names() if "historicaluser" in name]
    with connection.cursor() as cursor:
        for table in history_tables:
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 (table names from the schema)
            assert not any(secret in str(value) for line in cursor.fetchall() for value in line), table
    assert secret not in trail_text(client, org_a)
    assert secret not in client.get(person_url(officer, "history")).content.decode()
    assert not any(secret in cell for line in trail_csv(client, org_a) for cell in line)


def test_changing_groups_is_one_recorded_change(client, root, officer, org_a, org_b, officer_b):
    auditors = Group.objects.get(name=roles.AUDITOR_GROUP)
    before = User.history.filter(id=officer.pk).count()
    saved = edit_person(client, officer, {"groups": [auditors.pk], "change_reason": "Reads only now"})
    assert saved.status_code == 302, field_errors(saved)
    assert list(officer.groups.values_list("name", flat=True)) == [roles.AUDITOR_GROUP]
    assert User.history.filter(id=officer.pk).count() == before + 1
    assert newest(officer).changed_fields == ",groups,"
    assert_on_trail_of(
        client,
        org_a,
        [org_b],
        username="officer-a",
        reason="Reads only now",
        field="Groups",
        old=roles.OFFICER_GROUP,
        new=roles.AUDITOR_GROUP,
    )
    text = re.sub(r"\s+", " ", client.get(person_url(officer, "history")).content.decode())
    assert "Reads only now" in text and f"{roles.OFFICER_GROUP} &rarr; {roles.AUDITOR_GROUP}" in text


def test_a_groups_permissions_are_recorded(client, root, org_a):
    group = services.group_save(group=Group(name="Rate editors"), actor=None, reason="Test data")
    permission = Permission.objects.get(codename="change_rateschedule")
    url = f"/admin/auth/group/{group.pk}/change/"
    refused = post_admin_form(client, url, {"permissions": [permission.pk]})
    assert "change_reason" in field_errors(refused) and not group.permissions.exists()
    saved = post_admin_form(client, url, {"permissions": [permission.pk], "change_reason": "They publish rates"})
    assert saved.status_code == 302, field_errors(saved)
    row = Group.history.filter(id=group.pk).order_by("-history_id").first()
    assert (row.history_user_name, row.history_change_reason, row.changed_fields) == (
        "root",
        "They publish rates",
        ",permissions,",
    )
    # A group belongs to no organization: it is on no organization's trail.
    assert "They publish rates" not in trail_text(client, org_a)


def test_adding_a_person_records_who_why_and_that_a_password_was_set(client, root):
    response = post_admin_form(
        client,
        "/admin/auth/user/add/",
        {
            "username": "new-officer",
            "usable_password": "true",
            "password1": "a brand new passphrase 9",
            "password2": "a brand new passphrase 9",
            "change_reason": "Hired for the 2026 count",
        },
    )
    assert response.status_code == 302, field_errors(response)
    person = User.objects.get(username="new-officer")
    row = newest(person)
    assert (row.history_type, row.history_user_name, row.history_change_reason, row.password_changed) == (
        "+",
        "root",
        "Hired for the 2026 count",
        True,
    )
    assert User.history.filter(id=person.pk).count() == 1


def test_every_people_page_opens_for_an_administrator(client, root, officer):
    group = Group.objects.get(name=roles.OFFICER_GROUP)
    for url in [
        "/admin/auth/user/",
        "/admin/auth/user/add/",
        person_url(officer),
        person_url(officer, "password"),
        person_url(officer, "history"),
        "/admin/auth/group/",
        "/admin/auth/group/add/",
        f"/admin/auth/group/{group.pk}/change/",
        f"/admin/auth/group/{group.pk}/history/",
    ]:
        assert client.get(url).status_code == 200, url


def test_people_pages_answer_alike_for_missing_and_existing_people(client, officer, officer_b):
    client.force_login(officer)
    missing = 10**6
    for suffix in ["change", "history", "delete", "password"]:
        assert client.get(person_url(officer_b, suffix)).status_code == 403, suffix
        assert client.get(f"/admin/auth/user/{missing}/{suffix}/").status_code == 403, suffix


# ---------------------------------------------------------------------------------------------
# Memberships, through the admin
# ---------------------------------------------------------------------------------------------


def test_granting_and_revoking_a_membership_are_on_that_organizations_trail(client, root, org_a, org_b, officer_b):
    newcomer = UserFactory(username="newcomer", is_staff=False)
    response = post_admin_form(
        client,
        "/admin/licensing/membership/add/",
        {"user": newcomer.pk, "organization": org_a.pk, "role": "auditor", "change_reason": "Internal audit 2026"},
    )
    assert response.status_code == 302, field_errors(response)
    membership = Membership.objects.get(user=newcomer)
    granted = Membership.history.filter(id=membership.pk).get()
    assert (granted.history_user_name, granted.history_change_reason) == ("root", "Internal audit 2026")
    person = newest(newcomer)
    assert (person.history_user_name, person.history_change_reason) == ("root", "Internal audit 2026")
    assert set(person.changed_fields.strip(",").split(",")) == {"groups", "is_staff"}
    page = trail_text(client, org_a)
    assert "newcomer (Auditor)" in page and "<strong>Staff status</strong>: No &rarr; Yes" in page
    assert f"<strong>Groups</strong>: (empty) &rarr; {roles.AUDITOR_GROUP}" in page
    lines = [line for line in trail_csv(client, org_a) if line[9] == "Internal audit 2026"]
    assert {(line[2], line[5]) for line in lines} == {("Membership", "Created"), ("User", "Changed")}
    assert "Internal audit 2026" not in trail_text(client, org_b)

    confirm = client.get(f"/admin/licensing/membership/{membership.pk}/delete/")
    assert 'name="change_reason"' in confirm.content.decode()
    response = client.post(
        f"/admin/licensing/membership/{membership.pk}/delete/", {"post": "yes", "change_reason": "Audit finished"}
    )
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    newcomer.refresh_from_db()
    assert not newcomer.is_staff and not newcomer.groups.exists()
    revoked = Membership.history.filter(id=membership.pk).order_by("-history_id").first()
    assert (revoked.history_type, revoked.history_user_name) == ("-", "root")
    page = trail_text(client, org_a)
    assert "Record deleted" in page and "<strong>Staff status</strong>: Yes &rarr; No" in page
    assert revoked.history_change_reason == "Audit finished"
    lines = [line for line in trail_csv(client, org_a) if line[9] == "Audit finished"]
    assert {(line[2], line[5]) for line in lines} == {("Membership", "Deleted"), ("User", "Changed")}
    assert "Audit finished" not in trail_text(client, org_b)


def test_readers_of_another_organization_see_none_of_it(client, officer, org_a, org_b, officer_b):
    services.person_save(person=officer, actor=None, reason="Moved to the night shift")
    client.force_login(officer_b)
    assert client.get(f"/admin/licensing/organization/{org_a.pk}/audit-trail/").status_code in (403, 404)
    assert client.get(f"/admin/licensing/organization/{org_a.pk}/audit-trail/?format=csv").status_code in (403, 404)
    assert "Moved to the night shift" not in trail_text(client, org_b)
    assert client.get(person_url(officer, "history")).status_code in (403, 404)


# ---------------------------------------------------------------------------------------------
# Outside the admin: logins, commands
# ---------------------------------------------------------------------------------------------


def test_logins_write_no_history(client, officer):
    before = User.history.filter(id=officer.pk).count()
    assert client.login(request=HttpRequest(), username="officer-a", password="correct horse battery staple")
    officer.refresh_from_db()
    assert officer.last_login is not None
    assert User.history.filter(id=officer.pk).count() == before


def test_commands_are_recorded_as_system_with_the_os_user(monkeypatch, db):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a long first passphrase 7")
    call_command("createsuperuser", "--noinput", username="boss", email="boss@example.org", stdout=StringIO())
    boss = User.objects.get(username="boss")
    created = newest(boss)
    assert (created.history_type, created.history_user_name, created.password_changed) == ("+", "", True)
    assert "manage.py" in created.history_change_reason and "OS user" in created.history_change_reason

    monkeypatch.setattr("getpass.getpass", lambda prompt="": "another long passphrase 8")
    call_command("changepassword", "boss", stdout=StringIO())
    changed = newest(boss)
    assert (changed.history_type, changed.history_user_name, changed.changed_fields) == ("~", "", ",password,")
    assert "OS user" in changed.history_change_reason
    assert verification.verify() == []


# ---------------------------------------------------------------------------------------------
# The digest of every chain
# ---------------------------------------------------------------------------------------------


def run_verify(*args) -> str:
    out = StringIO()
    call_command("verify_audit_trail", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def printed_digest(output: str) -> verification.Digest:
    kept = verification.parse_digest_line(output.split("Keep this line outside the database: ")[1])
    assert kept is not None, output
    return kept


def test_the_digest_changes_with_any_chain_and_an_old_one_fails(client, root, officer, org_a, tmp_path):
    lic = LicenseFactory(application__organization=org_a)
    edit_person(client, officer, {"is_active": False, "change_reason": "Left"})
    moment = timezone.now()
    first = printed_digest(run_verify("--as-of", moment.isoformat()))
    assert first.chains == sum(model.history.model.objects.values("id").distinct().count() for model in _tracked())
    assert run_verify("--as-of", moment.isoformat(), "--expect", first.value).count("matches") == 1
    kept = tmp_path / "digest.txt"
    run_verify("--as-of", moment.isoformat(), "--save-digest", str(kept))
    assert "matches" in run_verify("--expect-file", str(kept))

    # A later change leaves the digest at the kept moment as it was, and changes the digest of now.
    services.record_save(lic, actor=root, reason="Recounted")
    assert printed_digest(run_verify("--as-of", moment.isoformat())).value == first.value
    assert printed_digest(run_verify("--as-of", timezone.now().isoformat())).value != first.value

    # A consistent rewrite of a whole chain (content, hashes and chain head) still verifies, but not the digest.
    history = User.history.model
    for row in history.objects.filter(id=officer.pk).order_by("history_id"):
        row.history_change_reason = "Nothing to see"
        previous = history.objects.filter(history_id=row.previous_history_id).first()
        row.previous_hash = previous.row_hash if previous else ""
        from licensing.audit import hashing, links

        row.row_hash = hashing.row_hash(row, links.stored_m2m_ids(row))
        row.save()
    from licensing.audit.stamping import move_heads

    move_heads([history.objects.filter(id=officer.pk).order_by("-history_id").first()])
    assert verification.verify() == []
    with pytest.raises(CommandError, match="Chain digest mismatch") as refused:
        run_verify("--as-of", moment.isoformat(), "--expect", first.value)
    assert refused.value.returncode == 1
    with pytest.raises(CommandError, match="Chain digest mismatch"):
        run_verify("--expect-file", str(kept))


def _tracked():
    from licensing.audit.records import tracked_models

    return tracked_models()


def test_digest_options_refuse_bad_input_in_words(tmp_path, db):
    with pytest.raises(CommandError, match="Give --as-of with --expect"):
        run_verify("--expect", "0" * 64)
    with pytest.raises(CommandError, match="is not a digest"):
        run_verify("--as-of", "2026-12-01T06:00:00+00:00", "--expect", "abc")
    with pytest.raises(CommandError, match="is not a moment"):
        run_verify("--as-of", "yesterday")
    empty = tmp_path / "empty.txt"
    empty.write_text("hello\n")
    with pytest.raises(CommandError, match="holds no digest line"):
        run_verify("--expect-file", str(empty))


def test_everything_above_still_verifies(client, root, officer, org_a, org_b, officer_b):
    edit_person(client, officer, {"is_active": False, "is_staff": False, "change_reason": "Left"})
    client.post(
        person_url(officer_b, "password"),
        {
            "usable_password": "true",
            "password1": "a new long passphrase 42",
            "password2": "a new long passphrase 42",
            "change_reason": "Reset",
            "set-password": "Change password",
        },
    )
    membership = Membership.objects.get(user=officer_b)
    client.post(f"/admin/licensing/membership/{membership.pk}/delete/", {"post": "yes"})
    gone = officer.pk
    response = client.post(person_url(officer, "delete"), {"post": "yes", "change_reason": "Account closed"})
    assert response.status_code == 302 and not User.objects.filter(pk=gone).exists()
    deleted = User.history.filter(id=gone).order_by("-history_id").first()
    assert (deleted.history_type, deleted.history_user_name, deleted.history_change_reason) == (
        "-",
        "root",
        "Account closed",
    )
    assert deleted.organization_ids == f",{org_a.pk},"
    assert "Account closed" in trail_text(client, org_a) and "Account closed" not in trail_text(client, org_b)
    assert verification.verify() == []
    assert "intact" in run_verify()
