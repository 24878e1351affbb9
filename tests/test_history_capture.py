"""Every write path leaves one history row per changed object, with who and why; diffs read in words."""

import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from licensing import services
from licensing.audit import links
from licensing.models import Application, DataImport, License, Organization, RateSchedule, UserCount
from tests.admin_forms import field_errors, inline_errors, page_form_data, post_admin_form
from tests.factories import (
    ApplicationFactory,
    LicenseFactory,
    OrganizationFactory,
    UserCountFactory,
    UserFactory,
    VendorFactory,
    data_file,
)

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


def newest(obj):
    return type(obj).history.model.objects.filter(id=obj.pk).order_by("-history_id").first()


@pytest.fixture
def app_a(org_a):
    return ApplicationFactory(organization=org_a, name="Revenue Cycle", category="billing_rcm")


def test_editing_a_count_needs_a_reason(officer_client, app_a):
    count = UserCountFactory(application=app_a, direct_users=10)
    before = count.history.count()
    url = f"/admin/licensing/usercount/{count.pk}/change/"
    refused = post_admin_form(officer_client, url, {"direct_users": 14})
    assert "Say why this changed" in " ".join(field_errors(refused)["change_reason"])
    count.refresh_from_db()
    assert count.direct_users == 10 and count.history.count() == before

    saved = post_admin_form(officer_client, url, {"direct_users": 14, "change_reason": "January recount of coders"})
    assert saved.status_code == 302, field_errors(saved)
    row = newest(count)
    assert count.history.count() == before + 1
    assert (row.history_user.username, row.history_user_name) == ("officer-a", "officer-a")
    assert row.history_change_reason == "January recount of coders"
    assert row.changed_fields == ",direct_users,"


def test_editing_a_license_needs_a_reason(officer_client, app_a):
    lic = LicenseFactory(application=app_a, status="needed", licensed_users=None, agreement_number="")
    url = f"/admin/licensing/license/{lic.pk}/change/"
    refused = post_admin_form(officer_client, url, {"status": "drafted"})
    assert "change_reason" in field_errors(refused)
    saved = post_admin_form(officer_client, url, {"status": "drafted", "change_reason": "Application prepared"})
    assert saved.status_code == 302, field_errors(saved)
    assert newest(lic).history_change_reason == "Application prepared"


def test_inline_count_edit_needs_the_pages_reason(officer_client, app_a):
    count = UserCountFactory(application=app_a, direct_users=10)
    url = f"/admin/licensing/application/{app_a.pk}/change/"
    page = officer_client.get(url)
    data = page_form_data(page)
    data["user_counts-0-direct_users"] = "12"
    refused = officer_client.post(url, data)
    assert any("Say why" in error for error in inline_errors(refused)), inline_errors(refused)
    count.refresh_from_db()
    assert count.direct_users == 10

    data["change_reason"] = "Two coders hired"
    saved = officer_client.post(url, data)
    assert saved.status_code == 302, inline_errors(saved)
    count.refresh_from_db()
    assert count.direct_users == 12
    row = newest(count)
    assert (row.history_change_reason, row.history_user_name) == ("Two coders hired", "officer-a")


def test_adding_needs_no_reason_but_records_one(officer_client, app_a):
    response = post_admin_form(
        officer_client,
        "/admin/licensing/usercount/add/",
        {"application": app_a.pk, "license_year": 2026, "method": "counted", "direct_users": 3},
    )
    assert response.status_code == 302, field_errors(response)
    row = newest(UserCount.objects.get(application=app_a))
    assert (row.history_type, row.history_change_reason, row.history_user_name) == (
        "+",
        "Added in the admin",
        "officer-a",
    )


def test_many_to_many_changes_are_recorded(officer_client, org_a, app_a):
    affiliate = OrganizationFactory(name="Alpha South Clinic", parent=org_a)
    url = f"/admin/licensing/application/{app_a.pk}/change/"
    before = app_a.history.count()
    response = post_admin_form(
        officer_client,
        url,
        {
            "data_files": [data_file("cpt-standard").pk, data_file("cpt-rvu").pk],
            "users_at_other_entities": [affiliate.pk],
            "change_reason": "RVU file licensed; clinic staff use it",
        },
    )
    assert response.status_code == 302, field_errors(response)
    rows = list(app_a.history.order_by("history_id"))[before:]
    assert rows and all(row.history_user_name == "officer-a" for row in rows)
    assert all(row.history_change_reason == "RVU file licensed; clinic staff use it" for row in rows)
    last = rows[-1]
    assert sorted(links.stored_m2m_ids(last)["data_files"]) == sorted(
        [data_file("cpt-standard").pk, data_file("cpt-rvu").pk]
    )
    assert links.stored_m2m_ids(last)["users_at_other_entities"] == [affiliate.pk]
    changed = {name for row in rows for name in row.changed_fields.strip(",").split(",") if name}
    assert {"data_files", "users_at_other_entities"} <= changed


def test_history_page_shows_changes_in_words(officer_client, app_a):
    distributor = VendorFactory(name="Optum360")
    lic = LicenseFactory(application=app_a, status="needed", licensed_users=None, agreement_number="")
    url = f"/admin/licensing/license/{lic.pk}/change/"
    response = post_admin_form(
        officer_client,
        url,
        {
            "status": "drafted",
            "route": "distributor",
            "distributor": distributor.pk,
            "change_reason": "Going through Optum360",
        },
    )
    assert response.status_code == 302, field_errors(response)
    page = officer_client.get(f"/admin/licensing/license/{lic.pk}/history/")
    text = re.sub(r"\s+", " ", page.content.decode())
    assert "Status</strong>: Needed &rarr; Application drafted" in text
    assert "Route</strong>: Direct (AMA) &rarr; Distributor" in text
    assert "Distributor</strong>: (empty) &rarr; Optum360" in text
    assert "Going through Optum360" in text and "officer-a" in text
    # Newest first: the change precedes the creation.
    assert text.index("Going through Optum360") < text.index("Created")
    assert f">{distributor.pk}<" not in text


def test_money_reads_as_dollars_in_history(client):
    admin = UserFactory(username="root", is_superuser=True)
    client.force_login(admin)
    schedule = RateSchedule.objects.get(license_year=2026)
    url = f"/admin/licensing/rateschedule/{schedule.pk}/change/"
    response = post_admin_form(
        client, url, {"entity_fee": "85.00", "change_reason": "AMA published the 2026 entity fee"}
    )
    assert response.status_code == 302, field_errors(response)
    text = re.sub(r"\s+", " ", client.get(f"/admin/licensing/rateschedule/{schedule.pk}/history/").content.decode())
    assert "Entity fee</strong>: $82.50 &rarr; $85.00" in text


def test_delete_in_admin_is_recorded_with_who_and_why(client, org_a):
    admin = UserFactory(username="root", is_superuser=True)
    client.force_login(admin)
    application = ApplicationFactory(organization=org_a, cpt_coverage="no_cpt", data_files=[])
    response = client.post(f"/admin/licensing/application/{application.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    row = Application.history.filter(id=application.pk).order_by("-history_id").first()
    assert (row.history_type, row.history_user_name, row.history_change_reason) == ("-", "root", "Deleted in the admin")


def test_seed_demo_records_the_named_actor(db):
    actor = UserFactory(username="data-steward", is_superuser=True)
    call_command("seed_demo", "--actor", "data-steward", stdout=StringIO())
    system = Organization.objects.get(slug="riverbend-health")
    assert newest(system).history_user == actor
    assert not License.history.exclude(history_user=actor).exists()
    # The rosters were imported by the named person too, through the roster import.
    assert not UserCount.history.exclude(history_user=actor).exists()
    assert set(DataImport.objects.values_list("actor__username", flat=True)) == {"data-steward"}


def test_seed_demo_refuses_an_actor_who_may_not_import_its_rosters(db):
    from django.core.management.base import CommandError

    UserFactory(username="clerk")
    with pytest.raises(CommandError, match="clerk is not an administrator"):
        call_command("seed_demo", "--actor", "clerk", stdout=StringIO())
    assert not Organization.objects.exists()


def test_seed_demo_refuses_an_unknown_actor(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No person with username 'nobody'"):
        call_command("seed_demo", "--actor", "nobody", stdout=StringIO())
    assert not Organization.objects.exists()


def test_bulk_paths_write_one_stamped_row_per_object(org_a):
    actor = UserFactory(username="importer")
    apps = services.record_bulk_create(
        [Application(organization=org_a, name=f"Bulk {i}", category="coding") for i in range(5)],
        Application,
        actor=actor,
        reason="Bulk load",
        m2m={"data_files": [[data_file().pk]] * 5},
    )
    for app in apps:
        rows = list(app.history.all())
        assert len(rows) == 1 and rows[0].history_change_reason == "Bulk load" and rows[0].history_user == actor
        assert rows[0].organization_id == org_a.pk and len(rows[0].row_hash) == 64
    for app in apps:
        app.owner = "Revenue integrity"
    services.record_bulk_update(apps, Application, ["owner"], actor=actor, reason="Owners assigned")
    for app in apps:
        assert app.history.count() == 2
        assert newest(app).changed_fields == ",owner,"


def test_renewal_service_records_actor_and_reason(app_a):
    actor = UserFactory(username="renewer")
    lic = LicenseFactory(application=app_a, license_year=2026)
    renewal = services.license_renew(license=lic, actor=actor, reason="Annual renewal")
    row = newest(renewal)
    assert (row.history_user, row.history_change_reason, row.organization_id) == (
        actor,
        "Annual renewal",
        app_a.organization_id,
    )


# Calls that write rows without history: QuerySet.update(), bulk methods, raw SQL.
FORBIDDEN = re.compile(
    r"\.update\(\s*(?:\*\*|\w+\s*=|$)|\.objects\.(?:[\w().=\"', ]*\.)?update\(|"
    r"(?<!history)\.bulk_create\(|(?<!history)\.bulk_update\(|"
    r"bulk_create_with_history|bulk_update_with_history|\.raw\(|\.execute\(|\.extra\("
)
ALLOWED = {
    # The audited bulk helpers write the rows and their history together; chain heads are an index of them.
    "licensing/audit/bulk.py",
    "licensing/audit/stamping.py",
    # The retention purge redacts the personal fields of history rows, recorded as PurgedChain and verified as such.
    "licensing/audit/purging.py",
}


def test_no_code_path_writes_tracked_models_without_history():
    offenders = []
    for path in sorted((ROOT / "licensing").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative in ALLOWED or "/migrations/" in relative:
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if FORBIDDEN.search(line) and not line.lstrip().startswith("#"):
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == [], (
        "Write through licensing.services (record_save, record_bulk_create ...) instead:\n" + "\n".join(offenders)
    )


def test_the_scan_catches_what_it_forbids():
    for line in [
        "License.objects.filter(pk=1).update(status='active')",
        "qs.update(status='active')",
        "UserCount.objects.bulk_create(rows)",
        "cursor.execute('UPDATE licensing_license SET status = 1')",
        "bulk_update_with_history(objs, License, ['status'])",
        "queryset.update(**values)",
        "License.objects.filter(status='needed').update(",
        "qs.update(status = 'active')",
    ]:
        assert FORBIDDEN.search(line), line
    assert not FORBIDDEN.search("options.update({'timeout': 20})")
    assert not FORBIDDEN.search("services.record_bulk_create(objs, License, actor=actor, reason='Import')")


# Who and why are attached in one place: licensing.services (and the audit package's own link records).
HAND_STAMPED = re.compile(r"\._(?:history_user|change_reason)\s*=")
STAMPING_ALLOWED = {"licensing/services.py", "licensing/audit/signals.py"}


def test_only_the_audited_write_path_attaches_who_and_why():
    offenders = []
    for folder in ("licensing", "tests", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative in STAMPING_ALLOWED or relative == "tests/test_history_capture.py":
                continue
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if HAND_STAMPED.search(line) and not line.lstrip().startswith("#"):
                    offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == [], "Save through licensing.services.record_save / record_delete instead:\n" + "\n".join(
        offenders
    )


def test_the_stamping_scan_catches_a_hand_written_reason():
    assert HAND_STAMPED.search("obj._change_reason = 'Fixed'")
    assert HAND_STAMPED.search("obj._history_user=request.user")
    assert not HAND_STAMPED.search("reason = obj._change_reason")
