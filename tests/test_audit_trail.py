"""The organization audit trail: every change of one organization, in words, filtered, paged and exported.

History rows are dated through simple-history's `_history_date`, so the order and the date filters are
exact; rows in bulk come from licensing.history's bulk helpers, as imports and seeds write them.
"""

import csv
import datetime
import io
from collections import Counter
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook

from licensing import ownership, roles, services
from licensing.audit import trail as audit_trail
from licensing.models import Application, BaseMetrics, Contact, Filing, License, Membership, UserCount, Vendor
from tests.factories import ApplicationFactory, UserFactory, sample_of
from tests.factories import record as saved

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
HEADER = [
    "Date (UTC)",
    "Person",
    "Record type",
    "Record id",
    "Record",
    "Action",
    "Field",
    "Old value",
    "New value",
    "Reason",
    "Import",
]


def moment(year, month, day, hour=12) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, 0, tzinfo=UTC)


def record(obj, when=None, *, user=None, reason="Test data"):
    """Save `obj` with its history row dated `when` (simple-history honours `_history_date`), by `user`."""
    if when is not None:
        obj._history_date = when
    services.record_save(obj, actor=user, reason=reason, validate=False)
    if when is not None:
        del obj._history_date
    return obj


def trail_url(organization, query: str = "") -> str:
    return f"/admin/licensing/organization/{organization.pk}/audit-trail/" + (f"?{query}" if query else "")


def shown(response) -> list:
    assert response.status_code == 200, response.content[:500]
    assert not response.context["problems"], response.context["problems"]
    return [row["entry"] for row in response.context["rows"]]


def described(entries) -> list[tuple]:
    """(record type key, record, action, [(label, old, new)]) per entry, for readable assertions."""
    return [
        (entry.record_type.key, entry.record, entry.action, [(c.label, c.old, c.new) for c in entry.changes])
        for entry in entries
    ]


def csv_lines(response) -> list[list[str]]:
    assert response.status_code == 200, response.content[:500]
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def xlsx_lines(response) -> list[list]:
    assert response.status_code == 200, response.content[:500]
    sheet = load_workbook(io.BytesIO(response.content)).active
    return [[cell.value for cell in line] for line in sheet.iter_rows()]


@pytest.fixture
def rita(db):
    return UserFactory(username="rita")


@pytest.fixture
def optum(db):
    return saved(Vendor, name="Optum360", is_authorized_distributor=True, processing_fee_per_user=Decimal(0))


@pytest.fixture
def story(org_a, org_b, officer, rita, optum):
    """Alpha Health's year: an application, its count and license in 2025-2026; Beta Clinics' changes alongside."""
    app = record(
        Application(organization=org_a, name="Revenue Cycle", category="billing_rcm"), moment(2025, 3, 1), user=officer
    )
    count = record(
        UserCount(application=app, license_year=2026, direct_users=10),
        moment(2025, 6, 1),
        user=officer,
        reason="January count",
    )
    lic = record(
        License(application=app, license_year=2026, status="needed"),
        moment(2026, 1, 10),
        user=rita,
        reason="License needed for 2026",
    )
    lic.status, lic.route, lic.distributor = "drafted", "distributor", optum
    record(lic, moment(2026, 2, 1), user=officer, reason="Going through Optum360")
    contact = record(Contact(organization=org_a, role="primary", name="Morgan Lee"), moment(2026, 3, 1), user=rita)

    bob = UserFactory(username="bob-beta")
    beta_app = record(
        Application(organization=org_b, name="Beta EHR", category="ambulatory_ehr"), moment(2025, 3, 1), user=bob
    )
    beta_license = record(
        License(application=beta_app, license_year=2026, status="needed"), moment(2026, 1, 10), user=bob
    )
    beta_license.status = "drafted"
    record(beta_license, moment(2026, 2, 1), user=bob, reason="Beta draft")
    return {"app": app, "count": count, "license": lic, "contact": contact, "beta_app": beta_app}


# ---------------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------------


def test_lists_changes_newest_first_in_words(officer_client, org_a, story):
    entries = shown(officer_client.get(trail_url(org_a, "since=2025-01-01&until=2026-06-30")))
    assert described(entries) == [
        (
            "contact",
            "Morgan Lee (Primary contact)",
            "Created",
            [
                ("Organization", "(empty)", "Alpha Health"),
                ("Role", "(empty)", "Primary contact"),
                ("Name", "(empty)", "Morgan Lee"),
            ],
        ),
        (
            "license",
            "Revenue Cycle 2026",
            "Changed",
            [
                ("Route", "Direct (AMA)", "Distributor"),
                ("Distributor", "(empty)", "Optum360"),
                ("Status", "Needed", "Application drafted"),
            ],
        ),
        (
            "license",
            "Revenue Cycle 2026",
            "Created",
            [
                ("Application", "(empty)", "Revenue Cycle (Alpha Health)"),
                ("License year", "(empty)", "2026"),
                ("Route", "(empty)", "Direct (AMA)"),
                ("Status", "(empty)", "Needed"),
            ],
        ),
        (
            "usercount",
            "Revenue Cycle 2026",
            "Created",
            [
                ("Application", "(empty)", "Revenue Cycle (Alpha Health)"),
                ("License year", "(empty)", "2026"),
                ("Method", "(empty)", "Counted users"),
                ("(a) access CPT directly", "(empty)", "10"),
            ],
        ),
        (
            "application",
            "Revenue Cycle",
            "Created",
            [
                ("Organization", "(empty)", "Alpha Health"),
                ("System name", "(empty)", "Revenue Cycle"),
                ("Category", "(empty)", "Billing / revenue cycle"),
                ("Deployment", "(empty)", "On-premise"),
                ("How CPT is covered", "(empty)", "Own AMA license"),
                ("Internet facing", "(empty)", "No"),
                ("Users outside the US", "(empty)", "No"),
            ],
        ),
    ]
    assert [(e.person, e.reason) for e in entries[:2]] == [
        ("rita", "Test data"),
        ("officer-a", "Going through Optum360"),
    ]
    page = officer_client.get(trail_url(org_a)).content.decode()
    assert "<strong>Status</strong>: Needed &rarr; Application drafted" in page
    assert "<strong>Distributor</strong>: (empty) &rarr; Optum360" in page
    assert f'href="/admin/licensing/license/{story["license"].pk}/history/"' in page


def test_whole_trail_is_newest_first_and_covers_every_record_type(officer_client, org_a, story, officer):
    saved(BaseMetrics, organization=org_a, license_year=2026, physicians=12)
    record(Filing(organization=org_a, license_year=2026), user=officer)
    # Any kind of record the story leaves out (a model added later) from its declared Sample.
    told = {t.key for t in audit_trail.record_types() if t.rows(org_a.pk).exists()}
    made = {}
    for key in sorted({t.key for t in audit_trail.record_types()} - told):
        sample_of(key, org_a, "Extra", made)
    entries = shown(officer_client.get(trail_url(org_a)))
    stamps = [(e.when, e.history_id) for e in entries]
    assert stamps == sorted(stamps, reverse=True)
    assert {e.record_type.key for e in entries} == {t.key for t in audit_trail.record_types()}
    labels = {e.record_type.key: e.record for e in entries}
    assert labels["organization"] == "Alpha Health"
    assert labels["basemetrics"] == "Alpha Health 2026"
    assert labels["membership"] == "officer-a (Compliance officer)"
    assert labels["filing"] == "CPT license application 2026"


def test_deleted_records_keep_their_names(officer_client, org_a, story):
    lic = story["license"]
    services.record_delete(lic, actor=None, reason="Entered by mistake")
    newest = shown(officer_client.get(trail_url(org_a)))[0]
    assert (newest.record, newest.action, newest.changes, newest.person) == ("Revenue Cycle 2026", "Deleted", [], "")
    page = officer_client.get(trail_url(org_a)).content.decode()
    assert "Record deleted" in page and "Entered by mistake" in page


def test_every_organization_owned_model_is_a_record_type():
    # Derived from the declarations: a model owned by an organization is on its trail without a list to update.
    owned = {model._meta.model_name for model in ownership.organization_models()}
    # People too: changes to the accounts of an organization's members (licensing.audit.people).
    assert {t.key for t in audit_trail.record_types()} == owned | {"user"}
    assert {"organization", "application", "usercount", "license", "filing", "membership"} <= owned


# ---------------------------------------------------------------------------------------------
# Filters
# ---------------------------------------------------------------------------------------------


def keys_of(entries) -> list[tuple]:
    return [(e.record_type.key, e.action) for e in entries]


def test_date_range_narrows(officer_client, org_a, story):
    entries = shown(officer_client.get(trail_url(org_a, "since=2025-06-01&until=2026-01-31")))
    assert keys_of(entries) == [("license", "Created"), ("usercount", "Created")]
    # The end date includes its whole day.
    entries = shown(officer_client.get(trail_url(org_a, "since=2026-02-01&until=2026-02-01")))
    assert keys_of(entries) == [("license", "Changed")]


def test_person_narrows_and_lists_only_this_organizations_people(officer_client, org_a, story):
    response = officer_client.get(trail_url(org_a, "person=rita"))
    assert keys_of(shown(response)) == [("contact", "Created"), ("license", "Created")]
    people = [value for value, _ in response.context["form"].fields["person"].choices]
    assert people == ["", "officer-a", "rita", audit_trail.SYSTEM_PERSON]
    # Fixture rows were written outside a request, by no one.
    system = shown(officer_client.get(trail_url(org_a, "person=(system)")))
    assert {e.person for e in system} == {""} and {"organization", "membership"} <= {e.record_type.key for e in system}


def test_record_type_narrows(officer_client, org_a, story):
    entries = shown(officer_client.get(trail_url(org_a, "type=license&type=contact")))
    assert keys_of(entries) == [("contact", "Created"), ("license", "Changed"), ("license", "Created")]


def test_field_narrows_to_rows_that_changed_it(officer_client, org_a, story):
    entries = shown(officer_client.get(trail_url(org_a, "field=license.status")))
    assert [(e.action, [(c.old, c.new) for c in e.changes if c.label == "Status"]) for e in entries] == [
        ("Changed", [("Needed", "Application drafted")]),
        ("Created", [("(empty)", "Needed")]),
    ]
    foreign_key = shown(officer_client.get(trail_url(org_a, "field=license.distributor_id")))
    assert keys_of(foreign_key) == [("license", "Changed")]
    # A field of another record type than the one ticked matches nothing.
    assert shown(officer_client.get(trail_url(org_a, "field=license.status&type=application"))) == []


@pytest.mark.parametrize(
    "query, message",
    [
        ("since=31/01/2026", "Enter the start date as YYYY-MM-DD"),
        ("until=yesterday", "Enter the end date as YYYY-MM-DD"),
        ("since=2026-02-01&until=2026-01-01", "The start date is after the end date"),
        ("person=mallory", "No one named “mallory” appears in this organization's history"),
        ("person=bob-beta", "No one named “bob-beta” appears"),
        ("type=vendor", "“vendor” is not a kind of record on the audit trail"),
        ("field=license.pdf", "“license.pdf” is not a field the history records"),
        ("field=status", "“status” is not a field the history records"),
        ("format=pdf", "“pdf” is not an export format"),
        ("format=csv&since=never", "Enter the start date as YYYY-MM-DD"),
    ],
)
def test_invalid_filters_say_what_is_wrong(officer_client, org_a, story, query, message):
    response = officer_client.get(trail_url(org_a, query))
    assert response.status_code == 200
    assert any(message in problem for problem in response.context["problems"]), response.context["problems"]
    assert "rows" not in response.context
    assert message.replace("'", "&#x27;") in response.content.decode()


# ---------------------------------------------------------------------------------------------
# Pagination
# ---------------------------------------------------------------------------------------------


def test_pages_hold_100_changes_and_never_repeat_one(officer_client, org_a, officer):
    apps = [Application(organization=org_a, name=f"System {n:03d}", category="other") for n in range(130)]
    services.record_bulk_create(apps, Application, actor=officer, reason="Inventory import")
    services.record_bulk_update(apps[:40], Application, ["owner"], actor=officer, reason="Owners assigned")
    total = sum(t.rows(org_a.pk).count() for t in audit_trail.record_types())
    # plus the organization, the officer's membership and the officer joining the officers' group
    assert total == 130 + 40 + 3

    first = officer_client.get(trail_url(org_a))
    second = officer_client.get(trail_url(org_a, "p=2"))
    assert first.context["page_obj"].paginator.count == total
    one, two = shown(first), shown(second)
    assert (len(one), len(two)) == (100, total - 100)
    seen = [(e.record_type.key, e.history_id) for e in one + two]
    assert len(set(seen)) == total
    stamps = [(e.when, e.history_id) for e in one + two]
    assert stamps == sorted(stamps, reverse=True)
    assert "Page 2 of 2" in second.content.decode()
    # Paging keeps the filters.
    assert (
        'href="?type=application&amp;p=2"' in officer_client.get(trail_url(org_a, "type=application")).content.decode()
    )


# ---------------------------------------------------------------------------------------------
# Exports
# ---------------------------------------------------------------------------------------------


def test_csv_export_has_one_line_per_filtered_change(officer_client, org_a, story):
    response = officer_client.get(trail_url(org_a, "type=license&field=license.status&format=csv"))
    assert response["Content-Disposition"] == 'attachment; filename="alpha-health_audit-trail.csv"'
    lic = story["license"]
    # Only the chosen field's changes: the same rows on the page also show their other fields.
    assert csv_lines(response) == [
        HEADER,
        [
            "2026-02-01 12:00:00",
            "officer-a",
            "License",
            str(lic.pk),
            "Revenue Cycle 2026",
            "Changed",
            "Status",
            "Needed",
            "Application drafted",
            "Going through Optum360",
            "",
        ],
        [
            "2026-01-10 12:00:00",
            "rita",
            "License",
            str(lic.pk),
            "Revenue Cycle 2026",
            "Created",
            "Status",
            "",
            "Needed",
            "License needed for 2026",
            "",
        ],
    ]
    everything = csv_lines(officer_client.get(trail_url(org_a, "type=license&format=csv")))
    assert [line[6] for line in everything[1:]] == [
        "Route",
        "Distributor",
        "Status",
        "Application",
        "License year",
        "Route",
        "Status",
    ]


def test_csv_export_covers_every_page_of_the_unfiltered_trail(auditor_client, org_a, story, officer, monkeypatch):
    # Small chunks, so the export pages through rows that share one timestamp (a bulk import).
    monkeypatch.setattr(audit_trail, "EXPORT_CHUNK", 7)
    apps = [Application(organization=org_a, name=f"System {n:03d}", category="other") for n in range(120)]
    services.record_bulk_create(apps, Application, actor=officer, reason="Inventory import")
    lines = csv_lines(auditor_client.get(trail_url(org_a, "format=csv")))[1:]
    rows_in_db = {(t.label, str(row.id)) for t in audit_trail.record_types() for row in t.rows(org_a.pk)}
    assert {(line[2], line[3]) for line in lines} == rows_in_db
    # Each of the 120 imported systems: one line per field its creation set.
    imported = [line for line in lines if line[9] == "Inventory import"]
    fields = [
        "Organization",
        "System name",
        "Category",
        "Deployment",
        "How CPT is covered",
        "Internet facing",
        "Users outside the US",
    ]
    assert len(imported) == 120 * len(fields) and {line[6] for line in imported} == set(fields)
    assert len({line[3] for line in imported}) == 120
    dates = [line[0] for line in lines]
    assert dates == sorted(dates, reverse=True)


def test_xlsx_export_matches_the_csv(auditor_client, org_a, story):
    query = "since=2025-01-01&type=license&type=usercount"
    response = auditor_client.get(trail_url(org_a, query + "&format=xlsx"))
    assert response["Content-Disposition"] == 'attachment; filename="alpha-health_audit-trail.xlsx"'
    sheet = xlsx_lines(response)
    from_csv = csv_lines(auditor_client.get(trail_url(org_a, query + "&format=csv")))
    assert sheet[0] == HEADER
    assert [
        [line[0].strftime("%Y-%m-%d %H:%M:%S"), *[str(v) if v is not None else "" for v in line[1:]]]
        for line in sheet[1:]
    ] == from_csv[1:]
    assert len(sheet) == 1 + 3 + 4 + 4


def test_exports_escape_formulas(officer_client, org_a, officer):
    app = record(
        Application(organization=org_a, name='=HYPERLINK("http://evil.example")', category="other"),
        user=officer,
        reason="+SUM(A1:A9)",
    )
    app.owner = "@admin"
    app.notes = "-1+1"
    record(app, user=officer, reason="Owner set")
    rows = [line for line in csv_lines(officer_client.get(trail_url(org_a, "type=application&format=csv")))[1:]]
    cells = {cell for line in rows for cell in line}
    assert {'\'=HYPERLINK("http://evil.example")', "'+SUM(A1:A9)", "'@admin", "'-1+1"} <= cells
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)

    sheet = load_workbook(
        io.BytesIO(officer_client.get(trail_url(org_a, "type=application&format=xlsx")).content)
    ).active
    values = [cell for line in sheet.iter_rows() for cell in line]
    assert not any(cell.data_type == "f" for cell in values)
    assert {'\'=HYPERLINK("http://evil.example")', "'@admin", "'-1+1"} <= {cell.value for cell in values}


def test_chunked_reading_matches_one_listing_when_rows_share_a_moment(org_a, officer, monkeypatch):
    # Bulk writes stamp many rows, of several tables, with one moment: the keyset must order and resume across them.
    same = moment(2026, 5, 1)
    monkeypatch.setattr("django.utils.timezone.now", lambda: same)
    apps = services.record_bulk_create(
        [Application(organization=org_a, name=f"S{n}", category="other") for n in range(9)],
        Application,
        actor=officer,
        reason="x",
    )
    services.record_bulk_create(
        [License(application=app, license_year=2026) for app in apps], License, actor=officer, reason="x"
    )
    services.record_bulk_create(
        [Contact(organization=org_a, role=role, name=role) for role in ["primary", "billing", "legal"]],
        Contact,
        actor=officer,
        reason="x",
    )
    monkeypatch.undo()
    listing = audit_trail.keys(org_a.pk, audit_trail.Filters(), stop=1000)
    # plus the organization, the officer's membership and the officer joining the officers' group
    assert len(listing) == 9 + 9 + 3 + 3
    for size in [1, 2, 5]:
        walked = [
            (e.record_type, e.history_id)
            for e in audit_trail.all_entries(org_a.pk, audit_trail.Filters(), chunk_size=size)
        ]
        assert walked == [(key.record_type, key.history_id) for key in listing]


# ---------------------------------------------------------------------------------------------
# Scope
# ---------------------------------------------------------------------------------------------


def test_other_organizations_history_never_appears(admin_client, org_a, org_b, story):
    entries = shown(admin_client.get(trail_url(org_a)))
    assert entries and not any("Beta" in e.record for e in entries)
    assert all(e.person != "bob-beta" for e in entries)
    beta_ids = {(t.key, row.history_id) for t in audit_trail.record_types() for row in t.rows(org_b.pk)}
    assert beta_ids and not beta_ids & {(e.record_type.key, e.history_id) for e in entries}
    lines = csv_lines(admin_client.get(trail_url(org_a, "format=csv")))
    assert not any("Beta" in cell or "bob-beta" in cell for line in lines for cell in line)
    # The same ids on org B's own trail show its changes only.
    beta = shown(admin_client.get(trail_url(org_b)))
    assert {e.record for e in beta} >= {"Beta EHR", "Beta EHR 2026", "Beta Clinics"}
    assert not any("Revenue Cycle" in e.record for e in beta)


def test_organization_outside_scope_is_not_found(officer_client, org_b, story):
    assert officer_client.get(trail_url(org_b)).status_code == 404
    assert officer_client.get(trail_url(org_b, "format=csv")).status_code == 404
    assert officer_client.get(trail_url(org_b, "format=xlsx")).status_code == 404


def test_auditors_read_and_export(auditor_client, org_a, story):
    assert shown(auditor_client.get(trail_url(org_a)))
    assert len(csv_lines(auditor_client.get(trail_url(org_a, "format=csv")))) > 1


def test_person_without_view_permission_is_refused(client, org_a, story):
    # A membership without the role's permissions (e.g. groups removed by hand) grants scope but not the right to view.
    user = UserFactory(username="no-perms")
    saved(Membership, user=user, organization=org_a, role="auditor")
    client.force_login(user)
    assert client.get(trail_url(org_a)).status_code == 403


def test_organization_page_links_to_the_trail(officer_client, org_a):
    page = officer_client.get(f"/admin/licensing/organization/{org_a.pk}/change/").content.decode()
    assert f'href="{trail_url(org_a)}"' in page


# ---------------------------------------------------------------------------------------------
# Query count
# ---------------------------------------------------------------------------------------------


def every_kind_of_change(organization, actor) -> None:
    """One creation and one change of every record type, through ordinary saves (the newest rows)."""
    organization.phone = "(217) 555-0100"
    record(organization, user=actor)
    contact = record(Contact(organization=organization, role="billing", name="Pat Doe"), user=actor)
    contact.title = "Billing manager"
    record(contact, user=actor)
    metrics = record(BaseMetrics(organization=organization, license_year=2026, physicians=10), user=actor)
    metrics.physicians = 11
    record(metrics, user=actor)
    member = UserFactory()
    membership = record(Membership(user=member, organization=organization, role="auditor"), user=actor)
    membership.role = "officer"
    record(membership, user=actor)
    member.is_active = False
    services.person_save(
        person=member, actor=actor, reason="Left", groups=Group.objects.filter(name=roles.AUDITOR_GROUP)
    )
    app = ApplicationFactory(organization=organization, name="Coding encoder")
    app.owner = "HIM"
    record(app, user=actor)
    count = record(UserCount(application=app, license_year=2026, direct_users=5), user=actor)
    count.direct_users = 6
    record(count, user=actor)
    lic = record(License(application=app, license_year=2026, status="needed"), user=actor)
    lic.status = "drafted"
    record(lic, user=actor)
    filing = record(Filing(organization=organization, license_year=2026), user=actor)
    filing.signatory_name = "Pat Doe"
    record(filing, user=actor)


def bulk_history(organization, actor) -> None:
    """About 280 older rows of other kinds in bulk: applications, their licenses and counts, new versions."""
    apps = services.record_bulk_create(
        [Application(organization=organization, name=f"Clinic system {n}", category="other") for n in range(40)],
        Application,
        actor=actor,
        reason="Import",
    )
    licenses = services.record_bulk_create(
        [License(application=app, license_year=2025, status="needed") for app in apps],
        License,
        actor=actor,
        reason="Import",
    )
    for status in ["drafted", "submitted", "needed"]:
        for lic in licenses:
            lic.status = status
        services.record_bulk_update(licenses, License, ["status"], actor=actor, reason="Workflow")
    counts = services.record_bulk_create(
        [UserCount(application=app, license_year=2025, direct_users=3) for app in apps],
        UserCount,
        actor=actor,
        reason="Import",
    )
    for count in counts:
        count.direct_users = 4
    services.record_bulk_update(counts, UserCount, ["direct_users"], actor=actor, reason="Recount")


def first_page_queries(client, organization) -> tuple[int, int, str]:
    """Queries of the first page, rows shown, and a report naming the most repeated statement first."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(trail_url(organization))
    entries = shown(response)
    statements = [query["sql"] for query in captured.captured_queries]
    repeated, times = Counter(statements).most_common(1)[0]
    report = f"most repeated ({times} times): {repeated[:300]}\n\n" + "\n".join(statements)
    return len(captured), len(entries), report


def trail_rows(organization) -> int:
    return sum(t.rows(organization.pk).count() for t in audit_trail.record_types())


@pytest.mark.parametrize("who", ["officer", "superuser"])
def test_first_page_queries_do_not_grow_with_history(client, org_a, org_b, officer, admin_user, who):
    client.force_login(officer if who == "officer" else admin_user)
    every_kind_of_change(org_a, officer)
    small, small_rows, _ = first_page_queries(client, org_a)
    assert trail_rows(org_a) < 25 and small_rows == trail_rows(org_a)

    bulk_history(org_b, officer)
    every_kind_of_change(org_b, officer)
    saved(Membership, user=officer, organization=org_b, role="officer")
    large, large_rows, sql = first_page_queries(client, org_b)
    assert trail_rows(org_b) > 290 and large_rows == 100
    assert large == small, sql
    # People add their rows, previous rows, two link tables (groups, permissions) and the group names.
    assert large <= 40, sql
