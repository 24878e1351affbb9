"""Reconciling rosters across applications, as an officer meets it: rosters of an organization and its affiliate
imported through the real import flow, a directory roster, the reconciliation page's people, counts and findings,
accepting a finding with a reason (and without one: refused), other organizations and auditors, query counts at
two sizes, and the filing's "users at other legal entities" pre-filled from the rosters. Plus the shared-account
rule itself, without the database."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from licensing import filings, services
from licensing.choices import UserKind
from licensing.models import Application
from licensing.models.reconciliation import FindingAcceptance
from licensing.models.rosters import Person, Roster, RosterLine
from licensing.reconciliation import FindingKind, shared_account_word
from tests.factories import ApplicationFactory, OrganizationFactory, UserFactory, member
from tests.test_rosters import MAPPING, confirm, map_roles, preview_of, roster_file, upload

YEAR = 2026
EPIC_LINES = [
    "E1,Pat Lee,pat.lee@example.org,,US,Physician",
    # Employed by the affiliate, using the parent's EHR.
    "E2,Sam Roe,sam.roe@example.org,alpha-clinic,USA,Front desk",
    "E3,Kim Poe,,,India,Finance analyst (reports)",
    "svc-1,Interface Engine,,,,IT service account",
    "E4,Ana Diaz,ana.diaz@example.org,,PH,Front desk",
    "frontdesk2,Front Desk,,,US,Front desk",
]
# The affiliate's billing system: Pat again (other case), employed by the parent; Sam at the clinic itself.
BILLING_LINES = [
    "e1,Pat Lee,pat.lee@example.org,alpha-health,US,Biller",
    "E2,Sam Roe,sam.roe@example.org,,US,Biller",
]


def test_shared_or_generic_accounts_are_told_from_peoples_names():
    assert shared_account_word("frontdesk2", "Front Desk") == "front desk"
    assert shared_account_word("E9", "FrontDesk Clinic 2") == "front desk"
    assert shared_account_word("TEMP.USER", "") == "temp"
    assert shared_account_word("testuser", "Someone") == "test"
    assert shared_account_word("jdoe", "Shared Nurses Station") == "shared"
    assert shared_account_word("admin_03", "") == "admin"
    for identifier, name in [("E2", "Testa, Maria"), ("E3", "Tempest Ray"), ("E4", "Adminah Okafor"), ("jd", "Jo")]:
        assert shared_account_word(identifier, name) is None, name


@pytest.fixture
def clinic(org_a):
    return OrganizationFactory(name="Alpha Clinic", slug="alpha-clinic", parent=org_a)


@pytest.fixture
def epic(org_a, clinic):
    return ApplicationFactory(organization=org_a, name="Epic Ambulatory", cpt_coverage=Application.Coverage.DIRECT)


@pytest.fixture
def billing(clinic):
    return ApplicationFactory(organization=clinic, name="Clinic Billing", cpt_coverage=Application.Coverage.DIRECT)


def directory_roster(officer, application, identifiers):
    """The staff directory, recorded through the services (a directory is no application's users)."""
    roster = services.record_save(
        Roster(
            application=application,
            license_year=YEAR,
            taken_on=datetime.date(2026, 1, 10),
            source="Workday staff list",
            file_name="staff.csv",
            file_sha256="1" * 64,
            is_directory=True,
        ),
        actor=officer,
        reason="Staff directory",
    )
    people = {p.identifier.lower(): p for p in Person.objects.filter(organization=application.organization)}
    lines = [
        RosterLine(roster=roster, line=n, person=people[key], role="Employee", kind=UserKind.NOT_A_USER)
        for n, key in enumerate(identifiers, start=2)
    ]
    services.record_bulk_create(lines, RosterLine, actor=officer, reason="Staff directory")
    return roster


@pytest.fixture
def rostered(officer_client, officer, org_a, epic, billing):
    """Two rosters imported as an officer does it, and a directory naming Pat, Sam and Ana only."""
    map_roles(officer_client, epic)
    confirm(officer_client, preview_of(upload(officer_client, epic, roster_file(EPIC_LINES))))
    map_roles(officer_client, billing, {"Biller": (UserKind.DIRECT, "")})
    confirm(officer_client, preview_of(upload(officer_client, billing, roster_file(BILLING_LINES), name="bill.csv")))
    workday = ApplicationFactory(organization=org_a, name="Workday", cpt_coverage=Application.Coverage.NO_CPT)
    return directory_roster(officer, workday, ["e1", "e2", "e4"])


def page_url(org, **query):
    from urllib.parse import urlencode

    return reverse("admin:licensing_organization_reconcile", args=[org.pk]) + "?" + urlencode({"year": YEAR, **query})


@pytest.mark.django_db
def test_the_page_shows_each_person_once_with_their_applications_and_the_findings(officer_client, org_a, rostered):
    response = officer_client.get(page_url(org_a))
    assert response.status_code == 200
    page = response.content.decode()
    # Six people (Pat on both systems, matched across case), five of them users (the interface is not one).
    assert response.context["totals"].people == 6 and response.context["totals"].users == 5
    assert "6 distinct people</strong> across the organization, 5 of them users" in page
    people = {row.identifier: row for row in response.context["people"]}
    assert sorted(people) == ["E1", "E2", "E3", "E4", "frontdesk2", "svc-1"]
    assert people["E1"].applications == ["Clinic Billing", "Epic Ambulatory"]
    assert people["E1"].in_directory and not people["E3"].in_directory
    assert "Clinic Billing (Biller); Epic Ambulatory (Physician)" in page
    summary = {item["kind"]: item["total"] for item in response.context["summary"]}
    assert summary == {
        FindingKind.OTHER_ENTITY: 2,
        FindingKind.OUTSIDE_US: 2,
        FindingKind.LEFT: 2,
        FindingKind.SHARED_ACCOUNT: 1,
    }
    # The first finding is listed: Pat (parent's staff on the clinic's billing), Sam (clinic's staff on Epic).
    assert [row.identifier for row, _ in response.context["findings"]] == ["E1", "E2"]
    assert "Workday staff list" in page and 'name="reason"' in page

    by_kind = {
        kind: [row.identifier for row, _ in officer_client.get(page_url(org_a, finding=kind)).context["findings"]]
        for kind in FindingKind.values
    }
    assert by_kind[FindingKind.OUTSIDE_US] == ["E3", "E4"]
    assert by_kind[FindingKind.LEFT] == ["E3", "frontdesk2"]
    assert by_kind[FindingKind.SHARED_ACCOUNT] == ["frontdesk2"]

    # The organization page links to it; the affiliate's own page reads the affiliate's rosters only.
    assert (
        reverse("admin:licensing_organization_reconcile", args=[org_a.pk])
        in officer_client.get(reverse("admin:licensing_organization_change", args=[org_a.pk])).content.decode()
    )
    clinic = org_a.affiliates.get()
    assert officer_client.get(page_url(clinic)).context["totals"].people == 2


@pytest.mark.django_db
def test_an_officer_accepts_a_finding_with_a_reason_and_not_without(officer_client, officer, org_a, rostered):
    refused = officer_client.post(
        page_url(org_a), {"year": YEAR, "kind": FindingKind.OUTSIDE_US, "identifier": "E3", "reason": "  "}, follow=True
    )
    assert "Say why this finding is accepted" in refused.content.decode()
    assert "Nothing was saved." in refused.content.decode()
    assert not FindingAcceptance.objects.exists() and not FindingAcceptance.history.exists()

    response = officer_client.post(
        page_url(org_a),
        {"year": YEAR, "kind": FindingKind.OUTSIDE_US, "identifier": "E3", "reason": "Remote coder, under our license"},
    )
    assert response.status_code == 302
    accepted = FindingAcceptance.objects.get()
    assert (accepted.organization, accepted.license_year, accepted.kind, accepted.identifier) == (
        org_a,
        YEAR,
        FindingKind.OUTSIDE_US,
        "e3",
    )
    assert accepted.person_name == "Kim Poe" and accepted.accepted_by == officer
    row = accepted.history.get()
    assert row.history_user == officer and "Remote coder, under our license" in row.history_change_reason

    page = officer_client.get(page_url(org_a, finding=FindingKind.OUTSIDE_US))
    accepted_rows = {r.identifier: a for r, a in page.context["findings"]}
    assert accepted_rows["E3"] == accepted and accepted_rows["E4"] is None
    assert "Accepted by officer-a on" in page.content.decode()
    assert {i["kind"]: i["accepted"] for i in page.context["summary"]}[FindingKind.OUTSIDE_US] == 1

    # Once only, and only a finding the rosters show.
    again = officer_client.post(
        page_url(org_a),
        {"year": YEAR, "kind": FindingKind.OUTSIDE_US, "identifier": "e3", "reason": "Again"},
        follow=True,
    )
    assert "accepted already by officer-a" in again.content.decode()
    unknown = officer_client.post(
        page_url(org_a), {"year": YEAR, "kind": FindingKind.OUTSIDE_US, "identifier": "E1", "reason": "x"}, follow=True
    )
    assert "no such finding for E1" in unknown.content.decode()
    assert FindingAcceptance.objects.count() == 1


@pytest.mark.django_db
def test_an_acceptance_is_withdrawn_with_a_reason_and_the_finding_shows_again(officer_client, officer, org_a, rostered):
    officer_client.post(
        page_url(org_a), {"year": YEAR, "kind": FindingKind.OUTSIDE_US, "identifier": "E3", "reason": "Remote coder"}
    )
    accepted = FindingAcceptance.objects.get()
    page = officer_client.get(page_url(org_a, finding=FindingKind.OUTSIDE_US)).content.decode()
    assert f'name="withdraw" value="{accepted.pk}"' in page

    refused = officer_client.post(page_url(org_a), {"year": YEAR, "withdraw": accepted.pk, "reason": " "}, follow=True)
    assert "Say why the acceptance is withdrawn" in refused.content.decode()
    assert FindingAcceptance.objects.filter(pk=accepted.pk).exists()

    done = officer_client.post(
        page_url(org_a), {"year": YEAR, "withdraw": accepted.pk, "reason": "Contract ended"}, follow=True
    )
    assert "the acceptance for e3 is withdrawn" in done.content.decode()
    assert not FindingAcceptance.objects.exists()
    withdrawn = FindingAcceptance.history.model.objects.get(id=accepted.pk, history_type="-")
    assert withdrawn.history_user == officer and "withdrawn: Contract ended" in withdrawn.history_change_reason
    rows = {
        r.identifier: a
        for r, a in officer_client.get(page_url(org_a, finding=FindingKind.OUTSIDE_US)).context["findings"]
    }
    assert rows["E3"] is None
    missing = officer_client.post(page_url(org_a), {"year": YEAR, "withdraw": "99999999999999999999", "reason": "x"})
    assert missing.status_code == 302


@pytest.mark.django_db
def test_an_officer_of_another_organization_gets_not_found(client, org_a, org_b, rostered):
    stranger = UserFactory(username="stranger")
    member(stranger, org_b, "officer")
    client.force_login(stranger)
    assert client.get(page_url(org_a)).status_code == 404
    posted = client.post(page_url(org_a), {"kind": FindingKind.OUTSIDE_US, "identifier": "E3", "reason": "Mine"})
    assert posted.status_code == 404 and not FindingAcceptance.objects.exists()
    assert "Kim Poe" not in client.get(page_url(org_b)).content.decode()


@pytest.mark.django_db
def test_an_auditor_reads_the_page_and_accepts_nothing(client, org_a, auditor, rostered):
    client.force_login(auditor)
    page = client.get(page_url(org_a, finding=FindingKind.OUTSIDE_US))
    assert page.status_code == 200 and page.context["totals"].people == 6
    assert 'name="reason"' not in page.content.decode()
    posted = client.post(page_url(org_a), {"kind": FindingKind.OUTSIDE_US, "identifier": "E3", "reason": "Fine"})
    assert posted.status_code == 403 and not FindingAcceptance.objects.exists()


@pytest.mark.django_db
def test_the_filing_prefills_users_at_other_legal_entities_from_the_rosters(officer, org_a, rostered):
    filing = services.filing_prepare(organization=org_a, license_year=YEAR, actor=officer)
    snapshot = filings.snapshot(filing)
    sections = {section["name"]: section for section in snapshot["applications"]}
    assert sections["Epic Ambulatory"]["other_entities"] == ["Alpha Clinic"]
    assert sections["Epic Ambulatory"]["other_entities_from_rosters"] == ["Alpha Clinic"]
    assert "Alpha Clinic" in snapshot["other_entities"]


def imported_roster(officer, application, people: list[Person], *, new: bool):
    """A roster of `people` written through the services, as the roster import writes one."""
    roster = Roster(
        application=application,
        license_year=YEAR,
        taken_on=datetime.date(2026, 1, 15),
        source=f"{application.name} list",
        file_name="list.csv",
        file_sha256="2" * 64,
    )
    lines = [RosterLine(line=n + 2, person=p, role="Physician", kind=UserKind.DIRECT) for n, p in enumerate(people)]
    services.roster_record(
        roster=roster, new_people=people if new else [], changed_people=[], lines=lines, actor=officer, reason="Test"
    )


@pytest.mark.django_db
def test_the_page_reads_in_the_same_number_of_queries_for_few_and_many_people(officer_client, officer, org_a, clinic):
    def queries(size):
        organization = OrganizationFactory(name=f"Site {size}", slug=f"site-{size}", parent=org_a)
        # Every fifth person is employed by the parent, one works from India: each finding has people.
        people = [
            Person(
                organization=organization,
                identifier=f"P{n}",
                name=f"Person {n}",
                entity=org_a if n % 5 == 0 else organization,
                country="IN" if n == 1 else "US",
            )
            for n in range(size)
        ]
        for n in range(3):
            application = ApplicationFactory(organization=organization, name=f"System {size}-{n}")
            imported_roster(officer, application, people, new=n == 0)
        officer_client.get(page_url(organization))  # the session and the scope, read once
        with CaptureQueriesContext(connection) as captured:
            response = officer_client.get(page_url(organization, finding=FindingKind.OTHER_ENTITY))
        assert response.status_code == 200
        assert response.context["totals"].people == size
        return len(captured)

    few, many = queries(3), queries(40)
    assert few == many, (few, many)


@pytest.mark.django_db
def test_mapping_roles_keeps_the_findings_to_people_who_are_users(officer_client, org_a, epic):
    map_roles(officer_client, epic, {**MAPPING})
    confirm(officer_client, preview_of(upload(officer_client, epic, roster_file(EPIC_LINES))))
    response = officer_client.get(page_url(org_a, finding=FindingKind.SHARED_ACCOUNT))
    # "svc-1" reads as a service account, but its role is mapped as not a user: it raises nothing.
    assert [row.identifier for row, _ in response.context["findings"]] == ["frontdesk2"]
