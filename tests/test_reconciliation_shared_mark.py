"""The stored "looks shared" mark on people (Person.looks_shared), which the reconciliation page's shared-account
finding reads: it follows the identifier and name on every write path (a save, the bulk paths, the roster import,
the retention purge), the migration fills it for people already on file, and the audit trail still verifies."""

import importlib

import pytest
from django.apps import apps

from licensing import services
from licensing.audit import verification
from licensing.models.rosters import Person
from licensing.reconciliation import FindingKind, looks_shared, shared_account_word
from tests.factories import ApplicationFactory, OrganizationFactory, UserFactory
from tests.test_reconciliation import page_url
from tests.test_roster_purge import upload as upload_of_year
from tests.test_rosters import MAPPING, confirm, map_roles, preview_of, roster_file, upload


@pytest.fixture
def epic(org_a):
    OrganizationFactory(name="Alpha Clinic", slug="alpha-clinic", parent=org_a)
    return ApplicationFactory(organization=org_a, name="Epic Ambulatory")


def stored_mark(person) -> bool:
    return Person.objects.values_list("looks_shared", flat=True).get(pk=person.pk)


def test_the_quick_test_agrees_with_the_rule():
    cases = [
        ("frontdesk2", "Front Desk"),
        ("E9", "FrontDesk Clinic 2"),
        ("TEMP.USER", ""),
        ("svc-interface", ""),
        # Neighbouring runs that make a word only together, split by a dash.
        ("fr-ontdesk", ""),
        ("E2", "Testa, Maria"),
        ("E3", "Tempest Ray"),
        ("E4", "Adminah Okafor"),
        ("pat.lee", "Pat Lee"),
        ("", ""),
    ]
    for identifier, name in cases:
        assert looks_shared(identifier, name) == (shared_account_word(identifier, name) is not None), identifier


@pytest.mark.django_db
def test_the_mark_follows_the_name_on_saves_and_bulk_writes(org_a, officer):
    person = services.record_save(
        Person(organization=org_a, identifier="E1", name="Pat Lee"), actor=officer, reason="t"
    )
    assert stored_mark(person) is False
    person.name = "Front Desk"
    services.record_save(person, actor=officer, reason="Renamed")
    assert stored_mark(person) is True

    kiosk, jo = services.record_bulk_create(
        [
            Person(organization=org_a, identifier="kiosk3", name="Lobby"),
            Person(organization=org_a, identifier="E2", name="Jo"),
        ],
        Person,
        actor=officer,
        reason="Bulk",
    )
    assert (stored_mark(kiosk), stored_mark(jo)) == (True, False)
    kiosk.identifier, jo.name = "E3", "Shared Nurses Station"
    services.record_bulk_update([kiosk, jo], Person, ["identifier", "name"], actor=officer, reason="Bulk edit")
    assert (stored_mark(kiosk), stored_mark(jo)) == (False, True)
    # The mark is derived from tracked fields and left out of the history: every chain still verifies.
    assert verification.verify() == []


@pytest.mark.django_db
def test_the_import_marks_new_people_and_follows_a_renamed_one(officer_client, org_a, epic):
    map_roles(officer_client, epic, {**MAPPING})
    lines = ["E1,Pat Lee,,,US,Physician", "frontdesk2,Front Desk,,,US,Front desk", "E7,Guest Login,,,US,Front desk"]
    confirm(officer_client, preview_of(upload(officer_client, epic, roster_file(lines))))
    marks = dict(Person.objects.values_list("identifier", "looks_shared"))
    assert marks == {"E1": False, "frontdesk2": True, "E7": True}
    found = officer_client.get(page_url(org_a, finding=FindingKind.SHARED_ACCOUNT)).context["findings"]
    assert [row.identifier for row, _ in found] == ["E7", "frontdesk2"]

    # The next roster names E7 by their own name: the mark follows, and the finding is gone.
    renamed = ["E1,Pat Lee,,,US,Physician", "frontdesk2,Front Desk,,,US,Front desk", "E7,Eve Moss,,,US,Front desk"]
    confirm(officer_client, preview_of(upload(officer_client, epic, roster_file(renamed), taken_on="2026-02-15")))
    assert Person.objects.get(identifier="E7").looks_shared is False
    found = officer_client.get(page_url(org_a, finding=FindingKind.SHARED_ACCOUNT)).context["findings"]
    assert [row.identifier for row, _ in found] == ["frontdesk2"]
    assert verification.verify() == []


@pytest.mark.django_db
def test_the_purge_clears_the_mark_with_the_name(org_a, epic, officer_client):
    map_roles(officer_client, epic, {**MAPPING})
    old = roster_file(["frontdesk2,Front Desk,,,US,Front desk"])
    confirm(
        officer_client,
        preview_of(upload_of_year(officer_client, epic, old, year=2018, taken_on="2018-01-15", name="o.csv")),
    )
    assert Person.objects.get(identifier="frontdesk2").looks_shared is True
    services.roster_people_purge(actor=UserFactory(username="admin", is_superuser=True), older_than_years=7)
    person = Person.objects.get()
    assert person.name == "(purged)" and person.looks_shared is False
    assert verification.verify() == []


@pytest.mark.django_db
def test_the_migration_marks_the_people_already_on_file(org_a, officer):
    people = services.record_bulk_create(
        [
            Person(organization=org_a, identifier="admin_03", name="Clinic Admin"),
            Person(organization=org_a, identifier="E1", name="Pat Lee"),
        ],
        Person,
        actor=officer,
        reason="Before the mark existed",
    )
    # As the rows stood before migration 0022: unmarked.
    Person.objects.update(looks_shared=False)
    migration = importlib.import_module("licensing.migrations.0022_person_looks_shared")
    migration.mark_shared_looking_people(apps, None)
    assert [stored_mark(person) for person in people] == [True, False]
    assert verification.verify() == []
