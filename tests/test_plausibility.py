"""A counted count far below the User Proxy Model's estimate is flagged, and blocks the filing until acknowledged."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from licensing import counting
from licensing.models import Filing, UserCount
from tests.admin_forms import post_admin_form
from tests.factories import ApplicationFactory, BaseMetricsFactory, ProxyCountFactory, UserCountFactory, record

FOUR = {"physicians": Decimal("4")}

# Pure rule ----------------------------------------------------------------------------------


def test_a_count_under_half_of_the_estimate_is_implausible_and_says_so_in_plain_words():
    comparison = counting.compare_with_proxy(users=175, metrics={"physicians": 150}, factors=FOUR)
    assert comparison is not None and comparison.implausible
    assert comparison.estimate == 600
    assert comparison.sentence() == (
        "175 users counted; the User Proxy Model from 150 physicians gives about 600 (estimate); "
        "under half — check the count"
    )


def test_a_count_at_half_or_above_is_not_flagged():
    at_half = counting.compare_with_proxy(users=300, metrics={"physicians": 150}, factors=FOUR)
    assert at_half is not None and not at_half.implausible
    assert at_half.sentence().endswith("(estimate); not far below it")
    below = counting.compare_with_proxy(users=299, metrics={"physicians": 150}, factors=FOUR)
    assert below is not None and below.implausible


def test_the_threshold_is_a_parameter_and_named_as_a_percentage():
    comparison = counting.compare_with_proxy(
        users=200, metrics={"physicians": 150}, factors=FOUR, threshold=Decimal("0.3")
    )
    assert comparison is not None and not comparison.implausible
    flagged = counting.compare_with_proxy(
        users=200, metrics={"physicians": 150}, factors=FOUR, threshold=Decimal("0.8")
    )
    assert flagged is not None and flagged.implausible and "under 80% — check the count" in flagged.sentence()


def test_no_estimate_without_a_factor_or_a_metric_value():
    assert counting.compare_with_proxy(users=5, metrics={"physicians": None}, factors=FOUR) is None
    assert counting.compare_with_proxy(users=5, metrics={"physicians": 0}, factors=FOUR) is None
    assert counting.compare_with_proxy(users=5, metrics={"staffed_beds": 100}, factors=FOUR) is None


def test_of_several_estimates_the_lowest_is_compared():
    comparison = counting.compare_with_proxy(
        users=50,
        metrics={"physicians": 100, "staffed_beds": 40},
        factors={"physicians": Decimal("4"), "staffed_beds": Decimal("2.5")},
    )
    assert comparison is not None
    assert (comparison.base_metric, comparison.estimate, comparison.implausible) == ("staffed_beds", 100, False)


def test_a_part_user_rounds_the_estimate_up_and_one_user_is_singular():
    comparison = counting.compare_with_proxy(users=1, metrics={"physicians": 3}, factors={"physicians": Decimal("1.1")})
    assert comparison is not None and comparison.estimate == 4
    assert comparison.sentence().startswith("1 user counted;")


def test_proxy_counts_are_not_compared_with_themselves():
    count = UserCount(method=UserCount.Method.PROXY, base_metric="physicians", metric_value=10, factor=4)
    assert counting.plausibility(count, metrics={"physicians": 150}, factors=FOUR) is None
    counted = UserCount(method=UserCount.Method.COUNTED, direct_users=100, program_users=50, output_users=25)
    result = counting.plausibility(counted, metrics={"physicians": 150}, factors=FOUR)
    assert result is not None and result.users == 175


def test_an_acknowledgement_holds_only_for_the_figures_acknowledged():
    comparison = counting.compare_with_proxy(users=175, metrics={"physicians": 150}, factors=FOUR)
    assert comparison is not None
    count = UserCount(
        plausibility_reason="Most physicians chart in the hospital EHR.",
        plausibility_acknowledged_users=175,
        plausibility_acknowledged_estimate=600,
    )
    assert counting.acknowledged(count, comparison)
    grown = counting.compare_with_proxy(users=175, metrics={"physicians": 160}, factors=FOUR)
    assert grown is not None and not counting.acknowledged(count, grown)
    count.plausibility_reason = "  "
    assert not counting.acknowledged(count, comparison)


# As people meet it --------------------------------------------------------------------------


@pytest.fixture
def clinic(org_a):
    """An ambulatory EHR with 175 counted users where 150 physicians give about 600."""
    BaseMetricsFactory(organization=org_a, license_year=2026, physicians=150)
    ehr = ApplicationFactory(organization=org_a, name="Clinic EHR", category="ambulatory_ehr")
    return UserCountFactory(application=ehr, license_year=2026, direct_users=100, program_users=50, output_users=25)


WARNING = (
    "175 users counted; the User Proxy Model from 150 physicians gives about 600 (estimate); "
    "under half — check the count"
)


@pytest.mark.django_db
def test_the_officer_sees_the_flag_on_the_count_page(officer_client, clinic):
    page = officer_client.get(f"/admin/licensing/usercount/{clinic.pk}/change/").content.decode()
    assert "Compared with the User Proxy Model" in page
    assert WARNING in page
    assert "acknowledge the warning with a reason" in page


@pytest.mark.django_db
def test_a_proxy_count_page_says_it_is_not_compared(officer_client, org_a):
    BaseMetricsFactory(organization=org_a, license_year=2026, physicians=150)
    ehr = ApplicationFactory(organization=org_a, name="Clinic EHR", category="ambulatory_ehr")
    count = ProxyCountFactory(application=ehr, license_year=2026)
    page = officer_client.get(f"/admin/licensing/usercount/{count.pk}/change/").content.decode()
    assert "Not compared: a proxy count is the User Proxy Model" in page


@pytest.mark.django_db
def test_the_threshold_setting_decides(officer_client, clinic, settings):
    settings.PLAUSIBILITY_THRESHOLD = Decimal("0.25")
    page = officer_client.get(f"/admin/licensing/usercount/{clinic.pk}/change/").content.decode()
    assert "gives about 600 (estimate); not far below it" in page


def prepare(client, organization) -> Filing:
    response = client.post(f"/admin/licensing/organization/{organization.pk}/prepare-filing/", {"license_year": 2026})
    assert response.status_code == 302, response.content[:500]
    filing = Filing.objects.get(organization=organization, license_year=2026)
    response = post_admin_form(
        client,
        f"/admin/licensing/filing/{filing.pk}/change/",
        {
            "signatory_name": "Morgan Lee",
            "signatory_title": "General Counsel",
            "attests_accurate": True,
            "attests_will_report_changes": True,
            "change_reason": "Signatory confirmed",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    return filing


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.mark.django_db
def test_submission_refused_until_acknowledged_with_a_reason(officer_client, officer, clinic, org_a):
    filing = prepare(officer_client, org_a)
    page = officer_client.get(f"/admin/licensing/filing/{filing.pk}/change/").content.decode()
    assert WARNING in page and "Acknowledge with this reason" in page

    refused = officer_client.post(f"/admin/licensing/filing/{filing.pk}/submit/", follow=True)
    shown = " ".join(messages_of(refused))
    assert "Not submitted" in shown and WARNING in shown and "HIMSS, AHA and CMS" in shown
    filing.refresh_from_db()
    assert filing.status == "draft"

    history_rows = clinic.history.count()
    blank = officer_client.post(
        f"/admin/licensing/filing/{filing.pk}/acknowledge/", {"count": clinic.pk, "reason": "   "}, follow=True
    )
    assert any("Not acknowledged: give the reason" in message for message in messages_of(blank))
    clinic.refresh_from_db()
    assert clinic.plausibility_reason == "" and clinic.plausibility_acknowledged_by is None
    assert clinic.history.count() == history_rows

    reason = "Most of the 150 physicians chart in the hospital's EHR; only clinic staff use this one."
    done = officer_client.post(
        f"/admin/licensing/filing/{filing.pk}/acknowledge/", {"count": clinic.pk, "reason": reason}, follow=True
    )
    assert any("Acknowledged for Clinic EHR 2026" in message for message in messages_of(done))
    clinic.refresh_from_db()
    assert (clinic.plausibility_reason, clinic.plausibility_acknowledged_by) == (reason, officer)
    assert (clinic.plausibility_acknowledged_users, clinic.plausibility_acknowledged_estimate) == (175, 600)
    latest = clinic.history.order_by("-history_date", "-history_id").first()
    assert latest.history_user == officer and reason in latest.history_change_reason
    assert clinic.history.count() == history_rows + 1

    submitted = officer_client.post(f"/admin/licensing/filing/{filing.pk}/submit/", follow=True)
    assert any("Submitted and frozen" in message for message in messages_of(submitted))
    filing.refresh_from_db()
    assert filing.status == "submitted"


@pytest.mark.django_db
def test_a_changed_count_asks_again(officer_client, clinic, org_a):
    filing = prepare(officer_client, org_a)
    officer_client.post(
        f"/admin/licensing/filing/{filing.pk}/acknowledge/", {"count": clinic.pk, "reason": "Checked with HR."}
    )
    clinic.refresh_from_db()
    from licensing import services

    clinic.direct_users = 110
    services.record_save(clinic, actor=None, reason="Recount")
    refused = officer_client.post(f"/admin/licensing/filing/{filing.pk}/submit/", follow=True)
    assert any("185 users counted" in message for message in messages_of(refused))


@pytest.mark.django_db
def test_an_auditor_cannot_acknowledge(client, auditor, officer_client, clinic, org_a):
    filing = prepare(officer_client, org_a)
    client.force_login(auditor)
    response = client.post(f"/admin/licensing/filing/{filing.pk}/acknowledge/", {"count": clinic.pk, "reason": "x"})
    assert response.status_code == 403
    clinic.refresh_from_db()
    assert clinic.plausibility_reason == ""


@pytest.mark.django_db
def test_a_count_of_another_filing_cannot_be_acknowledged_here(officer_client, clinic, org_a):
    other = ApplicationFactory(organization=org_a, name="Not included", category="ambulatory_ehr")
    stranger = UserCountFactory(application=other, license_year=2026, direct_users=1)
    filing = prepare(officer_client, org_a)
    filing.applications.remove(other)
    response = officer_client.post(
        f"/admin/licensing/filing/{filing.pk}/acknowledge/", {"count": stranger.pk, "reason": "x"}, follow=True
    )
    assert any("not part of this application" in message for message in messages_of(response))
    stranger.refresh_from_db()
    assert stranger.plausibility_reason == ""


@pytest.mark.django_db
def test_the_dashboard_lists_implausible_counts(officer_client, clinic, org_b):
    BaseMetricsFactory(organization=org_b, license_year=2026, physicians=500)
    theirs = ApplicationFactory(organization=org_b, name="Beta EHR", category="ambulatory_ehr")
    UserCountFactory(application=theirs, license_year=2026, direct_users=3)
    page = officer_client.get("/admin/?year=2026").content.decode()
    assert "Counts far below the User Proxy Model in 2026 (estimates): 1, 1 not acknowledged" in page
    assert WARNING in page and f'href="/admin/licensing/usercount/{clinic.pk}/change/"' in page
    assert "Beta EHR" not in page


def _implausible_counts(organization, number: int, start: int) -> list[UserCount]:
    counts = []
    for i in range(number):
        ehr = ApplicationFactory(organization=organization, name=f"EHR {start + i}", category="ambulatory_ehr")
        counts.append(UserCountFactory(application=ehr, license_year=2026, direct_users=5 + i))
    return counts


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.django_db
def test_dashboard_queries_do_not_grow_with_implausible_counts(officer_client, org_a, officer):
    from licensing import services
    from tests.factories import OrganizationFactory, member

    BaseMetricsFactory(organization=org_a, license_year=2026, physicians=150)
    _implausible_counts(org_a, 1, 0)
    few = _queries(officer_client, "/admin/?year=2026")
    second = OrganizationFactory(name="Gamma Care", slug="gamma-care")
    member(officer, second, "officer")
    BaseMetricsFactory(organization=second, license_year=2026, physicians=150)
    counts = _implausible_counts(org_a, 5, 1) + _implausible_counts(second, 6, 10)
    reviewed = counts[0]
    reviewed.plausibility_reason, reviewed.plausibility_acknowledged_by = "Checked", officer
    reviewed.plausibility_acknowledged_users, reviewed.plausibility_acknowledged_estimate = reviewed.users, 600
    services.record_save(reviewed, actor=officer, reason="Acknowledged in the test")
    lots = _queries(officer_client, "/admin/?year=2026")
    assert few == lots, f"{few} queries with 1 implausible count, {lots} with 12"
    page = officer_client.get("/admin/?year=2026").content.decode()
    assert "(estimates): 12, 11 not acknowledged" in page and "and 2 more" in page


@pytest.mark.django_db
def test_filing_page_queries_do_not_grow_with_implausible_counts(officer_client, org_a):
    from tests.factories import OrganizationFactory

    def filing_with(number: int) -> Filing:
        organization = OrganizationFactory(parent=org_a)
        BaseMetricsFactory(organization=organization, license_year=2026, physicians=150)
        counts = _implausible_counts(organization, number, 0)
        filing = record(Filing, organization=organization, license_year=2026)
        filing.applications.set([count.application for count in counts])
        return filing

    one, six = filing_with(1), filing_with(6)
    few = _queries(officer_client, f"/admin/licensing/filing/{one.pk}/change/")
    lots = _queries(officer_client, f"/admin/licensing/filing/{six.pk}/change/")
    assert few == lots, f"{few} queries with 1 implausible count, {lots} with 6"
    assert "EHR 5: 10 users counted" in officer_client.get(f"/admin/licensing/filing/{six.pk}/change/").content.decode()
