"""An auditor writes nothing, whatever they send to whichever URL (issue 11).

Every URL pattern (tests/routes.py) gets POST, PUT, PATCH and DELETE from an auditor of Alpha, with plausible
data: the page's own form as the auditor sees it, each list action on one of Alpha's records, or the fields of the
page's form. Every answer is a refusal (403, 405) or a page or redirect that wrote nothing: the rows and history
of every tracked model, and the people and groups, are counted before and after.
"""

from urllib.parse import urlencode

import pytest
from django.test import Client

from licensing import ownership
from tests import routes
from tests.admin_forms import page_form_data
from tests.factories import UserFactory, VendorFactory, sample_records, sign_in_records

pytestmark = pytest.mark.django_db

METHODS = ("POST", "PUT", "PATCH", "DELETE")
ROUTES = routes.routes(strict=False)


def _group(route):
    return route.model._meta.label if route.model is not None else "site"


GROUPS = sorted({_group(route) for route in ROUTES})


@pytest.fixture
def world(org_a, auditor):
    made = sample_records(org_a, "Alpha")
    VendorFactory(name="Shared Vendor")
    sign_in_records(UserFactory(username="device-owner"))
    return made


def target_of(world, model):
    if model is None:
        return None
    if ownership.owned_by(model) is not None:
        return world[model._meta.model_name]
    found = model._default_manager.order_by("pk").first()
    assert found is not None, f"No {model._meta.verbose_name} to send to: create one in the world fixture."
    return found


def plausible_data(client, path, query, target) -> list[dict]:
    """What a person could send to this page: its own form, each list action on the record, or nothing."""
    shown = client.get(path, query)
    context = shown.context if shown.status_code == 200 and shown.context is not None else {}
    bodies = [{}]
    if "adminform" in context:
        bodies.append({**page_form_data(shown), "change_reason": "Auditor edit", "_save": "Save"})
    if "cl" in context and target is not None:
        actions = context["action_form"].fields["action"].choices if context.get("action_form") else []
        for name, _ in [choice for choice in actions if choice[0]]:
            bodies.append({"action": name, "_selected_action": [str(target.pk)], "index": "0", "post": "yes"})
        # The list's own inline editing (list_editable) posts these.
        bodies.append({"form-TOTAL_FORMS": "1", "form-INITIAL_FORMS": "1", "form-0-id": str(target.pk), "_save": "1"})
    form = context.get("form") if hasattr(context, "get") else None
    if form is not None and hasattr(form, "fields"):
        bodies.append({name: str(field.initial or "") for name, field in form.fields.items()})
    bodies.append({"post": "yes", "status": "accepted", "license_year": "2026", "ama_reference": "X-1"})
    return bodies


def send(client, method, path, body):
    if method == "POST":
        return client.post(path, body)
    return client.generic(method, path, urlencode(body, doseq=True), content_type="application/x-www-form-urlencoded")


@pytest.mark.parametrize("group", GROUPS)
def test_an_auditor_changes_nothing_through_any_url(auditor, world, group):
    client = Client(raise_request_exception=False)  # a 500 is listed with the other problems
    problems = []
    before = routes.row_counts()
    for route in [route for route in ROUTES if _group(route) == group]:
        if route.kind == routes.SHORTCUT:
            target = world["application"]
        else:
            target = target_of(world, route.model)
        for path, query in routes.requests_for(route, target)[:1]:
            client.force_login(auditor)
            bodies = plausible_data(client, path, query, target)
            # Django's views read a form only from POST; the other methods get the page's own form once.
            for method, body in [("POST", body) for body in bodies] + [(m, bodies[-2]) for m in METHODS[1:]]:
                # Signed in again each time: a POST to the logout page signs the auditor out.
                client.force_login(auditor)
                address = f"{path}?{urlencode(query)}" if query else path
                response = send(client, method, address, body)
                if response.status_code not in (200, 301, 302, 400, 403, 404, 405):
                    problems.append(f"{method} {address} {sorted(body)[:4]}: {response.status_code}")
                after = routes.row_counts()
                if after != before:
                    changed = sorted(label for label in after if after[label] != before[label])
                    problems.append(f"{method} {address} {sorted(body)[:4]}: wrote {changed}")
                    before = after
    assert not problems, "\n".join(problems)
