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
