"""Rosters as an officer meets them: import a file with an unmapped role (refused, the role listed), map it, import
again (the preview compares with the previous roster and names the person listed twice), confirm, read the derived
count; change the mapping and see the count follow. Auditors read everything and write nothing. Plus the counting
rule itself, without the database."""

import datetime
import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from licensing import counting, imports
from licensing.choices import CountMethod, UserKind
from licensing.models import DataImport, EvidenceFile, UserCount
from licensing.models.rosters import Person, RoleMapping, Roster, RosterLine
from tests.factories import ApplicationFactory, OrganizationFactory, UserCountFactory, UserFactory, member

HEADER = "Identifier,Name,E-mail,Entity,Country,Role"
FIRST = [
    "E1,Pat Lee,pat.lee@example.org,,US,Physician",
    "E2,Sam Roe,sam.roe@example.org,alpha-clinic,USA,Front desk",
    "E3,Kim Poe,,,India,Finance analyst (reports)",
    "svc-1,Interface Engine,,,,IT service account",
    # Pat again, under a second role: one user, under (a).
    "E1,Pat Lee,pat.lee@example.org,,US,Front desk",
    "E4,Ana Diaz,ana.diaz@example.org,,PH,Scheduler",
]
MAPPING = {
    "Physician": (UserKind.DIRECT, ""),
    "Front desk": (UserKind.PROGRAM, ""),
    "Finance analyst (reports)": (UserKind.OUTPUT, ""),
    "IT service account": (UserKind.NOT_A_USER, "Interface account, no person behind it"),
}


def roster_file(lines, *, header=HEADER, name="epic-access.csv", encoding="utf-8", newline="\n") -> bytes:
    return (newline.join([header, *lines]) + newline).encode(encoding)


# ---------------------------------------------------------------------------------------------
# The rule, without the database
# ---------------------------------------------------------------------------------------------


def test_each_person_is_counted_once_under_the_first_kind_that_applies():
    tally = counting.tally_roster(
        [
            ("pat", UserKind.PROGRAM),
            ("pat", UserKind.DIRECT),
            ("sam", UserKind.OUTPUT),
            ("sam", UserKind.PROGRAM),
            ("kim", UserKind.OUTPUT),
            ("svc", UserKind.NOT_A_USER),
            # A person with a service role and a real one is a user.
            ("ana", UserKind.NOT_A_USER),
            ("ana", UserKind.OUTPUT),
        ]
    )
    assert (tally.direct, tally.program, tally.output, tally.excluded) == (1, 1, 2, 1)
    assert tally.users == 4 and tally.people == 5
    assert tally.kind_of == {"pat": "a", "sam": "b", "kim": "c", "svc": "none", "ana": "c"}
    assert tally.listed_more_than_once == {"pat": 2, "sam": 2, "ana": 2}


def test_an_empty_roster_counts_nobody_and_an_unmapped_kind_is_refused():
    assert counting.tally_roster([]).users == 0
    with pytest.raises(ValueError, match="map its role first"):
        counting.tally_roster([("pat", "")])


def test_the_explanation_reads_as_the_issue_asks():
    tally = counting.RosterTally(direct=120, program=40, output=15, excluded=12)
    text = counting.roster_explanation(taken_on=datetime.date(2026, 1, 15), source="Epic access list", tally=tally)
    assert text == (
        "Roster of 2026-01-15 from Epic access list: 120 (a) + 40 (b) + 15 (c) = 175 users; 12 excluded as not users"
    )
    alone = counting.RosterTally(direct=1)
    assert counting.roster_explanation(taken_on=datetime.date(2026, 1, 2), source="HR", tally=alone).endswith(
        "= 1 user"
    )


def test_a_count_derived_from_a_roster_explains_itself_by_the_roster():
    roster = Roster(pk=7, taken_on=datetime.date(2026, 1, 15), source="Epic access list")
    count = UserCount(
        method=CountMethod.COUNTED, direct_users=2, program_users=1, output_users=1, excluded_users=1, roster=roster
    )
    assert counting.explain(count) == (
        "Roster of 2026-01-15 from Epic access list: 2 (a) + 1 (b) + 1 (c) = 4 users; 1 excluded as not users"
    )
    assert counting.explain(UserCount(method=CountMethod.COUNTED, direct_users=2)).endswith("= 2 counted users")


# ---------------------------------------------------------------------------------------------
# Importing, as an officer
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def clinic(org_a):
    return OrganizationFactory(name="Alpha Clinic", slug="alpha-clinic", parent=org_a)


@pytest.fixture
def epic(org_a, clinic):
    return ApplicationFactory(organization=org_a, name="Epic Ambulatory")


def upload(client, epic, content: bytes, *, name="epic-access.csv", taken_on="2026-01-15", reason="January roster"):
    return client.post(
        reverse("admin:licensing_rosterline_import"),
        {
            "application": epic.pk,
            "license_year": 2026,
            "taken_on": taken_on,
            "source": "Epic access list",
            "file": SimpleUploadedFile(name, content, content_type="text/csv"),
            "change_reason": reason,
        },
    )


def map_roles(client, epic, mapping=MAPPING, reason="Roles agreed with the EHR team"):
    for role, (kind, explanation) in mapping.items():
        response = client.post(
            reverse("admin:licensing_rolemapping_add"),
            {"application": epic.pk, "role": role, "kind": kind, "explanation": explanation, "change_reason": reason},
        )
        assert response.status_code == 302, response.content.decode()[:3000]


def preview_of(response) -> DataImport:
    assert response.status_code == 302, response.content.decode()[:3000]
    return DataImport.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-2]))


def confirm(client, preview: DataImport) -> DataImport:
    response = client.post(reverse("admin:licensing_dataimport_change", args=[preview.pk]))
    assert response.status_code == 302
    return DataImport.objects.filter(preview_of=preview).get()


@pytest.mark.django_db
def test_an_unmapped_role_is_listed_and_blocks_the_import_until_mapped(officer_client, epic):
    map_roles(officer_client, epic, {k: v for k, v in MAPPING.items() if k != "Front desk"})
    preview = preview_of(upload(officer_client, epic, roster_file(FIRST)))
    assert preview.outcome == DataImport.Outcome.REFUSED
    page = officer_client.get(reverse("admin:licensing_dataimport_change", args=[preview.pk])).content.decode()
    assert "2 roles of this file have no mapping for Epic Ambulatory" in page
    assert "&#x27;Front desk&#x27; (lines 3, 6)" in page and "&#x27;Scheduler&#x27; (line 7)" in page
    mappings = reverse("admin:licensing_rolemapping_add") + f"?application={epic.pk}"
    assert f'<a href="{mappings}">the role mappings page</a>' in page
    assert "Confirm import" not in page
    assert not Roster.objects.exists() and not Person.objects.exists() and not RosterLine.objects.exists()
    assert not UserCount.objects.filter(application=epic).exists()


@pytest.mark.django_db
def test_a_mapped_roster_previews_confirms_and_derives_the_count(officer_client, officer, epic, org_a, clinic):
    map_roles(officer_client, epic, {**MAPPING, "Scheduler": (UserKind.PROGRAM, "")})
    content = roster_file(FIRST)
    preview = preview_of(upload(officer_client, epic, content))
    assert preview.outcome == DataImport.Outcome.PREVIEWED, preview.report
    page = officer_client.get(reverse("admin:licensing_dataimport_change", args=[preview.pk])).content.decode()
    assert (
        "Roster of 2026-01-15 from Epic access list: 1 (a) + 2 (b) + 1 (c) = 4 users; 1 excluded as not users. "
        "This roster becomes the 2026 user count of Epic Ambulatory." in page
    )
    assert (
        "1 person is listed more than once, each counted once: Pat Lee (E1) on lines 2, 6: counted once, under (a)"
        in page
    )
    assert "Epic Ambulatory has no earlier roster: every person is new." in page
    assert "5 new, 0 updated, 0 unchanged, 0 with errors" in page
    # The preview wrote nothing.
    assert not Roster.objects.exists() and not Person.objects.exists()

    done = confirm(officer_client, preview)
    assert done.outcome == DataImport.Outcome.CONFIRMED, done.report
    roster = Roster.objects.get()
    assert (roster.application, roster.license_year, roster.taken_on, roster.source) == (
        epic,
        2026,
        datetime.date(2026, 1, 15),
        "Epic access list",
    )
    assert roster.file_sha256 == hashlib.sha256(content).hexdigest() and roster.file_name == "epic-access.csv"
    assert roster.imported_by == officer and roster.imported_by_name == "officer-a" and roster.data_import == done
    lines = [
        (line.line, line.person.identifier, line.role, line.kind)
        for line in roster.lines.select_related("person").order_by("line")
    ]
    assert lines == [
        (2, "E1", "Physician", "a"),
        (3, "E2", "Front desk", "b"),
        (4, "E3", "Finance analyst (reports)", "c"),
        (5, "svc-1", "IT service account", "none"),
        (6, "E1", "Front desk", "b"),
        (7, "E4", "Scheduler", "b"),
    ]
    people = {
        person.identifier: (person.name, person.email, person.entity.slug, person.country, person.organization)
        for person in Person.objects.select_related("entity", "organization")
    }
    assert people == {
        "E1": ("Pat Lee", "pat.lee@example.org", "alpha-health", "US", org_a),
        "E2": ("Sam Roe", "sam.roe@example.org", "alpha-clinic", "US", org_a),
        "E3": ("Kim Poe", "", "alpha-health", "IN", org_a),
        "svc-1": ("Interface Engine", "", "alpha-health", "US", org_a),
        "E4": ("Ana Diaz", "ana.diaz@example.org", "alpha-health", "PH", org_a),
    }
    count = UserCount.objects.select_related("roster").get(application=epic, license_year=2026)
    assert (count.method, count.direct_users, count.program_users, count.output_users, count.excluded_users) == (
        "counted",
        1,
        2,
        1,
        1,
    )
    assert count.roster == roster and count.users == 4 and count.counted_on == roster.taken_on
    assert counting.explain(count) == (
        "Roster of 2026-01-15 from Epic access list: 1 (a) + 2 (b) + 1 (c) = 4 users; 1 excluded as not users"
    )
    assert roster.file_sha256 in count.evidence
    # Every history row the import wrote carries the person, the reason and the import's number.
    for model in (Roster, RosterLine, Person, UserCount):
        rows = model.history.model.objects.filter(data_import_id=done.pk)
        assert rows.exists(), model
        assert {(row.history_user_id, row.history_change_reason) for row in rows} == {(officer.pk, "January roster")}
    # The count's page shows the explanation and keeps the derived figures out of reach.
    count_page = officer_client.get(reverse("admin:licensing_usercount_change", args=[count.pk])).content.decode()
    assert "1 excluded as not users" in count_page and 'name="direct_users"' not in count_page
    # When and by whom it was counted, and the evidence, are the roster's too; the review flag stays the officer's.
    for derived in ("counted_on", "counted_by", "evidence"):
        assert f'name="{derived}"' not in count_page, derived
    assert 'name="needs_review"' in count_page


@pytest.mark.django_db
def test_the_next_roster_is_compared_with_the_previous_one(officer_client, epic):
    map_roles(officer_client, epic, {**MAPPING, "Scheduler": (UserKind.PROGRAM, "")})
    confirm(officer_client, preview_of(upload(officer_client, epic, roster_file(FIRST))))
    later = [
        "E1,Pat Lee,pat.lee@example.org,,US,Physician",
        # Sam moved to reports only: (b) -> (c).
        "E2,Sam Roe,sam.roe@example.org,alpha-clinic,US,Finance analyst (reports)",
        "E3,Kim Poe,kim.poe@example.org,,IN,Finance analyst (reports)",
        "svc-1,Interface Engine,,,,IT service account",
        "E5,Lou Kent,,,,Physician",
    ]
    preview = preview_of(upload(officer_client, epic, roster_file(later, name="feb.csv"), taken_on="2026-02-15"))
    assert preview.outcome == DataImport.Outcome.PREVIEWED, preview.report
    entries = {(entry["kind"], entry["label"]): entry for entry in preview.report["entries"]}
    assert set(entries) == {
        # Pat no longer holds the front desk role (still (a)).
        ("updated", "Pat Lee (E1)"),
        ("updated", "Sam Roe (E2)"),
        ("updated", "Kim Poe (E3)"),
        ("new", "Lou Kent (E5)"),
        ("removed", "Ana Diaz (E4)"),
    }
    assert ["Counts as", "(b) produces output with it", "(c) uses its output"] in entries[("updated", "Sam Roe (E2)")][
        "changes"
    ]
    assert ["E-mail", "", "kim.poe@example.org"] in entries[("updated", "Kim Poe (E3)")]["changes"]
    assert entries[("updated", "Pat Lee (E1)")]["changes"] == [["Role", "Physician; Front desk", "Physician"]]
    assert (preview.new_rows, preview.updated_rows, preview.unchanged_rows) == (1, 3, 1)
    page = officer_client.get(reverse("admin:licensing_dataimport_change", args=[preview.pk])).content.decode()
    assert "Not on this roster" in page and "1 person of the previous roster is not on this one" in page

    confirm(officer_client, preview)
    count = UserCount.objects.get(application=epic, license_year=2026)
    assert (count.direct_users, count.program_users, count.output_users, count.excluded_users) == (2, 0, 2, 1)
    assert count.roster.taken_on == datetime.date(2026, 2, 15)
    assert Person.objects.get(identifier="E3").email == "kim.poe@example.org"


@pytest.mark.django_db
def test_changing_the_mapping_re_derives_the_count_with_the_reason(officer_client, officer, epic):
    map_roles(officer_client, epic, {**MAPPING, "Scheduler": (UserKind.PROGRAM, "")})
    confirm(officer_client, preview_of(upload(officer_client, epic, roster_file(FIRST))))
    scheduler = RoleMapping.objects.get(application=epic, role="Scheduler")
    response = officer_client.post(
        reverse("admin:licensing_rolemapping_change", args=[scheduler.pk]),
        {
            "application": epic.pk,
            "role": "Scheduler",
            "kind": UserKind.NOT_A_USER,
            "explanation": "Schedulers never see CPT in Epic",
            "change_reason": "EHR team review",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert RosterLine.objects.get(role="Scheduler").kind == UserKind.NOT_A_USER
    count = UserCount.objects.get(application=epic, license_year=2026)
    assert (count.direct_users, count.program_users, count.output_users, count.excluded_users) == (1, 1, 1, 2)
    latest = count.history.order_by("-history_id").first()
    assert latest.history_user_id == officer.pk
    assert latest.history_change_reason == "Role mapping 'Scheduler' changed: EHR team review"


@pytest.mark.django_db
def test_a_not_a_user_mapping_needs_its_reason(officer_client, epic):
    response = officer_client.post(
        reverse("admin:licensing_rolemapping_add"),
        {"application": epic.pk, "role": "Kiosk", "kind": UserKind.NOT_A_USER, "explanation": "", "change_reason": ""},
    )
    assert response.status_code == 200
    assert "Say why people with this role are not users" in response.content.decode()
    assert not RoleMapping.objects.exists()


@pytest.mark.django_db
def test_messy_files_are_read_as_meant(officer_client, epic):
    map_roles(officer_client, epic, {**MAPPING, "Scheduler": (UserKind.PROGRAM, "")})
    lines = [
        "E1 ; Pat Lee ; pat.lee@example.org ; ; United States ; physician ",
        ";;;;;",
        "E2;Sam Roe;;Alpha Clinic;;FRONT  DESK",
    ]
    content = "\ufeff".encode() + roster_file(
        lines, header="Employee ID;Full name;Email;Legal entity;Country;Job title", encoding="utf-8", newline="\r\n"
    )
    preview = preview_of(upload(officer_client, epic, content))
    assert preview.outcome == DataImport.Outcome.PREVIEWED, preview.report
    confirm(officer_client, preview)
    people = {p.identifier: (p.country, p.entity.slug) for p in Person.objects.select_related("entity")}
    assert people == {"E1": ("US", "alpha-health"), "E2": ("US", "alpha-clinic")}
    assert list(RosterLine.objects.order_by("line").values_list("line", "role", "kind")) == [
        (2, "physician", "a"),
        (4, "FRONT  DESK", "b"),
    ]


@pytest.mark.django_db
def test_unreadable_lines_are_refused_by_line_and_column(officer_client, epic, org_b):
    map_roles(officer_client, epic)
    lines = [
        "E1,Pat Lee,not-an-address,,US,Physician",
        ",No Id,,,US,Physician",
        "E3,Kim Poe,,beta-clinics,US,Physician",
        "E4,Ana Diaz,,,Atlantis,Physician",
    ]
    preview = preview_of(upload(officer_client, epic, roster_file(lines)))
    assert preview.outcome == DataImport.Outcome.REFUSED
    problems = {entry["line"]: entry["problems"] for entry in preview.report["entries"] if entry["kind"] == "error"}
    assert problems[2][0][:2] == ["E-mail", "not-an-address"]
    assert problems[3][0][0] == "Identifier"
    # Another organization, outside the officer's memberships, is not found (and not named).
    assert problems[4][0][0] == "Entity" and "No organization you can see" in problems[4][0][2]
    assert problems[5][0][0] == "Country" and "two-letter ISO code" in problems[5][0][2]
    assert not Roster.objects.exists() and not Person.objects.exists()


@pytest.mark.django_db
def test_an_application_of_another_organization_cannot_be_chosen(officer_client, officer, org_b):
    theirs = ApplicationFactory(organization=org_b, name="Beta EHR")
    response = upload(officer_client, theirs, roster_file(FIRST))
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    # Straight through the import machinery, with a forged application id: refused, nothing written.
    record_ = imports.run(
        resource_name="rosters",
        file_name="x.csv",
        content=roster_file(FIRST),
        actor=officer,
        dry_run=True,
        parameters={"application": theirs.pk, "license_year": 2026, "taken_on": "2026-01-15", "source": "x"},
    )
    assert record_.outcome == DataImport.Outcome.REFUSED
    assert "belongs to an organization you do not manage" in " ".join(record_.report["problems"])
    assert not Roster.objects.exists()


@pytest.mark.django_db
def test_a_roster_replaces_a_typed_count_and_the_export_imports_back(officer_client, epic):
    UserCountFactory(application=epic, license_year=2026, direct_users=40)
    map_roles(officer_client, epic, {**MAPPING, "Scheduler": (UserKind.PROGRAM, "")})
    preview = preview_of(upload(officer_client, epic, roster_file(FIRST)))
    assert (
        "This roster replaces the 2026 user count of Epic Ambulatory (now 40 (a) + 0 (b) + 0 (c) = 40 counted users)"
        in (" ".join(preview.report["notes"]))
    )
    confirm(officer_client, preview)
    count = UserCount.objects.get(application=epic, license_year=2026)
    assert count.users == 4 and count.version == 2

    exported = officer_client.get(reverse("admin:licensing_rosterline_export") + "?format=csv")
    body = b"".join(exported.streaming_content).decode("utf-8-sig")
    assert body.splitlines()[0] == "Identifier,Name,E-mail,Entity,Country,Role,NPI"
    again = preview_of(upload(officer_client, epic, body.encode(), name="again.csv", taken_on="2026-01-20"))
    assert again.outcome == DataImport.Outcome.PREVIEWED, again.report
    assert (again.new_rows, again.updated_rows, again.unchanged_rows) == (0, 0, 5)


# ---------------------------------------------------------------------------------------------
# Auditors and other organizations
# ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_auditors_read_rosters_but_import_and_map_nothing(client, officer_client, auditor, epic):
    map_roles(officer_client, epic, {**MAPPING, "Scheduler": (UserKind.PROGRAM, "")})
    confirm(officer_client, preview_of(upload(officer_client, epic, roster_file(FIRST))))
    client.force_login(auditor)
    roster = Roster.objects.get()
    page = client.get(reverse("admin:licensing_roster_change", args=[roster.pk])).content.decode()
    assert "1 (a) + 2 (b) + 1 (c) = 4 users" in page and 'name="notes"' not in page
    lines = client.get(reverse("admin:licensing_rosterline_changelist") + f"?roster__exact={roster.pk}")
    assert lines.status_code == 200 and len(lines.context["cl"].result_list) == 6
    assert client.get(reverse("admin:licensing_rosterline_import")).status_code == 403
    assert ">Import a roster<" not in client.get(reverse("admin:licensing_roster_changelist")).content.decode()
    mapping = RoleMapping.objects.get(role="Physician")
    client.post(
        reverse("admin:licensing_rolemapping_change", args=[mapping.pk]),
        {"application": epic.pk, "role": "Physician", "kind": UserKind.OUTPUT, "change_reason": "x"},
    )
    assert RoleMapping.objects.get(pk=mapping.pk).kind == UserKind.DIRECT


@pytest.mark.django_db
def test_other_organizations_see_none_of_it(client, officer_client, epic, org_b):
    map_roles(officer_client, epic, {**MAPPING, "Scheduler": (UserKind.PROGRAM, "")})
    confirm(officer_client, preview_of(upload(officer_client, epic, roster_file(FIRST))))
    stranger = UserFactory(username="stranger")
    member(stranger, org_b, "officer")
    client.force_login(stranger)
    for name in ("roster", "rosterline", "person", "rolemapping"):
        listing = client.get(reverse(f"admin:licensing_{name}_changelist"))
        assert listing.status_code == 200 and len(listing.context["cl"].result_list) == 0, name
    assert client.get(reverse("admin:licensing_roster_change", args=[Roster.objects.get().pk])).status_code == 404
    assert (
        "Pat Lee"
        not in b"".join(
            client.get(reverse("admin:licensing_rosterline_export") + "?format=csv").streaming_content
        ).decode()
    )


@pytest.mark.django_db
def test_a_roster_of_nobody_but_service_accounts_is_refused(officer_client, epic):
    map_roles(officer_client, epic)
    preview = preview_of(upload(officer_client, epic, roster_file(["svc-1,Interface Engine,,,,IT service account"])))
    assert preview.outcome == DataImport.Outcome.REFUSED
    assert "at least one person under (a), (b) or (c)" in " ".join(preview.report["problems"])


@pytest.mark.django_db
def test_a_user_counts_file_cannot_retype_a_count_derived_from_a_roster(officer_client, officer, epic):
    map_roles(officer_client, epic, {**MAPPING, "Scheduler": (UserKind.PROGRAM, "")})
    confirm(officer_client, preview_of(upload(officer_client, epic, roster_file(FIRST))))
    counts = b"Organization,System name,License year,(a) access CPT directly\nalpha-health,Epic Ambulatory,2026,50\n"
    refused = imports.run(
        resource_name="user-counts", file_name="counts.csv", content=counts, actor=officer, dry_run=True
    )
    assert refused.outcome == DataImport.Outcome.REFUSED
    assert "derived from a roster" in str(refused.report["entries"])
    assert UserCount.objects.get(application=epic).direct_users == 1


def test_a_refusal_links_the_page_it_names_and_escapes_the_rest():
    from licensing.templatetags.messages_links import link_pages

    shown = link_pages("'<b>Nurse</b>' has no mapping: see the role mappings page (/admin/x/add/?a=1&b=2), then retry.")
    assert shown == (
        "&#x27;&lt;b&gt;Nurse&lt;/b&gt;&#x27; has no mapping: see "
        '<a href="/admin/x/add/?a=1&amp;b=2">the role mappings page</a>, then retry.'
    )
    # Only portal pages become links: an address in a file's cell stays text.
    assert "<a" not in link_pages("the evil page (https://example.com/)")


@pytest.mark.django_db
def test_a_roster_file_that_cannot_be_kept_as_evidence_is_refused_at_the_preview(officer_client, epic):
    map_roles(officer_client, epic)
    marked_up = roster_file(["e1,<script>alert(1)</script>,,,,Physician"])
    preview = preview_of(upload(officer_client, epic, marked_up))
    assert preview.outcome == DataImport.Outcome.REFUSED
    assert "The roster cannot be saved" in " ".join(preview.report["problems"])
    assert not Roster.objects.exists() and not EvidenceFile.objects.exists()
