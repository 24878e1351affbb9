"""No input gives a 500 (issue 11): every admin form, every field, malformed values; every page, malformed queries.

The forms come from the admin registry (add and change pages of every registered model, with their inlines and
management forms), as an administrator and as an officer; the pages from the URL resolver (tests/routes.py). One
field at a time gets a malformed value in an otherwise valid form (the values of a real record): the answer is
the form again with its errors, or 403/404, and nothing is written. A value a person may legitimately type (an
empty optional field, text with markup) may save. Values are chosen by the field's kind and spread over the two
people, so every field meets several of them without the full cross product.
"""

import pytest
from django import forms
from django.contrib import admin
from django.contrib.admin.helpers import AdminForm
from django.test import Client

from licensing import ownership
from tests import routes
from tests.admin_forms import page_form_data
from tests.factories import UserFactory, VendorFactory, sample_records, sign_in_records

pytestmark = pytest.mark.django_db

LONG = "x" * 10_000
NUL = "a\x00b"
CONTROL = "\x01\x08\x1b[0m\x7f"
HTML = '<script>alert("x")</script><b>bold</b>'
# Malformed values by the kind of field they are sent to; each must be refused (never saved, never a 500).
MALFORMED = {
    "number": ["abc", str(2**63), str(10**30), "-1", "1e400", NUL, "\u00b2"],
    "date": ["2024-13-45", "abc", NUL, "99999-01-01"],
    "text": [NUL, "a\x00"],
    "choice": ["zzz", NUL, str(2**63)],
    "management": ["abc", NUL],
    "boolean": [],
}
# Values a person may type that a form may accept (and so save): never a 500 either. Dates far off are refused
# once the fields have their ranges (issue 11, field sanity).
PLAUSIBLE = {
    "number": ["", "0"],
    "date": ["", "1800-01-01", "9999-12-31"],
    "text": ["", LONG, CONTROL, HTML],
    "choice": [""],
    "management": [str(10**30), "-1"],
    "boolean": ["zzz", ""],
}
# Who posts on which page: four combinations, numbered. Each field of the main form gets a different malformed
# value on each; inline rows, management forms and the plausible values are spread over them, one each.
COMBINATIONS = [("administrator", "add"), ("administrator", "change"), ("officer", "add"), ("officer", "change")]
# Django reads neither from a posted management form.
# Management counts Django reads as limits, and the user page's password: a read-only display whose posted value
# Django ignores by design (the password has its own page).
IGNORED = ("MIN_NUM_FORMS", "MAX_NUM_FORMS")
IGNORED_FIELDS = {("auth.User", "password")}

NUMBER_FIELDS = (forms.IntegerField, forms.DecimalField, forms.FloatField, forms.ModelChoiceField)
DATE_FIELDS = (forms.DateField, forms.DateTimeField, forms.TimeField, forms.SplitDateTimeField)


def kind_of(name: str, field) -> str:
    if name.endswith(("TOTAL_FORMS", "INITIAL_FORMS")):
        return "management"
    if isinstance(field, forms.BooleanField):
        return "boolean"
    if isinstance(field, NUMBER_FIELDS) or isinstance(field, forms.TypedChoiceField) and field.coerce is int:
        return "number"
    if isinstance(field, DATE_FIELDS):
        return "date"
    if isinstance(field, forms.CharField):
        return "text"
    return "choice"


def values_for(name: str, field, index: int, combination: int) -> list[tuple[str, bool]]:
    """(value, malformed) pairs this combination sends to field number `index` of the page."""
    kind = kind_of(name, field)
    spread, turn = len(COMBINATIONS), index // len(COMBINATIONS)
    mine = index % spread == combination
    chosen = []
    if MALFORMED[kind] and ("-" not in name or mine):
        step = (index + combination) if "-" not in name else turn
        chosen.append((MALFORMED[kind][step % len(MALFORMED[kind])], True))
    if PLAUSIBLE[kind] and mine:
        chosen.append((PLAUSIBLE[kind][turn % len(PLAUSIBLE[kind])], False))
    return chosen


SITE = admin.site
MODELS = sorted(SITE._registry, key=lambda model: model._meta.label)


@pytest.fixture
def world(org_a, officer):
    made = sample_records(org_a, "Alpha")
    VendorFactory(name="Shared Vendor")
    root = UserFactory(username="root", is_superuser=True)
    sign_in_records(UserFactory(username="device-owner"))
    return {"records": made, "administrator": root, "officer": officer}


def record_of(world, model):
    if ownership.owned_by(model) is not None:
        return world["records"][model._meta.model_name]
    found = model._default_manager.order_by("pk").first()
    assert found is not None, f"No {model._meta.verbose_name} to open: create one in the world fixture."
    return found


def client_for(person) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(person)
    return client


def posted_fields(response) -> dict[str, forms.Field]:
    """Every field the page posts (main form, inline rows, management forms) by its posted name."""
    context = response.context
    found = {}
    for form in [context["adminform"].form] + [
        form
        for inline in context["inline_admin_formsets"]
        for form in [inline.formset.management_form, *inline.formset.forms[:1]]
    ]:
        for name, field in form.fields.items():
            found[form.add_prefix(name)] = field
    return found


def new_inline_rows(response, change_data: dict) -> dict:
    """One new row per inline of an add page, filled from the first row of the same inline on a change page."""
    data = {}
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        prefix, fk = formset.prefix, formset.fk.name
        row = {
            name: value
            for name, value in change_data.items()
            if name.startswith(f"{prefix}-0-") and name not in (f"{prefix}-0-id", f"{prefix}-0-{fk}")
        }
        if row:
            data.update(row)
            data[f"{prefix}-TOTAL_FORMS"] = "1"
    return data


def answer_problem(response, before: dict) -> str | None:
    """What is wrong with the answer to a malformed post (None if it is a refusal that wrote nothing)."""
    if response.status_code >= 500:
        return f"answered {response.status_code}"
    if routes.row_counts() != before:
        return f"wrote something (answered {response.status_code})"
    if response.status_code in (403, 404):
        return None
    if response.status_code == 200 and response.context is not None:
        form = response.context.get("adminform")
        inlines = response.context.get("inline_admin_formsets") or []
        shown = (isinstance(form, AdminForm) and form.form.errors) or any(
            inline.formset.total_error_count() for inline in inlines
        )
        return None if shown else "re-displayed the form without saying what is wrong"
    return f"answered {response.status_code} without a form error"


def post(client, url, data, name, value):
    sent = dict(data)
    sent[name] = [value] if isinstance(sent.get(name), list) else value
    return client.post(url, sent)


@pytest.mark.parametrize("combination", range(len(COMBINATIONS)), ids=lambda n: "-".join(COMBINATIONS[n]))
@pytest.mark.parametrize("model", MODELS, ids=lambda model: model._meta.label)
def test_every_field_of_every_admin_form_refuses_malformed_values_without_a_500(world, model, combination):
    person, page = COMBINATIONS[combination]
    client = client_for(world[person])
    opts = model._meta
    obj = record_of(world, model)
    change_url = f"/admin/{opts.app_label}/{opts.model_name}/{obj.pk}/change/"
    url = change_url if page == "change" else f"/admin/{opts.app_label}/{opts.model_name}/add/"
    shown = client.get(url)
    assert shown.status_code in (200, 403, 404), (url, shown.status_code)
    if shown.status_code != 200 or "adminform" not in shown.context:
        return
    may = shown.context.get("has_change_permission") if page == "change" else shown.context.get("has_add_permission")
    if not may:
        return  # a read-only page: nothing to post (tests/test_auditor_read_only.py posts anyway)
    data, fields = page_form_data(shown), posted_fields(shown)
    if page == "add":
        # An otherwise valid form: a real record's values (the change page's), and one new row per inline.
        record_page = client.get(change_url)
        known = page_form_data(record_page)
        data.update({name: value for name, value in known.items() if name in data and "-" not in name})
        new_rows = new_inline_rows(shown, known)
        data.update(new_rows)
        fields.update({name: field for name, field in posted_fields(record_page).items() if name in new_rows})
    problems = []
    before = routes.row_counts()
    for index, (name, field) in enumerate(sorted(fields.items())):
        if name.endswith(IGNORED) or (model._meta.label, name) in IGNORED_FIELDS:
            continue
        for value, malformed in values_for(name, field, index, combination):
            response = post(client, url, data, name, value)
            problem = answer_problem(response, before) if malformed else None
            if response.status_code >= 500 or problem:
                problems.append(f"{name}={value[:20]!r}: {problem or f'answered {response.status_code}'}")
            if problem or not malformed:
                before = routes.row_counts()
    assert not problems, f"{url} as {person}:\n" + "\n".join(problems)


def filter_queries(changelist) -> list[dict]:
    """The list's own filters (from its filter specs), each given a malformed value: all at once, per value."""
    names = [name for spec in changelist.filter_specs for name in spec.expected_parameters()]
    return [{name: value for name in names} for value in ("a\x00b", str(10**30), "9999-12-31", "-1")]


PAGES = [route for route in routes.routes(strict=False) if route.kind != routes.SHORTCUT]
GROUPS = sorted({route.model._meta.label if route.model else "site" for route in PAGES})


@pytest.mark.parametrize("person", ["administrator", "officer"])
@pytest.mark.parametrize("group", GROUPS)
def test_malformed_query_strings_on_every_page_are_never_a_500(world, group, person):
    client = client_for(world[person])
    problems = []
    before = routes.row_counts()
    for route in [route for route in PAGES if (route.model._meta.label if route.model else "site") == group]:
        target = record_of(world, route.model) if route.model is not None else None
        for path, query in routes.requests_for(route, target, malformed=True):
            response = client.get(path, query)
            if response.status_code >= 500:
                problems.append(f"{path} {str(query)[:60]}: {response.status_code}")
            else:
                routes.body_of(response)
            if query == {} and response.status_code == 200 and response.context and "cl" in response.context:
                for bad in filter_queries(response.context["cl"]):
                    if client.get(path, bad).status_code >= 500:
                        problems.append(f"{path} {str(bad)[:80]}: 500")
    assert routes.row_counts() == before, "a page read with a malformed query wrote something"
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("person", ["administrator", "officer"])
def test_malformed_autocomplete_requests_are_never_a_500(world, person):
    client = client_for(world[person])
    problems = []
    for params in routes.autocomplete_requests("a\x00b") + routes.autocomplete_requests("x" * 10_000):
        for extra in ({}, {"page": "abc"}, {"page": "-1"}, {"page": str(10**30)}):
            response = client.get("/admin/autocomplete/", {**params, **extra})
            if response.status_code >= 500:
                problems.append(f"autocomplete {params['model_name']}.{params['field_name']} {extra}: 500")
    for params in ({"app_label": "zzz"}, {"app_label": "licensing", "model_name": "zzz", "field_name": "x"}):
        if client.get("/admin/autocomplete/", params).status_code >= 500:
            problems.append(f"autocomplete {params}: 500")
    assert not problems, "\n".join(problems)
