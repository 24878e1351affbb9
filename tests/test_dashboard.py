"""The admin index is the compliance dashboard: figures for the person's organizations, each equal to the rows of
the list it links to; position filters on the lists; a fixed number of queries at any size."""

import re

import pytest
from django.db import connection
from django.http import HttpRequest
from django.test.utils import CaptureQueriesContext

from licensing import demo, overview, standing
from licensing.choices import Position
from licensing.models import Application
from tests.factories import (
    ApplicationFactory,
    LicenseFactory,
    OrganizationFactory,
    UserCountFactory,
    UserFactory,
    member,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_officer(client):
    demo.seed_demo()
    # The password itself is checked; axes (sign-in throttling) needs the request it would throttle.
    assert client.login(
        request=HttpRequest(), username=demo.OFFICER_LOGIN.username, password=demo.OFFICER_LOGIN.password
    )
    return client


def figures_of(response) -> dict:
    return {row["figure"].key: row for row in response.context["figures"]}


def rows_behind(client, url) -> int:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.context["cl"].result_count


def test_every_figure_equals_the_rows_of_the_list_it_links_to(demo_officer):
    current = standing.current_license_year()
    for year in (current, current - 1):
        response = demo_officer.get("/admin/", {"year": year})
        assert response.status_code == 200
        assert response.context["shown_year"] == year
        figures = figures_of(response)
        assert len(figures) >= 10
        for key, row in figures.items():
            assert f"year={year}" in row["url"]
            assert rows_behind(demo_officer, row["url"]) == row["count"], f"{key} in {year}"
        if year == current:
            # The demo is made to have something behind the main figures in the current year.
            nonzero = {key for key, row in figures.items() if row["count"]}
            assert {Position.UNDER_LICENSED, Position.NOT_COUNTED, "ending_30", "stale"} <= nonzero, nonzero
        else:
            # A closed year is not recounted, so its old counts raise no alarm.
            assert figures["stale"]["count"] == 0


def test_the_dashboard_shows_the_year_royalty_forecast_and_charts(demo_officer):
    response = demo_officer.get("/admin/")
    page = response.content.decode()
    year = standing.current_license_year()
    assert f"License year {year}" in page
    total = response.context["royalty"]
    assert total is not None and total.total > 0
    assert response.context["royalty_text"] in page
    # Every forecast year is an estimate and says so.
    assert [row["year"] for row in response.context["forecast"]] == [year + 1, year + 2, year + 3]
    assert all("(est.)" in row["text"] for row in response.context["forecast"])
    # Charts are inline SVG with their values written out, projected years marked as estimates.
    assert page.count('<figure class="chart">') == 2 and "<script" not in page.split('id="content-main"')[1]
    assert f"{year + 1} (projected)" in page and "(est.)" in page
    assert "Users by application category" in page
    # The charts' values are in their descriptions too, for screen readers.
    assert re.search(r"<desc>[^<]*Inpatient EHR: [0-9,]+", page)
    # Date-based figures say they are counted as of today.
    assert page.count("(as of today)") == 7


def test_under_licensed_lines_show_shortfall_and_true_up_cost(demo_officer):
    response = demo_officer.get("/admin/")
    under = response.context["under"]
    assert under["lines"], "the demo has an under-licensed application"
    first = under["lines"][0]
    assert first["shortfall"] > 0 and first["cost"].startswith("$")
    assert f"{under['shortfall']} users short" in response.content.decode()


def test_an_officer_counts_only_their_own_organizations(client, org_a, org_b):
    year = standing.current_license_year()
    for org, number in ((org_a, 1), (org_b, 4)):
        for index in range(number):
            app = ApplicationFactory(organization=org)
            UserCountFactory(application=app, license_year=year, direct_users=20 + index)
            LicenseFactory(application=app, license_year=year, licensed_users=10)
    officer = UserFactory()
    member(officer, org_a)
    client.force_login(officer)
    figures = figures_of(client.get("/admin/"))
    assert figures[Position.UNDER_LICENSED]["count"] == 1
    assert rows_behind(client, figures[Position.UNDER_LICENSED]["url"]) == 1
    assert org_b.name not in client.get("/admin/").content.decode()


def dashboard_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/admin/").status_code == 200
    return len(queries)


def grow(organizations: int):
    year = standing.current_license_year()
    parent = OrganizationFactory(name="Roll-up system")
    for _ in range(organizations):
        org = OrganizationFactory(parent=parent)
        app = ApplicationFactory(organization=org)
        UserCountFactory(application=app, license_year=year, direct_users=30)
        LicenseFactory(application=app, license_year=year, licensed_users=10)
        ApplicationFactory(organization=org)
    return parent


def test_the_dashboard_takes_the_same_number_of_queries_at_any_size(client):
    parent = grow(2)
    officer = UserFactory()
    member(officer, parent)
    client.force_login(officer)
    small = dashboard_queries(client)
    more = grow(12)
    member(officer, more)
    large = dashboard_queries(client)
    assert small == large, (small, large)


def test_the_applications_list_filters_by_position_in_fixed_queries(client, org_a):
    year = standing.current_license_year()
    officer = UserFactory()
    member(officer, org_a)
    client.force_login(officer)

    def add(number):
        for index in range(number):
            app = ApplicationFactory(organization=org_a)
            UserCountFactory(application=app, license_year=year, direct_users=30 + index)
            LicenseFactory(application=app, license_year=year, licensed_users=10)
        ApplicationFactory(organization=org_a)

    def listed():
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/admin/licensing/application/", {"position": Position.UNDER_LICENSED, "year": year})
        assert response.status_code == 200
        return response, len(queries)

    add(2)
    small, small_queries = listed()
    add(10)
    large, large_queries = listed()
    assert small.context["cl"].result_count == 2 and large.context["cl"].result_count == 12
    assert small_queries == large_queries
    # The shortfall is printed as a number in its own column, not only as hover text.
    page = large.content.decode()
    assert re.search(r'<td class="field-shortfall_this_year">2[0-9]</td>', page), "shortfall column"
    everything = Application.objects.filter(organization=org_a)
    assert (
        large.context["cl"].result_count == overview.filter_position(everything, year, Position.UNDER_LICENSED).count()
    )


def test_nonsense_filter_values_show_the_whole_list_and_never_fail(officer_client, org_a):
    ApplicationFactory(organization=org_a)
    for params in ({"year": "abc"}, {"year": "99999"}, {"position": "nonsense"}, {"attention": "<b>"}):
        response = officer_client.get("/admin/licensing/application/", params)
        assert response.status_code == 200, params
        assert response.context["cl"].result_count == 1
    assert officer_client.get("/admin/", {"year": "9999-12-31"}).status_code == 200


def test_count_and_license_lists_filter_by_the_position_of_their_application(officer_client, org_a):
    year = standing.current_license_year()
    under = ApplicationFactory(organization=org_a)
    UserCountFactory(application=under, license_year=year, direct_users=30)
    LicenseFactory(application=under, license_year=year, licensed_users=10)
    UserCountFactory(application=under, license_year=year - 1, direct_users=30)
    exact = ApplicationFactory(organization=org_a)
    UserCountFactory(application=exact, license_year=year, direct_users=10)
    LicenseFactory(application=exact, license_year=year, licensed_users=10)
    for path in ("/admin/licensing/usercount/", "/admin/licensing/license/"):
        response = officer_client.get(path, {"position": Position.UNDER_LICENSED, "year": year})
        rows = list(response.context["cl"].result_list)
        assert [(row.application_id, row.license_year) for row in rows] == [(under.pk, year)], path
        response = officer_client.get(path, {"position": overview.NEEDS_ACTION, "year": year})
        assert [row.application_id for row in response.context["cl"].result_list] == [under.pk], path
