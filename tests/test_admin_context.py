"""Every admin page's shared context (PortalAdminSite.each_context): the same as Django's, with the list of apps
built only when a template reads it (the navigation sidebar is off, so most pages never do)."""

from unittest import mock

import pytest
from django.contrib import admin
from django.contrib.admin import AdminSite

from portal.admin_site import PortalAdminSite
from tests.factories import ApplicationFactory, OrganizationFactory, UserFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def officer_client(client):
    organization = OrganizationFactory(name="Alpha Health")
    officer = UserFactory(username="officer")
    member(officer, organization)
    client.force_login(officer)
    return client, organization


def test_the_context_has_what_djangos_has_and_the_same_apps(officer_client):
    client, _organization = officer_client
    response = client.get("/admin/")
    request = response.wsgi_request
    ours = admin.site.each_context(request)
    djangos = AdminSite.each_context(admin.site, request)
    assert ours.keys() == djangos.keys()
    assert list(ours["available_apps"]) == djangos["available_apps"]
    assert [app["name"] for app in ours["available_apps"]], "the officer sees some apps"
    for key in djangos.keys() - {"available_apps", "log_entries"}:
        assert ours[key] == djangos[key], key


def test_a_change_page_builds_no_app_list_and_the_dashboard_still_lists_the_apps(officer_client):
    client, organization = officer_client
    application = ApplicationFactory(organization=organization, name="Billing system")
    with mock.patch.object(PortalAdminSite, "get_app_list", autospec=True, side_effect=AdminSite.get_app_list) as built:
        page = client.get(f"/admin/licensing/application/{application.pk}/change/")
        assert page.status_code == 200
        assert b"Billing system" in page.content
        assert built.call_count == 0
        index = client.get("/admin/")
        assert index.status_code == 200
        # The index's own list of models (below the dashboard) still asks for it, and shows it.
        assert built.call_count >= 1
        assert b'href="/admin/licensing/application/"' in index.content
