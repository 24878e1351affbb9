"""The demo never goes stale: seeded on any day, it shows four license years ending with the current one, and
every situation the dashboard and the reminders look for exists in the current year, found by their own
selectors (licensing.attention, licensing.standing) in what the demo officer sees."""

import datetime

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from licensing import access, attention, counting, demo, filings, services, standing
from licensing.choices import Position
from licensing.models import Application, BaseMetrics, Filing, License, Organization, UserCount

# The module-wide seed runs before the suite's per-test fast hasher applies; the logins must match it.
FAST_PASSWORDS = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
# Late in a year, when end dates crowd against December 31; New Year's Day, when this year's terms, counts and
# go-live dates have hardly begun; and a February three years after the last published rates (estimates only).
SEED_MOMENTS = [
    datetime.datetime(2026, 12, 1, 12, tzinfo=UTC),
    datetime.datetime(2027, 1, 1, 12, tzinfo=UTC),
    datetime.datetime(2029, 2, 10, 12, tzinfo=UTC),
]


class Seeded:
    """The demo seeded at a frozen moment, read as the demo officer sees it."""

    def __init__(self):
        self.today = timezone.localdate()
        self.year = standing.current_license_year()
        demo.seed_demo()
        self.officer = get_user_model().objects.get(username=demo.OFFICER_LOGIN.username)
        self.organizations = access.organizations(self.officer, access.VIEW)
        self.applications = access.restrict(Application.objects.all(), self.officer)
        self.licenses = access.restrict(License.objects.all(), self.officer)
        self.counts = access.restrict(UserCount.objects.all(), self.officer)
        self.filings = access.restrict(Filing.objects.all(), self.officer)


@pytest.fixture(scope="module", params=SEED_MOMENTS, ids=lambda moment: moment.date().isoformat())
def seeded(request, django_db_setup, django_db_blocker):
    """The demo seeded once per moment for all the tests of this file (a seed takes seconds): inside a
    transaction that each test's own one nests in, rolled back after the last test of the moment."""
    # The clock stays frozen through the tests, so "today" in the selectors is the day of the seed.
    with (
        time_machine.travel(request.param, tick=False),
        django_db_blocker.unblock(),
        transaction.atomic(),
        FAST_PASSWORDS,
    ):
        yield Seeded()
        transaction.set_rollback(True)


def names(queryset) -> list[str]:
    """Applications by name; other records as the admin labels them ("Practice management 2026")."""
    return sorted(obj.name if isinstance(obj, Application) else str(obj) for obj in queryset)


def test_four_license_years_end_with_the_current_one(seeded):
    year = seeded.year
    assert year == seeded.today.year
    assert demo.license_years() == (year - 3, year - 2, year - 1, year)
    metric_years = set(
        BaseMetrics.objects.filter(organization__in=seeded.organizations).values_list("license_year", flat=True)
    )
    assert metric_years == {year - 3, year - 2, year - 1, year}
    assert set(seeded.licenses.values_list("license_year", flat=True)) == {year - 3, year - 2, year - 1, year}
    assert set(seeded.counts.values_list("license_year", flat=True)) == {year - 3, year - 2, year - 1, year}
    # Past years are over: none of their licenses is still pending or active.
    past = seeded.licenses.filter(license_year__lt=year)
    assert set(past.values_list("status", flat=True)) <= {"expired", "not_required", "covered_by_vendor"}
    assert past.filter(status="expired").count() >= 15
    current = seeded.licenses.filter(license_year=year)
    assert not current.filter(status="expired").exists()
    assert current.filter(status="active").count() >= 5
    assert {"needed", "drafted", "submitted", "covered_by_vendor"} <= set(current.values_list("status", flat=True))
    for license in seeded.licenses.select_related("application", "distributor", "renewal_of"):
        license.full_clean()  # among others: an end date inside its own license year, and an expiry only once over
        if license.renewal_of is not None:
            assert license.renewal_of.license_year == license.license_year - 1, license


def test_active_licenses_of_this_year_end_within_each_reminder_threshold(seeded):
    year, today = seeded.year, seeded.today
    ending = {
        days: seeded.licenses.filter(pk__in=attention.licenses_ending(seeded.licenses, today=today, within_days=days))
        for days in attention.ENDING_THRESHOLDS
    }
    for days, licenses in ending.items():
        assert licenses.filter(license_year=year, status="active").exists(), f"nothing ends within {days} days"
    shortened = seeded.licenses.filter(license_year=year, ends_on__isnull=False)
    assert shortened.count() == len(demo.ENDING_IN_DAYS)
    for license in shortened:
        assert today <= license.ends_on <= datetime.date(year, 12, 31), license
        assert license.ends_on >= license.term_start, license
    if today + datetime.timedelta(days=max(attention.ENDING_THRESHOLDS)) <= datetime.date(year, 12, 31):
        # While the year leaves room, each threshold has a license of its own: 7 days < 30 days < 90 days.
        assert ending[7].count() < ending[30].count() < ending[90].count(), {d: names(q) for d, q in ending.items()}


def test_an_expired_license_is_not_replaced_and_its_system_is_not_counted(seeded):
    year, today = seeded.year, seeded.today
    expired = attention.licenses_expired(seeded.licenses, today=today, license_year=year)
    assert f"Anesthesia record system {year - 1}" in names(expired), names(expired)
    lapsed = expired.get(application__name="Anesthesia record system")
    assert (lapsed.license_year, lapsed.status) == (year - 1, "expired")
    assert not seeded.licenses.filter(application=lapsed.application, license_year__gte=year).exists()
    assert not seeded.counts.filter(application=lapsed.application, license_year=year).exists()


def test_a_vendor_agreement_lapses_this_year_under_a_vendor_covered_system(seeded):
    year = seeded.year
    lapsing = attention.vendor_coverage_lapsing(seeded.applications, license_year=year).select_related("vendor")
    assert names(lapsing) == ["Practice management"]
    application = lapsing.get()
    assert application.cpt_coverage == "vendor"
    assert application.vendor.distribution_agreement_expires == datetime.date(year, 12, 31)
    # Lapsing, not lapsed: the agreement still covers this year.
    standings = standing.standings([application], [year])
    assert standings[(application.pk, year)].position.position == Position.COVERED_BY_VENDOR


def test_one_count_of_this_year_is_older_than_twelve_months_and_the_others_are_recent(seeded):
    year, today = seeded.year, seeded.today
    stale = attention.counts_stale(seeded.counts, today=today, license_year=year)
    assert names(stale) == [f"Practice management {year}"]
    assert stale.get().counted_on < today - datetime.timedelta(days=attention.STALE_COUNT_DAYS)
    recent = seeded.counts.filter(license_year=year).exclude(pk__in=stale)
    assert recent.count() >= 10
    assert all(today - datetime.timedelta(days=attention.STALE_COUNT_DAYS) <= c.counted_on for c in recent)
    # No count is dated after the day the demo was seeded, nor before its system went live.
    for count in seeded.counts.select_related("application"):
        assert count.counted_on <= today, count
        went_live = count.application.in_service_from
        assert went_live is None or went_live <= count.counted_on, count


def test_a_draft_application_and_a_submitted_one_unanswered_for_over_30_days(seeded):
    year, today = seeded.year, seeded.today
    drafts = attention.filings_draft(seeded.filings, license_year=year)
    assert sorted(names(draft.applications.all())[0] for draft in drafts) == [
        "Bluestem Ambulatory EHR",
        "Enterprise analytics warehouse",
    ]
    unanswered = attention.filings_unanswered(seeded.filings, today=today)
    assert unanswered.count() == 1, "one submitted application should have waited over 30 days for an answer"
    sent = unanswered.get()
    assert sent.license_year == year
    assert names(sent.applications.all()) == ["Enterprise revenue cycle"]
    waited = today - timezone.localdate(sent.submitted_at)
    assert waited == datetime.timedelta(days=demo.FILING_SENT_DAYS_AGO) > datetime.timedelta(days=30)
    assert services.filing_verify(sent)  # frozen through the ordinary submission: the PDF matches its hash
    assert sent.snapshot["license_year"] == year


def test_positions_and_royalty_of_the_officers_organizations_this_year(seeded):
    year = seeded.year
    years = standing.organization_years(seeded.organizations, year)
    by_name = {item.application.name: item for entry in years.values() for item in entry.standings}
    positions = {name: item.position.position for name, item in by_name.items()}
    assert positions["Cedarline Inpatient EHR"] == Position.UNDER_LICENSED
    under = by_name["Cedarline Inpatient EHR"].position
    assert under.shortfall > 0 and under.true_up_cost > 0
    assert positions["Anesthesia record system"] == Position.NOT_COUNTED
    assert positions["Practice management"] == Position.COVERED_BY_VENDOR
    assert {Position.COMPLIANT, Position.UNLICENSED} <= set(positions.values())
    # The retired system left service before this year began, so it has no standing this year.
    retired = seeded.applications.get(name="Legacy lab interface engine")
    assert retired.in_service_to.year < year
    assert "Legacy lab interface engine" not in positions
    organizations = list(seeded.organizations)
    assert len(organizations) == 5
    for organization in organizations:
        total = years[organization.pk].royalty
        assert total is not None and total.license_year == year, organization
        assert total.total > 0, organization


@pytest.mark.parametrize("moment", [SEED_MOMENTS[1], SEED_MOMENTS[2]], ids=lambda moment: moment.date().isoformat())
def test_a_scale_run_covers_last_year_and_this_year(moment):
    with time_machine.travel(moment, tick=False):
        today, year = timezone.localdate(), standing.current_license_year()
        seeded = demo.seed_demo()
        demo.seed_scale(organizations=5, actor=seeded.admin)
        assert demo.scale_years() == (year - 1, year)
        scale = Organization.objects.filter(slug__startswith=demo.SCALE_SLUG_PREFIX)
        licenses = License.objects.filter(application__organization__in=scale)
        counts = UserCount.objects.filter(application__organization__in=scale)
        assert set(licenses.values_list("license_year", flat=True)) == {year - 1, year}
        assert set(counts.values_list("license_year", flat=True)) == {year - 1, year}
        assert not licenses.filter(license_year=year, status="expired").exists()
        assert licenses.filter(license_year=year - 1, status="expired").exists()
        assert all(counted_on <= today for counted_on in counts.values_list("counted_on", flat=True))
        for license in licenses.select_related("application", "distributor"):
            license.full_clean()


def test_this_years_rosters_derive_recent_counts_and_one_is_far_below_the_proxy_estimate(seeded):
    year, today = seeded.year, seeded.today
    derived = seeded.counts.filter(license_year=year, roster__isnull=False).select_related("application", "roster")
    assert names(derived) == [f"Bluestem Ambulatory EHR {year}", f"Coding encoder {year}",
                              f"Enterprise analytics warehouse {year}"]  # fmt: skip
    for count in derived:
        # Taken in mid-January, or today when that is still ahead: never after the day of the seed.
        assert count.roster.taken_on == count.counted_on == min(datetime.date(year, 1, 15), today), count
        assert counting.explain(count).startswith(f"Roster of {count.counted_on:%Y-%m-%d} from "), count
    warnings = standing.implausible_counts(seeded.counts.filter(license_year=year))
    assert [(w.count.application.name, w.acknowledged) for w in warnings] == [("Bluestem Ambulatory EHR", False)]
    group_draft = seeded.filings.get(organization__slug="riverbend-physician-partners", license_year=year)
    assert filings.submission_problems(group_draft) == [filings.plausibility_problem(warnings[0])]
