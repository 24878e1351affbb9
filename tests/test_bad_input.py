"""Malformed input in addresses and posted selections gets a 404 or a plain message, never a 500 (issue 11)."""

import pytest

from licensing import standing
from licensing.models import License
from tests.factories import ApplicationFactory, LicenseFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("object_id", ["abc", "1.5", "%00", "99999999999999999999999"])
def test_a_history_address_with_a_malformed_id_is_not_found(officer_client, object_id):
    for model in ("organization", "application", "license"):
        response = officer_client.get(f"/admin/licensing/{model}/{object_id}/history/")
        assert response.status_code == 404, (model, object_id, response.status_code)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"until": "9999-12-31"}, "The end date must lie between 2000-01-01 and 2100-12-31"),
        ({"since": "1800-01-01"}, "The start date must lie between 2000-01-01 and 2100-12-31"),
        ({"until": "9999-12-31", "format": "csv"}, "The end date must lie between"),
    ],
)
def test_the_audit_trail_refuses_dates_out_of_range_in_words(auditor_client, org_a, params, message):
    response = auditor_client.get(f"/admin/licensing/organization/{org_a.pk}/audit-trail/", params)
    assert response.status_code == 200
    assert message in response.content.decode()


@pytest.mark.parametrize("selected", ["abc", "9" * 30, "1; DROP TABLE x"])
def test_a_forged_action_selection_is_refused_and_changes_nothing(officer_client, org_a, selected):
    year = standing.current_license_year()
    license = LicenseFactory(application=ApplicationFactory(organization=org_a), license_year=year)
    before = set(License.objects.values_list("pk", "license_year", "status"))
    response = officer_client.post(
        "/admin/licensing/license/",
        {"action": "renew_for_next_year", "_selected_action": [str(license.pk), selected], "post": "yes"},
        follow=True,
    )
    assert response.status_code == 200
    assert "not a record of this list" in response.content.decode()
    assert set(License.objects.values_list("pk", "license_year", "status")) == before


@pytest.mark.parametrize("value", ["abc", "9" * 30, "-1", "1.5"])
@pytest.mark.parametrize(
    ("path", "field", "others"),
    [
        ("/admin/licensing/organization/add/", "parent", {"name": "North Clinic", "slug": "north-clinic"}),
        ("/admin/licensing/application/add/", "organization", {"name": "New EHR", "category": "other"}),
        ("/admin/licensing/application/add/", "vendor", {"name": "New EHR", "category": "other"}),
        ("/admin/licensing/application/add/", "users_at_other_entities", {"name": "New EHR", "category": "other"}),
        ("/admin/licensing/license/add/", "application", {"license_year": "2026"}),
    ],
)
def test_a_malformed_autocomplete_value_is_a_form_error_and_writes_nothing(
    officer_client, org_a, path, field, others, value
):
    from tests.admin_forms import post_admin_form

    before = {model: model.objects.count() for model in (License,)}
    response = post_admin_form(officer_client, path, {**others, field: value})
    assert response.status_code == 200, (path, field, value)
    assert response.context["adminform"].form.errors, "the form is re-displayed with its errors"
    assert {model: model.objects.count() for model in (License,)} == before


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("state", "-1", "two-letter postal code"),
        ("state", "I1", "two-letter postal code"),
        ("postal_code", "abc", "ZIP code of 5 digits"),
        ("postal_code", "6270", "ZIP code of 5 digits"),
        ("postal_code", "62701-12", "ZIP code of 5 digits"),
    ],
)
def test_a_state_or_zip_that_is_not_one_is_refused_at_its_field(officer_client, org_a, field, value, message):
    from licensing.models import Organization
    from tests.admin_forms import field_errors, post_admin_form
    from tests.factories import record

    affiliate = record(Organization, name="North Clinic", slug="north-clinic", parent=org_a, state="IL")
    response = post_admin_form(officer_client, f"/admin/licensing/organization/{affiliate.pk}/change/", {field: value})
    assert message in " ".join(field_errors(response)[field])
    affiliate.refresh_from_db()
    assert (affiliate.state, affiliate.postal_code) == ("IL", "")


@pytest.mark.parametrize(("state", "postal_code"), [("il", "62701"), ("IL", "62701-1234"), ("", "")])
def test_real_states_and_zip_codes_are_kept(officer_client, org_a, state, postal_code):
    from licensing.models import Organization
    from tests.admin_forms import post_admin_form
    from tests.factories import record

    affiliate = record(Organization, name="North Clinic", slug="north-clinic", parent=org_a)
    url = f"/admin/licensing/organization/{affiliate.pk}/change/"
    post_admin_form(officer_client, url, {"state": state, "postal_code": postal_code, "change_reason": "Address"})
    affiliate.refresh_from_db()
    assert (affiliate.state, affiliate.postal_code) == (state.upper(), postal_code)
