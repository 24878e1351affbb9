"""History is read-only: no one edits, deletes or reverts a history row through the admin or any URL.

Auditors read every version of their organizations' records and change nothing; officers and
superusers cannot revert either (a correction is a new change, recorded as a new version).
"""

import pytest
from django.apps import apps
from django.contrib import admin
from django.forms.models import model_to_dict
from simple_history.admin import SimpleHistoryAdmin

from licensing import services
from licensing.audit import links, verification
from licensing.audit.records import tracked_models
from licensing.models import Contact, License
from tests.factories import SAMPLES, UserFactory, VendorFactory, organization_model_names, sample_records

pytestmark = pytest.mark.django_db

# Every organization-owned model, from the declarations (tests/factories.py SAMPLES builds one of each).
MODELS = organization_model_names()
REFUSED = (403, 405)


def edit(obj, actor, reason: str, **fields):
    for name, value in fields.items():
        setattr(obj, name, value)
    services.record_save(obj, actor=actor, reason=reason, validate=False)


@pytest.fixture
def clerk(db):
    return UserFactory(username="records-clerk")


@pytest.fixture
def records(org_a, auditor, clerk):
    """One record of every organization-owned model of org_a, each with two or more versions and known reasons."""
    made = sample_records(org_a, "Alpha")
    made["membership"] = auditor.memberships.get(organization=org_a)
    for name, obj in made.items():
        edit(obj, clerk, f"Second version of the {name}", **SAMPLES[name].edit)
    return made


def url(obj, action: str) -> str:
    return f"/admin/licensing/{obj._meta.model_name}/{obj.pk}/{action}/"


def versions(obj) -> list:
    return list(type(obj).history.model.objects.filter(id=obj.pk).order_by("history_id"))


def history_snapshot() -> dict:
    """Every history row of every tracked model, by id, with its stored hash; and the m2m history rows."""
    snapshot = {}
    for model in tracked_models():
        history_model = model.history.model
        snapshot[history_model._meta.label] = dict(history_model.objects.values_list("history_id", "row_hash"))
        for field in getattr(history_model, "_history_m2m_fields", []):
            link_history = links.m2m_history_model_of(history_model, field)
            snapshot[link_history._meta.label] = sorted(link_history.objects.values_list("pk", flat=True))
    return snapshot


def live_state(obj) -> dict:
    return model_to_dict(type(obj)._default_manager.get(pk=obj.pk))


def tampering_post(obj) -> dict:
    """What a crafted POST would send: every field of the record, some changed, plus a reason."""
    data = {name: ("" if value is None else value) for name, value in model_to_dict(obj).items()}
    data = {
        name: [str(item.pk if hasattr(item, "pk") else item) for item in value]
        if isinstance(value, list)
        else str(value)
        for name, value in data.items()
    }
    for name in ("name", "notes", "title", "source", "owner"):
        if name in data:
            data[name] = "Rewritten by a crafted request"
    data.update({"change_reason": "Crafted", "_save": "Save", "post": "yes", "_change_history": "1"})
    return data


def assert_refused(client, method: str, path: str, data=None):
    before = history_snapshot()
    response = getattr(client, method)(path, data or {})
    assert response.status_code in REFUSED, (method, path, response.status_code)
    assert history_snapshot() == before, (method, path)
    return response


# ---------------------------------------------------------------------------------------------
# Auditors: read everything of their organizations, change nothing
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_auditor_posts_to_change_delete_add_and_version_urls_are_refused(auditor_client, records, model):
    obj = records[model]
    state = live_state(obj)
    rows = versions(obj)
    assert len(rows) >= 2

    assert_refused(auditor_client, "post", url(obj, "change"), tampering_post(obj))
    assert_refused(auditor_client, "post", url(obj, "delete"), {"post": "yes"})
    assert_refused(auditor_client, "get", url(obj, "delete"))
    assert_refused(auditor_client, "post", f"/admin/licensing/{model}/add/", tampering_post(obj))
    for row in rows:
        version = url(obj, f"history/{row.history_id}")
        assert_refused(auditor_client, "get", version)
        assert_refused(auditor_client, "post", version, tampering_post(obj))

    assert live_state(obj) == state
    assert [(row.history_id, row.row_hash) for row in versions(obj)] == [(row.history_id, row.row_hash) for row in rows]


@pytest.mark.parametrize("model", MODELS)
def test_auditor_reads_every_version_on_the_history_page(auditor_client, records, model):
    obj = records[model]
    before = history_snapshot()

    response = auditor_client.get(url(obj, "history"))

    assert response.status_code == 200
    text = response.content.decode()
    assert f"Second version of the {model}" in text
    assert history_snapshot() == before
    # The change page is a read-only view for an auditor: it offers no save button.
    page = auditor_client.get(url(obj, "change"))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()


def test_auditor_changelist_actions_change_nothing(auditor_client, records):
    license = records["license"]
    before = history_snapshot()
    licenses = License.objects.count()

    response = auditor_client.post(
        "/admin/licensing/license/", {"action": "renew_for_next_year", "_selected_action": [license.pk], "index": "0"}
    )

    assert response.status_code in (200, 302, 403)
    assert License.objects.count() == licenses
    assert history_snapshot() == before


# ---------------------------------------------------------------------------------------------
# No one restores or edits a past version, superusers included
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def superuser_client(client, db):
    client.force_login(UserFactory(username="administrator", is_superuser=True))
    return client


@pytest.mark.parametrize("model", MODELS)
def test_superuser_cannot_open_or_post_a_past_version(superuser_client, records, model):
    obj = records[model]
    state = live_state(obj)
    oldest = versions(obj)[0]
    version = url(obj, f"history/{oldest.history_id}")

    response = assert_refused(superuser_client, "get", version)
    assert response.status_code == 403
    response = assert_refused(superuser_client, "post", version, tampering_post(obj))
    assert response.status_code == 403

    assert live_state(obj) == state
    assert superuser_client.get(url(obj, "history")).status_code == 200


def registered_history_admins() -> list:
    return [
        (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if isinstance(model_admin, SimpleHistoryAdmin)
    ]


def test_every_history_admin_refuses_its_version_form_to_a_superuser(superuser_client, records):
    VendorFactory()
    admins = registered_history_admins()
    assert {model._meta.model_name for model, _ in admins} >= set(MODELS) | {
        "vendor",
        "datafile",
        "rateschedule",
        "proxyfactor",
    }
    for model, _ in admins:
        row = model.history.model.objects.order_by("history_id").first()
        # With a real version where one exists; a made-up one must be refused just the same (not 404).
        object_id, history_id = (row.instance.pk, row.history_id) if row else (1, 1)
        version = f"/admin/{model._meta.app_label}/{model._meta.model_name}/{object_id}/history/{history_id}/"
        assert_refused(superuser_client, "get", version)
        assert_refused(superuser_client, "post", version, {"_change_history": "1", "_save": "Save"})


def test_officer_cannot_revert_either(officer_client, records):
    for model in MODELS:
        obj = records[model]
        state = live_state(obj)
        for row in versions(obj):
            version = url(obj, f"history/{row.history_id}")
            assert_refused(officer_client, "get", version)
            assert_refused(officer_client, "post", version, tampering_post(obj))
        assert live_state(obj) == state
        assert officer_client.get(url(obj, "history")).status_code == 200


def test_there_is_no_admin_for_historical_models(superuser_client, records):
    """No admin page lists, edits, adds or deletes history rows (nor simple-history's m2m history rows)."""
    assert not any(model._meta.model_name.startswith("historical") for model in admin.site._registry)
    historical = [
        model
        for model in apps.get_app_config("licensing").get_models()
        if model._meta.model_name.startswith("historical")
    ]
    assert {model.history.model for model in tracked_models()} <= set(historical)
    row = License.history.model.objects.first()
    before = history_snapshot()
    for model in historical:
        base = f"/admin/licensing/{model._meta.model_name}/"
        assert superuser_client.get(base).status_code == 404
        assert superuser_client.post(f"{base}{row.history_id}/change/", {"licensed_users": "1"}).status_code == 404
        assert superuser_client.post(f"{base}{row.history_id}/delete/", {"post": "yes"}).status_code == 404
        assert superuser_client.post(f"{base}add/", {}).status_code == 404
    assert history_snapshot() == before
    assert verification.verify() == []


def test_superuser_delete_adds_a_deletion_version_and_keeps_the_old_ones(superuser_client, records):
    contact = records["contact"]
    rows = versions(contact)
    before = {(row.history_id, row.row_hash) for row in rows}

    response = superuser_client.post(url(contact, "delete"), {"post": "yes"})

    assert response.status_code == 302 and not Contact.objects.filter(pk=contact.pk).exists()
    after = versions(contact)
    assert {(row.history_id, row.row_hash) for row in after[:-1]} == before
    assert after[-1].history_type == "-" and after[-1].previous_hash == rows[-1].row_hash
    assert verification.verify() == []
    # The deleted record's history stays readable, and its versions stay closed.
    assert superuser_client.get(url(contact, "history")).status_code == 200
    assert_refused(superuser_client, "post", url(contact, f"history/{rows[0].history_id}"), {"_change_history": "1"})


def test_a_correction_is_a_new_version_never_a_rewrite(officer_client, records):
    """What the closed revert would have done, done the allowed way: a new change with a reason."""
    from tests.admin_forms import post_admin_form

    license = records["license"]
    rows = versions(license)
    original_users = rows[0].licensed_users

    response = post_admin_form(
        officer_client,
        url(license, "change"),
        {"licensed_users": original_users, "change_reason": "Back to the agreed number of users"},
    )

    assert response.status_code == 302
    after = versions(license)
    assert [(row.history_id, row.row_hash) for row in after[:-1]] == [(row.history_id, row.row_hash) for row in rows]
    assert after[-1].licensed_users == original_users
    assert after[-1].history_change_reason == "Back to the agreed number of users"
    assert after[-1].history_user_name == "officer-a"
    assert verification.verify() == []
