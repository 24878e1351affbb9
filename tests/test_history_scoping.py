"""History and the audit trail name what lies outside the reader's scope neutrally; an officer's save keeps the
links they cannot see (issue 11)."""

import csv
import io

import pytest
from django.test import Client

from licensing.audit import diffs
from licensing.models import Application
from tests.admin_forms import field_errors, inline_errors, post_admin_form
from tests.factories import ApplicationFactory, OrganizationFactory, UserFactory, member

pytestmark = pytest.mark.django_db

NOTES = "Beta-era notes: negotiating with the AMA"
OUTSIDE = "an organization outside your access"


@pytest.fixture
def admin_client():
    root = Client()
    root.force_login(UserFactory(username="root", is_superuser=True))
    return root


def change_url(obj) -> str:
    return f"/admin/licensing/{obj._meta.model_name}/{obj.pk}/change/"


def history_page(client, obj) -> str:
    response = client.get(f"/admin/licensing/{obj._meta.model_name}/{obj.pk}/history/")
    assert response.status_code == 200
    return response.content.decode()


def trail_page(client, organization) -> str:
    response = client.get(f"/admin/licensing/organization/{organization.pk}/audit-trail/")
    assert response.status_code == 200
    return response.content.decode()


def trail_csv(client, organization) -> str:
    response = client.get(f"/admin/licensing/organization/{organization.pk}/audit-trail/", {"format": "csv"})
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode()


@pytest.fixture
def linked(admin_client, org_a, org_b):
    """An Alpha application an administrator linked to Beta through the admin form."""
    application = ApplicationFactory(organization=org_a, name="Alpha Billing")
    response = post_admin_form(
        admin_client,
        change_url(application),
        {"users_at_other_entities": [org_b.pk], "change_reason": "Its staff use it too"},
    )
    assert response.status_code == 302
    assert list(application.users_at_other_entities.all()) == [org_b]
    return application


@pytest.fixture
def moved(admin_client, org_a, org_b):
    """A Beta application with notes, moved to Alpha (and its notes cleared) by an administrator."""
    application = ApplicationFactory(organization=org_b, name="Imaging System", notes=NOTES)
    response = post_admin_form(
        admin_client, change_url(application), {"organization": org_a.pk, "notes": "", "change_reason": "Moved"}
    )
    assert response.status_code == 302
    application.refresh_from_db()
    assert application.organization == org_a
    return application


def test_a_link_to_an_organization_outside_scope_is_named_neutrally(officer_client, admin_client, org_a, linked):
    for text in (
        history_page(officer_client, linked),
        trail_page(officer_client, org_a),
        trail_csv(officer_client, org_a),
    ):
        assert "Beta" not in text
        assert OUTSIDE in text
    # The administrator sees everything, so the neutral label is the officer's alone.
    assert "Beta Clinics" in history_page(admin_client, linked)
    assert "Beta Clinics" in trail_csv(admin_client, org_a)


def test_a_record_moved_from_an_organization_outside_scope_withholds_its_past(
    officer_client, admin_client, org_a, moved
):
    page = history_page(officer_client, moved)
    assert "Beta" not in page and NOTES not in page
    assert OUTSIDE in page and "Recorded while the record belonged to an organization outside your access" in page
    for text in (trail_page(officer_client, org_a), trail_csv(officer_client, org_a)):
        assert "Beta" not in text and NOTES not in text
        assert OUTSIDE in text
    lines = list(csv.reader(io.StringIO(trail_csv(officer_client, org_a))))
    notes_line = next(line for line in lines if line[6] == "Notes")
    assert notes_line[7] == diffs.WITHHELD, "the old notes are withheld, not shown"
    assert NOTES in history_page(admin_client, moved)


def test_an_officer_of_the_organization_it_left_sees_its_past_but_not_its_present(client, org_a, org_b, moved):
    officer_b = UserFactory(username="officer-b")
    member(officer_b, org_b, "officer")
    client.force_login(officer_b)
    # The record now belongs to Alpha: Beta's officer cannot open it, nor its history.
    assert client.get(change_url(moved)).status_code == 404
    page = trail_page(client, org_b)
    assert NOTES in page, "Beta's own trail keeps what was recorded while the record was Beta's"
    assert "Alpha Health" not in page


def test_an_officers_save_keeps_the_links_they_cannot_see(officer_client, org_a, org_b, linked):
    affiliate = OrganizationFactory(name="Alpha North Clinic", slug="alpha-north", parent=org_a)
    linked.users_at_other_entities.add(affiliate)
    page = officer_client.get(change_url(linked)).content.decode()
    assert "Beta" not in page, "the form lists only what the officer may see"
    response = post_admin_form(officer_client, change_url(linked), {"owner": "Revenue cycle office"})
    assert response.status_code == 302, (field_errors(response), inline_errors(response))
    linked.refresh_from_db()
    assert linked.owner == "Revenue cycle office"
    assert set(linked.users_at_other_entities.all()) == {org_b, affiliate}
    # Taking off a link the officer sees takes off that one only.
    response = post_admin_form(officer_client, change_url(linked), {"users_at_other_entities": []})
    assert response.status_code == 302
    assert set(Application.objects.get(pk=linked.pk).users_at_other_entities.all()) == {org_b}
