"""Retention purge of the people of old rosters (issue 13 item 7): as an administrator meets it (the roster list's
action, `manage.py purge_roster_people`), and as an auditor checks it afterwards (`verify_audit_trail`)."""

import json
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from licensing import services
from licensing.audit import verification
from licensing.choices import UserKind
from licensing.models import EvidenceFile, License, UserCount
from licensing.models.purges import PurgedChain, RosterPurge
from licensing.models.reconciliation import FindingAcceptance, FindingKind
from licensing.models.rosters import Person, Roster
from tests.factories import ApplicationFactory, LicenseFactory, OrganizationFactory, UserFactory
from tests.test_rosters import FIRST, MAPPING, confirm, map_roles, preview_of, roster_file
from tests.test_tamper_evidence import verify_fails, verify_passes

OLD_NAMES = ["Sam Roe", "Kim Poe", "Ana Diaz", "Interface Engine"]
OLD_EMAILS = ["sam.roe@example.org", "ana.diaz@example.org"]


def upload(client, application, content, *, year, taken_on, name):
    return client.post(
        reverse("admin:licensing_rosterline_import"),
        {
            "application": application.pk,
            "license_year": year,
            "taken_on": taken_on,
            "source": "Epic access list",
            "file": SimpleUploadedFile(name, content, content_type="text/csv"),
            "change_reason": f"Roster of {year}",
        },
    )


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin", is_superuser=True)


@pytest.fixture
def rosters(officer_client, org_a):
    """A 2018 roster (everyone of FIRST) and a 2026 one on which Pat (E1) still appears: Pat must be kept."""
    OrganizationFactory(name="Alpha Clinic", slug="alpha-clinic", parent=org_a)
    epic = ApplicationFactory(organization=org_a, name="Epic Ambulatory")
    map_roles(officer_client, epic, {**MAPPING, "Scheduler": (UserKind.PROGRAM, "")})
    old = roster_file(FIRST)
    confirm(
        officer_client, preview_of(upload(officer_client, epic, old, year=2018, taken_on="2018-01-15", name="old.csv"))
    )
    new = roster_file(["E1,Pat Lee,pat.lee@example.org,,US,Physician"])
    confirm(
        officer_client, preview_of(upload(officer_client, epic, new, year=2026, taken_on="2026-01-15", name="new.csv"))
    )
    return Roster.objects.get(license_year=2018), Roster.objects.get(license_year=2026)


def purge(*args) -> str:
    out = StringIO()
    call_command("purge_roster_people", *args, stdout=out)
    return out.getvalue()


def accept_kim(officer, organization):
    """An accepted finding that names a person of the 2018 roster too (Kim works from India)."""
    return services.finding_accept(
        organization=organization,
        license_year=2018,
        kind=FindingKind.OUTSIDE_US,
        identifier="E3",
        actor=officer,
        reason="Remote coder",
    )


def stored_person_text() -> str:
    """Everything the database keeps of people (their rows, accepted findings, and the history of both), as text."""
    rows = [
        *Person.objects.values(),
        *Person.history.model.objects.values(),
        *FindingAcceptance.objects.values(),
        *FindingAcceptance.history.model.objects.values(),
    ]
    return json.dumps(rows, default=str)


@pytest.mark.django_db
def test_a_dry_run_says_what_would_go_and_removes_nothing(rosters, admin_user):
    before = stored_person_text()
    said = purge("--dry-run", "--actor", "admin")
    assert "Alpha Health: 4 people of 1 roster taken before 2019-" in said  # today is 2026-12: 7 years back
    assert "Roster of 2018-01-15 from Epic access list" in said and "would be purged (dry run" in said
    assert stored_person_text() == before and not RosterPurge.objects.exists()


@pytest.mark.django_db
def test_the_people_go_from_rows_and_history_while_counts_hashes_and_totals_remain(
    client, officer, org_a, rosters, admin_user, django_capture_on_commit_callbacks
):
    old, new = rosters
    accept_kim(officer, org_a)
    assert FindingAcceptance.objects.get().person_name == "Kim Poe"
    count = UserCount.objects.get(roster=old)
    figures = (count.direct_users, count.program_users, count.output_users, count.excluded_users, count.evidence)
    source = EvidenceFile.objects.get(roster=old)
    assert source.sha256 == old.file_sha256 and source.file
    stored_name = source.file.name
    assert "Sam Roe" in stored_person_text()

    with django_capture_on_commit_callbacks() as removals:
        said = purge("--older-than-years", "7", "--actor", "admin")
    # The stored files are deleted only once the purge commits.
    assert source.file.storage.exists(stored_name)
    for removal in removals:
        removal()
    assert "4 people of 1 roster(s) older than 7 years purged." in said

    text = stored_person_text()
    for personal in [*OLD_NAMES, *OLD_EMAILS, '"E2"', '"E3"', '"E4"', '"svc-1"']:
        assert personal not in text, personal
    # Pat is on the 2026 roster too: kept, with their history.
    assert Person.objects.get(identifier="E1").name == "Pat Lee"
    assert Person.objects.filter(name="(purged)").count() == 4
    # The roster keeps its file's SHA-256, date, source and lines; the count its figures and explanation.
    old.refresh_from_db()
    assert old.file_sha256 == source.sha256 and old.people_purged_at is not None and old.lines.count() == 6
    count.refresh_from_db()
    assert (
        count.direct_users,
        count.program_users,
        count.output_users,
        count.excluded_users,
        count.evidence,
    ) == figures
    assert "1 (a) + 2 (b) + 1 (c) = 4 users; 1 excluded as not users" in count.evidence
    # The source file's bytes are gone from storage, its SHA-256 stays; downloading says so.
    source.refresh_from_db()
    assert not source.file and source.sha256 == old.file_sha256
    assert not source.file.storage.exists(stored_name)
    client.force_login(admin_user)
    assert client.get(reverse("admin:licensing_evidencefile_download", args=[source.pk])).status_code == 404
    assert "Removed by the retention purge" in client.get(source.get_absolute_url()).content.decode()
    # The import's stored upload and preview quote the lines: gone too.
    assert not old.data_import.upload and not old.data_import.preview_of.report
    # The roster's own history still holds its totals' history (every row is still there, none emptied).
    assert old.history.count() == 2 and new.people_purged_at is None

    # The purge is one audited record: who, when, which rosters, how many people, the digests.
    event = RosterPurge.objects.get()
    assert (event.purged_by, event.people_purged, event.roster_count, event.chains_purged) == (admin_user, 4, 1, 5)
    assert FindingAcceptance.objects.get().reason == "Remote coder"
    verify_passes()
    assert "Roster of 2018-01-15 from Epic access list" in event.rosters and len(event.digest_before) == 64
    assert event.history.get().history_user == admin_user
    trail = client.get(reverse("admin:licensing_organization_audit_trail", args=[old.application.organization_id]))
    assert "Purge of 2019-" in trail.content.decode()


@pytest.mark.django_db
def test_the_audit_trail_verifies_after_a_purge_and_still_finds_tampering(rosters, admin_user):
    verify_passes()
    digest_before = verification.chains_digest(timezone.now())
    purge("--actor", "admin")
    verify_passes()
    # The redacted rows keep their hashes: a digest kept before the purge still matches the history up to then.
    assert verification.chains_digest(digest_before.as_of) == digest_before

    license = LicenseFactory(application=Roster.objects.first().application)
    history = License.history.model
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {history._meta.db_table} SET licensed_users = 999 WHERE id = %s", [license.pk])
    assert "row content does not match its hash" in verify_fails()

    # A purged person's redacted row changed afterwards (a country moved) is a break, not a purge.
    purged = Person.objects.filter(name="(purged)").first()
    table = Person.history.model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET country = 'ZZ' WHERE id = %s AND history_type = '+'", [purged.pk])
    assert "purged rows were changed after the purge" in verify_fails()


@pytest.mark.django_db
def test_a_claimed_purge_that_is_not_recorded_is_a_break(rosters, admin_user):
    purge("--actor", "admin")
    chain = PurgedChain.objects.first()
    chain.redacted_digest = "0" * 64
    chain.save()
    found = verify_fails()
    assert "differ from its digests" in found and "purged rows were changed after the purge" in found


@pytest.mark.django_db
def test_running_it_twice_purges_nothing_twice(rosters, admin_user):
    purge("--actor", "admin")
    rows = Person.history.model.objects.count()
    assert "0 people of 0 roster(s)" in purge("--actor", "admin")
    assert RosterPurge.objects.count() == 1 and Person.history.model.objects.count() == rows
    verify_passes()


@pytest.mark.django_db
def test_officers_and_auditors_cannot_purge(client, officer, auditor, rosters):
    old, _ = rosters
    with pytest.raises(CommandError, match="Only an administrator"):
        purge("--actor", officer.username)
    with pytest.raises(PermissionDenied):
        services.roster_people_purge(actor=auditor, older_than_years=7)
    for person in (officer, auditor):
        client.force_login(person)
        changelist = reverse("admin:licensing_roster_changelist")
        assert "purge_people" not in client.get(changelist).content.decode()
        client.post(changelist, {"action": "purge_people", "_selected_action": [old.pk], "post": "yes"})
    assert not RosterPurge.objects.exists() and Person.objects.filter(name="Sam Roe").exists()


@pytest.mark.django_db
def test_an_administrator_purges_through_the_roster_list_after_a_confirmation(client, admin_user, rosters):
    old, new = rosters
    client.force_login(admin_user)
    changelist = reverse("admin:licensing_roster_changelist")
    asked = client.post(changelist, {"action": "purge_people", "_selected_action": [old.pk, new.pk]})
    page = asked.content.decode()
    assert asked.status_code == 200 and "4 people of 1 roster taken before" in page and "would be purged" in page
    assert not RosterPurge.objects.exists()
    done = client.post(
        changelist, {"action": "purge_people", "_selected_action": [old.pk, new.pk], "post": "yes"}, follow=True
    )
    assert "4 people of 1 roster taken before" in done.content.decode()
    assert RosterPurge.objects.get().purged_by == admin_user
    assert not Person.objects.filter(name="Sam Roe").exists()


@pytest.mark.django_db
def test_a_withdrawn_acceptance_loses_the_name_from_its_history_too(officer, org_a, rosters, admin_user):
    acceptance = accept_kim(officer, org_a)
    accepted_id = acceptance.pk
    services.finding_withdraw(acceptance=acceptance, actor=officer, reason="The contract ended")
    history = FindingAcceptance.history.model.objects
    assert history.filter(person_name="Kim Poe").count() == 2

    purge("--actor", "admin")

    text = json.dumps(list(history.values()), default=str)
    assert "Kim Poe" not in text and '"e3"' not in text.lower()
    assert history.filter(id=accepted_id).count() == 2  # every row is still there, redacted
    assert RosterPurge.objects.get().chains_purged == 5
    verify_passes()


def old_roster(client, organization, name: str, people: int) -> Roster:
    """A 2018 roster of `people` people of `organization` (one line each, the first working from India), imported
    through the admin."""
    application = ApplicationFactory(organization=organization, name=name)
    map_roles(client, application)
    lines = [f"{name[:2]}{n},Person {n},p{n}@example.org,,{'IN' if n == 0 else 'US'},Physician" for n in range(people)]
    content = roster_file(lines)
    confirm(client, preview_of(upload(client, application, content, year=2018, taken_on="2018-01-15", name="r.csv")))
    return Roster.objects.get(application=application)


@pytest.mark.django_db
def test_a_purge_takes_the_same_queries_for_three_people_as_for_twelve(officer_client, officer, org_a, admin_user):
    from django.test.utils import CaptureQueriesContext

    def queries_of(roster) -> int:
        with CaptureQueriesContext(connection) as captured:
            (plan,) = services.roster_people_purge(
                actor=admin_user, older_than_years=7, rosters=Roster.objects.filter(pk=roster.pk)
            )
        assert plan.purge is not None and len(plan.people) == roster.lines.count()
        return len(captured)

    few = old_roster(officer_client, org_a, "Epic Ambulatory", 3)
    many = old_roster(officer_client, org_a, "Billing Suite", 12)
    for roster in (few, many):
        first = roster.lines.order_by("person__identifier").first().person
        services.finding_accept(
            organization=org_a,
            license_year=2018,
            kind=FindingKind.OUTSIDE_US,
            identifier=first.identifier,
            actor=officer,
            reason="Works from our Pune office under a US contract",
        )
    assert queries_of(few) == queries_of(many)
    verify_passes()
