"""Organization pages of any size, and officers below the top of a tree.

An organization with hundreds of applications stays editable: past ApplicationInline.max_editable_rows its
applications are listed a page at a time with links to their own pages, so the form never passes Django's
1,000-field limit. An officer of an affiliate saves their organization without being asked for a parent they
cannot see, and cannot move it."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from licensing import services
from licensing.admin.organizations import ApplicationInline
from licensing.choices import ImportOutcome
from licensing.models import Application, Organization
from tests.admin_forms import field_errors, inline_errors, page_form_data, post_admin_form
from tests.factories import ApplicationFactory, OrganizationFactory, UserFactory, member
from tests.import_support import export, problems_of, run

pytestmark = pytest.mark.django_db

LIMIT = ApplicationInline.max_editable_rows


def applications_of(organization, number: int, *, start: int = 0) -> None:
    rows = [
        Application(organization=organization, name=f"System {n:03d}", category=Application.Category.BILLING_RCM)
        for n in range(start, start + number)
    ]
    services.record_bulk_create(rows, Application, actor=None, reason="Test data")


def change_url(organization) -> str:
    return reverse("admin:licensing_organization_change", args=[organization.pk])


def post_fields(data: dict) -> int:
    return sum(len(value) if isinstance(value, list) else 1 for value in data.values())


def test_an_organization_with_500_applications_saves(officer_client, org_a):
    applications_of(org_a, 500)
    page = officer_client.get(change_url(org_a))
    data = page_form_data(page)
    assert post_fields(data) < 200  # far below Django's 1,000-field limit, whatever the number of applications
    response = post_admin_form(officer_client, change_url(org_a), {"city": "Peoria", "change_reason": "Moved"})
    assert response.status_code == 302, (field_errors(response), inline_errors(response))
    org_a.refresh_from_db()
    assert org_a.city == "Peoria"
    assert Application.objects.filter(organization=org_a).count() == 500


def test_the_applications_are_listed_a_page_at_a_time_with_links(officer_client, org_a):
    applications_of(org_a, 500)
    page = officer_client.get(change_url(org_a)).content.decode()
    assert f"Alpha Health has 500 applications, more than the {LIMIT} this page edits at once" in page
    first = Application.objects.get(organization=org_a, name="System 000")
    assert f'<a href="{first.get_absolute_url()}">System 000</a>' in page
    assert "System 050</a></td>" not in page.split('id="applications-group"')[1]
    assert f"?organization__id__exact={org_a.pk}" in page
    assert 'name="applications-0-name"' not in page
    last_page = officer_client.get(change_url(org_a), {"applications_page": 500 // LIMIT}).content.decode()
    assert "Applications 451–500 of 500." in last_page
    assert "System 499</a>" in last_page


def test_the_applications_list_link_shows_that_organization_only(officer_client, org_a):
    applications_of(org_a, LIMIT + 1)
    child = OrganizationFactory(name="Alpha Clinic", parent=org_a)
    ApplicationFactory(organization=child, name="Clinic billing")
    listing = officer_client.get(
        reverse("admin:licensing_application_changelist"), {"organization__id__exact": org_a.pk}
    )
    assert listing.status_code == 200
    assert "System 000" in listing.content.decode()
    assert "Clinic billing" not in listing.content.decode()


def test_page_queries_do_not_grow_with_the_number_of_applications(officer_client, org_a, officer):
    small = OrganizationFactory(name="Alpha Small", parent=org_a)
    big = OrganizationFactory(name="Alpha Big", parent=org_a)
    applications_of(small, LIMIT + 10)
    applications_of(big, 500, start=1000)
    officer_client.get(change_url(small))  # the first request warms per-process caches (content types, rates)
    with CaptureQueriesContext(connection) as at_60:
        assert officer_client.get(change_url(small)).status_code == 200
    with CaptureQueriesContext(connection) as at_500:
        assert officer_client.get(change_url(big)).status_code == 200
    assert len(at_500) == len(at_60), [query["sql"][:120] for query in at_500.captured_queries]


def test_up_to_the_limit_the_applications_are_edited_on_the_page(officer_client, org_a):
    applications_of(org_a, LIMIT)
    response = post_admin_form(
        officer_client, change_url(org_a), {"applications-0-name": "Renamed system", "change_reason": "Renamed"}
    )
    assert response.status_code == 302, inline_errors(response)
    assert Application.objects.filter(organization=org_a, name="Renamed system").exists()


def test_rows_posted_after_the_organization_passed_the_limit_are_refused_not_dropped(officer_client, org_a):
    applications_of(org_a, LIMIT)
    data = page_form_data(officer_client.get(change_url(org_a)))
    applications_of(org_a, 1, start=LIMIT)  # someone adds one more meanwhile
    data.update({"applications-0-name": "Renamed system", "city": "Peoria", "change_reason": "Renamed"})
    response = officer_client.post(change_url(org_a), data)
    assert response.status_code == 200
    assert any("now has more than 50 applications" in error for error in inline_errors(response))
    assert not Application.objects.filter(name="Renamed system").exists()
    org_a.refresh_from_db()
    assert org_a.city != "Peoria"


# An officer below the top of the tree ---------------------------------------------------------


@pytest.fixture
def tree():
    system = OrganizationFactory(name="Summit Health System", slug="summit")
    member_org = OrganizationFactory(name="Summit Valley Hospital", slug="summit-valley", parent=system)
    elsewhere = OrganizationFactory(name="Elsewhere Clinics", slug="elsewhere")
    return system, member_org, elsewhere


@pytest.fixture
def affiliate_client(client, tree):
    _, member_org, _ = tree
    user = UserFactory(username="valley-officer")
    member(user, member_org, "officer")
    client.force_login(user)
    return client


def test_an_affiliate_officer_saves_their_own_organization(affiliate_client, tree):
    system, member_org, _ = tree
    page = affiliate_client.get(change_url(member_org)).content.decode()
    assert "A parent organization outside your access; it stays as it is." in page
    assert system.name not in page
    response = post_admin_form(affiliate_client, change_url(member_org), {"city": "Boulder", "change_reason": "Moved"})
    assert response.status_code == 302, field_errors(response)
    member_org.refresh_from_db()
    assert (member_org.city, member_org.parent_id) == ("Boulder", system.pk)


@pytest.mark.parametrize("forged", ["", "elsewhere", "abc"])
def test_an_affiliate_officer_cannot_change_the_parent(affiliate_client, tree, forged):
    system, member_org, elsewhere = tree
    value = {"": "", "elsewhere": str(elsewhere.pk), "abc": "abc"}[forged]
    response = post_admin_form(
        affiliate_client, change_url(member_org), {"parent": value, "city": "Boulder", "change_reason": "Moved"}
    )
    assert response.status_code == 302, field_errors(response)
    member_org.refresh_from_db()
    assert member_org.parent_id == system.pk


def test_a_parent_the_officer_may_see_is_named(client, tree):
    system, member_org, _ = tree
    user = UserFactory(username="valley-officer-system-auditor")
    member(user, member_org, "officer")
    member(user, system, "auditor")
    client.force_login(user)
    page = client.get(change_url(member_org)).content.decode()
    assert f'<a href="{system.get_absolute_url()}">Summit Health System</a>' in page
    response = post_admin_form(client, change_url(member_org), {"city": "Boulder", "change_reason": "Moved"})
    assert response.status_code == 302, field_errors(response)
    assert Organization.objects.get(pk=member_org.pk).parent_id == system.pk


def test_an_officer_of_the_parent_still_chooses_the_parent(client, tree):
    system, member_org, _ = tree
    user = UserFactory(username="system-officer")
    member(user, system, "officer")
    client.force_login(user)
    page = client.get(change_url(member_org))
    assert "parent" in page.context["adminform"].form.fields
    response = post_admin_form(client, change_url(member_org), {"parent": "", "change_reason": "Lift"})
    assert "Choose the parent organization" in field_errors(response)["parent"][0]


def test_an_affiliate_officer_exports_and_imports_their_organization_keeping_the_parent(tree):
    system, member_org, _ = tree
    user = UserFactory(username="valley-importer")
    member(user, member_org, "officer")
    exported = export("organizations", user, "csv").decode("utf-8-sig")
    assert "summit-valley" in exported
    assert "summit," not in exported and system.name not in exported
    edited = exported.replace("Springfield", "Boulder").encode()
    result = run("organizations", "organizations.csv", edited, actor=user)
    assert result.outcome == ImportOutcome.CONFIRMED, problems_of(result)
    member_org.refresh_from_db()
    assert (member_org.city, member_org.parent_id) == ("Boulder", system.pk)


def test_an_affiliate_officer_cannot_name_another_parent_in_a_file(tree):
    system, member_org, _ = tree
    user = UserFactory(username="valley-importer")
    member(user, member_org, "officer")
    content = b"Short name (slug),Parent organization,City\r\nsummit-valley,summit-valley,Boulder\r\n"
    result = run("organizations", "organizations.csv", content, actor=user)
    assert result.outcome == ImportOutcome.REFUSED
    assert "This organization's parent is outside your access, so a file cannot change it" in " ".join(
        problems_of(result)
    )
    assert Organization.objects.get(pk=member_org.pk).parent_id == system.pk
