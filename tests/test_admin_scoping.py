"""People see and change only their organizations (and affiliates); auditors change nothing."""

import json

import pytest
from django.contrib.auth.models import Group

from licensing import roles
from licensing.models import Application, Organization
from tests.admin_forms import page_form_data, post_admin_form
from tests.factories import (
    SAMPLES,
    OrganizationFactory,
    UserFactory,
    member,
    organization_model_names,
    sample_records,
)

pytestmark = pytest.mark.django_db


# Every organization-owned model, from the declarations: a new model is covered by declaring it.
MODELS = organization_model_names()


def records_of(organization, tag):
    """One record of every organization-owned model, named so a page that leaks it can be caught."""
    return sample_records(organization, tag)


def test_every_organization_owned_model_has_a_sample_for_these_tests():
    missing = sorted(set(MODELS) - set(SAMPLES))
    assert not missing, f"Add a Sample for {missing} to tests/factories.py SAMPLES so the scoping tests cover it."


@pytest.fixture
def world(org_a, org_b):
    affiliate = OrganizationFactory(name="Alpha North Clinic", slug="alpha-north", parent=org_a)
    return {
        "a": records_of(org_a, "Alpha"),
        "affiliate": records_of(affiliate, "AlphaNorth"),
        "b": records_of(org_b, "Beta"),
    }


def change_url(obj):
    return f"/admin/licensing/{obj._meta.model_name}/{obj.pk}/change/"


@pytest.mark.parametrize("model", MODELS)
def test_officer_gets_404_for_other_organizations_records(officer_client, world, model):
    theirs = world["b"][model]
    assert officer_client.get(change_url(theirs)).status_code == 404
    assert officer_client.get(change_url(theirs).replace("/change/", "/history/")).status_code == 404
    assert officer_client.post(change_url(theirs), {}).status_code == 404
    assert officer_client.get(change_url(world["affiliate"][model])).status_code == 200


@pytest.mark.parametrize("model", MODELS)
def test_officer_lists_never_show_other_organizations(officer_client, world, model):
    response = officer_client.get(f"/admin/licensing/{model}/")
    shown = set(response.context["cl"].result_list)
    assert world["a"][model] in shown and world["affiliate"][model] in shown
    assert world["b"][model] not in shown
    assert "Beta" not in response.content.decode()


def autocomplete(client, model, field, term=""):
    response = client.get(
        "/admin/autocomplete/", {"app_label": "licensing", "model_name": model, "field_name": field, "term": term}
    )
    assert response.status_code == 200
    return {item["text"] for item in json.loads(response.content)["results"]}


def test_autocomplete_is_scoped(officer_client, world):
    organizations = autocomplete(officer_client, "application", "organization")
    assert organizations == {"Alpha Health", "Alpha North Clinic"}
    applications = autocomplete(officer_client, "license", "application", "Billing")
    assert not any("Beta" in text for text in applications)
    assert any("Alpha Billing System" in text for text in applications)


def test_posting_another_organizations_id_is_refused(officer_client, world, org_b):
    response = post_admin_form(
        officer_client,
        "/admin/licensing/application/add/",
        {"organization": org_b.pk, "name": "Smuggled", "category": "coding", "cpt_coverage": "no_cpt"},
    )
    assert "organization" in response.context["adminform"].form.errors
    assert not Application.objects.filter(name="Smuggled").exists()


def test_officer_cannot_add_top_level_organization(officer_client, world):
    response = post_admin_form(
        officer_client, "/admin/licensing/organization/add/", {"name": "Rogue Hospital", "slug": "rogue", "parent": ""}
    )
    assert "parent" in response.context["adminform"].form.errors
    assert not Organization.objects.filter(slug="rogue").exists()


def test_auditor_is_in_the_auditor_group_only(auditor):
    assert list(auditor.groups.values_list("name", flat=True)) == [roles.AUDITOR_GROUP]


@pytest.mark.parametrize("model", MODELS)
def test_auditor_post_to_change_view_is_refused(auditor_client, world, model):
    obj = world["a"][model]
    page = auditor_client.get(change_url(obj))
    assert page.status_code == 200  # reads it
    before = {field.name: getattr(obj, field.attname) for field in obj._meta.concrete_fields}
    response = auditor_client.post(change_url(obj), page_form_data(page) if "adminform" in page.context else {})
    assert response.status_code == 403
    obj.refresh_from_db()
    assert {field.name: getattr(obj, field.attname) for field in obj._meta.concrete_fields} == before
    assert auditor_client.post(f"/admin/licensing/{model}/add/", {}).status_code == 403
    assert auditor_client.post(change_url(obj).replace("/change/", "/delete/"), {"post": "yes"}).status_code == 403


def test_auditor_change_page_is_read_only(auditor_client, world):
    page = auditor_client.get(change_url(world["a"]["license"])).content.decode()
    assert 'name="_save"' not in page
    assert "Close" in page


def test_mixed_roles_change_only_where_officer(client, world, org_a, org_b):
    person = UserFactory(username="mixed")
    member(person, org_a, "officer")
    member(person, org_b, "auditor")
    assert set(person.groups.values_list("name", flat=True)) == {roles.OFFICER_GROUP, roles.AUDITOR_GROUP}
    client.force_login(person)
    theirs = world["b"]["application"]
    assert client.get(change_url(theirs)).status_code == 200
    assert client.post(change_url(theirs), {"name": "Renamed"}).status_code == 403
    theirs.refresh_from_db()
    assert theirs.name == "Beta Billing System"


def test_roles_are_created_by_migration():
    officer = Group.objects.get(name=roles.OFFICER_GROUP)
    auditor = Group.objects.get(name=roles.AUDITOR_GROUP)
    assert set(officer.permissions.values_list("codename", flat=True)) == set(
        roles.role_permissions()[roles.OFFICER_GROUP]
    )
    auditor_codenames = set(auditor.permissions.values_list("codename", flat=True))
    assert auditor_codenames and all(codename.startswith("view_") for codename in auditor_codenames)


def test_officer_cannot_grant_memberships(officer_client, world):
    assert officer_client.get("/admin/licensing/membership/add/").status_code == 403
