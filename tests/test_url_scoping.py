"""Every URL of the portal, requested by an officer of Alpha against Beta's records, reveals nothing of Beta.

The patterns come from Django's resolver (tests/routes.py says how to fill each kind): a record of another
organization answers exactly as a record that does not exist (403 or 404), and no answer, for any record,
holds Beta's name. The world includes what an administrator did across the two: an Alpha application that
names Beta among its users at other entities, and one moved from Beta to Alpha with Beta-era notes.
"""

import pytest
from django.contrib.contenttypes.models import ContentType

from licensing import ownership, services
from licensing.models import Application
from tests import routes
from tests.factories import (
    ApplicationFactory,
    OrganizationFactory,
    UserFactory,
    VendorFactory,
    sample_records,
    sign_in_records,
)

pytestmark = pytest.mark.django_db

# What would give Beta away: its name and slug, and the tag every one of its sample records carries.
BETA_MARKS = (b"Beta", b"beta-")
SECRET_NOTES = "Beta-era notes: negotiating with the AMA"

ROUTES = routes.routes(strict=False)
OWNED = {model for model in ownership.organization_models()}


def test_every_url_pattern_is_covered_by_the_route_table():
    assert routes.routes(), "the resolver lists patterns"  # routes() raises, naming any pattern not covered


@pytest.fixture
def world(org_a, org_b):
    """Alpha (with an affiliate) and Beta, one record of every organization-owned model each, and links across."""
    admin = UserFactory(username="root", is_superuser=True)
    VendorFactory(name="Shared Vendor")
    sign_in_records(UserFactory(username="device-owner"))
    affiliate = OrganizationFactory(name="Alpha North Clinic", slug="alpha-north", parent=org_a)
    alpha = sample_records(org_a, "Alpha")
    sample_records(affiliate, "AlphaNorth")
    beta = sample_records(org_b, "Beta")
    linked = alpha["application"]
    linked.users_at_other_entities.add(org_b)
    services.record_save(linked, actor=admin, reason="Its staff use it too")
    moved = ApplicationFactory(organization=org_b, name="Imaging System", notes=SECRET_NOTES)
    moved.organization = org_a
    moved.notes = ""
    services.record_save(moved, actor=admin, reason="Moved to Alpha Health")
    return {"a": alpha, "b": beta, "moved": moved}


def leaks(body: bytes) -> list[str]:
    return [mark.decode() for mark in BETA_MARKS if mark in body] + (
        ["Beta's old notes"] if SECRET_NOTES.encode() in body else []
    )


def fetch(client, path, query, problems, *, follow=False):
    response = client.get(path, query, follow=follow)
    if response.status_code >= 500:
        problems.append(f"{path} {query}: {response.status_code}")
    return response.status_code, routes.body_of(response)


def target_in(world, model, side):
    """The record a route of `model` is requested with: the organization's sample, or any shared record."""
    if model in OWNED:
        return world[side][model._meta.model_name]
    shared = model._default_manager.order_by("pk").first()
    assert shared is not None, f"No {model._meta.verbose_name} to open: create one in the world fixture."
    return shared


def _group(route):
    return route.model._meta.label if route.model is not None else "site"


GROUPS = sorted({_group(route) for route in ROUTES})


@pytest.mark.parametrize("group", GROUPS)
def test_other_organizations_records_answer_as_missing_ones_and_no_page_names_them(officer_client, world, group):
    officer_client.raise_request_exception = False  # a 500 is listed with the others, not raised
    problems = []
    for route in [route for route in ROUTES if _group(route) == group]:
        if route.kind == routes.SHORTCUT:
            continue  # test_the_view_on_site_shortcut_answers_404_alike
        if route.model is None or route.kind == routes.NONE:
            targets = [None]
        else:
            targets = [target_in(world, route.model, "a")]
            if route.model is Application:
                targets.append(world["moved"])
        for target in targets:
            for path, query in routes.requests_for(route, target):
                status, body = fetch(officer_client, path, query, problems)
                if leaks(body):
                    problems.append(f"{path} {query}: {status} names {leaks(body)}")
        if route.model in OWNED and route.kind != routes.NONE:
            theirs = world["b"][route.model._meta.model_name]
            for (path, query), (missing, _) in zip(
                routes.requests_for(route, theirs), routes.requests_for(route, theirs, missing=True), strict=True
            ):
                # Followed: /<id>/ redirects to /<id>/change/, for any id, and the answer is what that page says.
                status, body = fetch(officer_client, path, query, problems, follow=True)
                missing_status, _ = fetch(officer_client, missing, query, problems, follow=True)
                if status != missing_status or status not in (403, 404, 405):
                    problems.append(f"{path} {query}: Beta's record {status}, a missing one {missing_status}")
                if leaks(body):
                    problems.append(f"{path} {query}: {status} names {leaks(body)}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("model", sorted(OWNED, key=lambda model: model._meta.label), ids=str)
def test_the_view_on_site_shortcut_answers_404_alike(officer_client, world, model):
    (route,) = [route for route in ROUTES if route.kind == routes.SHORTCUT]
    name = model._meta.model_name
    theirs = routes.requests_for(route, world["b"][name])
    missing = routes.requests_for(route, world["b"][name], missing=True)
    for (path, _), (missing_path, _) in zip(theirs, missing, strict=True):
        assert officer_client.get(path).status_code == 404, path
        assert officer_client.get(missing_path).status_code == 404, missing_path
    content_type = ContentType.objects.get_for_model(model)
    mine = officer_client.get(route.path(content_type.pk, world["a"][name].pk))
    assert mine.status_code in (302, 404), "a record of one's own organization opens (or has no page on the site)"


@pytest.mark.parametrize("term", ["", "Beta", "a"])
def test_every_autocomplete_field_lists_nothing_of_other_organizations(officer_client, world, term):
    problems = []
    for params in routes.autocomplete_requests(term):
        response = officer_client.get("/admin/autocomplete/", params)
        if response.status_code >= 500 or leaks(response.content):
            problems.append(f"{params}: {response.status_code} {leaks(response.content)}")
    assert not problems, "\n".join(problems)
