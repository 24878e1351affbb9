"""The attention selectors (licensing.attention): which records the dashboard and the reminders flag, at the edges."""

import datetime

import pytest

from licensing import attention
from licensing.models import Application, Filing, License, UserCount
from tests.factories import (
    ApplicationFactory,
    LicenseFactory,
    UserCountFactory,
    VendorFactory,
    record,
)

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2027, 3, 15)
DAY = datetime.timedelta(days=1)


def names(queryset) -> set[str]:
    """The application names behind the selected licenses, counts or applications."""
    model = queryset.model
    if model is Application:
        return set(queryset.values_list("name", flat=True))
    return set(queryset.values_list("application__name", flat=True))


def license_of(org, name, *, year=2027, ends_on=None, status=License.Status.ACTIVE, **application):
    app = Application.objects.filter(organization=org, name=name).first() or ApplicationFactory(
        organization=org, name=name, **application
    )
    return LicenseFactory(application=app, license_year=year, ends_on=ends_on, status=status)


def ending(within_days, today=TODAY):
    return names(attention.licenses_ending(License.objects.all(), today=today, within_days=within_days))


def expired(today=TODAY, license_year=None):
    return names(attention.licenses_expired(License.objects.all(), today=today, license_year=license_year))


# ---------------------------------------------------------------------------------------------
# Licenses ending
# ---------------------------------------------------------------------------------------------


def test_ending_includes_today_and_the_last_day_of_the_window_but_not_the_day_after(org_a):
    license_of(org_a, "Ends today", ends_on=TODAY)
    license_of(org_a, "Ends on day 90", ends_on=TODAY + 90 * DAY)
    license_of(org_a, "Ends on day 91", ends_on=TODAY + 91 * DAY)
    license_of(org_a, "Ended yesterday", ends_on=TODAY - DAY)

    assert ending(90) == {"Ends today", "Ends on day 90"}
    assert ending(30) == {"Ends today"}


def test_a_license_without_an_end_date_ends_on_december_31_of_its_year(org_a):
    license_of(org_a, "Calendar year", year=2027)
    october_2 = datetime.date(2027, 10, 2)  # December 31 is 90 days later

    assert ending(90, today=october_2) == {"Calendar year"}
    assert ending(90, today=october_2 - DAY) == set()
    assert ending(7, today=datetime.date(2027, 12, 24)) == {"Calendar year"}
    assert ending(7, today=datetime.date(2027, 12, 31)) == {"Calendar year"}
    assert ending(90, today=datetime.date(2028, 1, 1)) == set()


def test_a_window_over_new_year_finds_both_years_licenses_without_end_dates(org_a):
    license_of(org_a, "This year", year=2027)
    license_of(org_a, "Next year", year=2028)

    assert ending(400, today=datetime.date(2027, 12, 1)) == {"This year", "Next year"}
    assert ending(90, today=datetime.date(2027, 12, 1)) == {"This year"}


def test_only_active_licenses_are_ending(org_a):
    license_of(org_a, "Active", ends_on=TODAY + 10 * DAY)
    license_of(org_a, "Needed", ends_on=TODAY + 10 * DAY, status=License.Status.NEEDED)
    license_of(org_a, "By vendor", ends_on=TODAY + 10 * DAY, status=License.Status.COVERED_BY_VENDOR)

    assert ending(30) == {"Active"}


def test_a_license_renewed_by_a_license_in_effect_is_not_ending(org_a):
    license_of(org_a, "Renewed", year=2027, ends_on=TODAY + 10 * DAY)
    license_of(org_a, "Renewed", year=2028, status=License.Status.ACTIVE)
    license_of(org_a, "Renewal started", year=2027, ends_on=TODAY + 10 * DAY)
    license_of(org_a, "Renewal started", year=2028, status=License.Status.NEEDED)

    assert ending(30) == {"Renewal started"}


def test_an_application_retired_by_the_end_of_its_license_needs_no_renewal(org_a):
    license_of(org_a, "Retiring at year end", year=2027, in_service_to=datetime.date(2027, 12, 31))
    license_of(org_a, "Retired before the end", ends_on=TODAY + 10 * DAY, in_service_to=TODAY)
    license_of(org_a, "Stays in service", ends_on=TODAY + 10 * DAY, in_service_to=TODAY + 11 * DAY)

    assert ending(30) == {"Stays in service"}
    assert ending(300) == {"Stays in service"}


@pytest.mark.parametrize(
    ("days_left", "threshold"),
    [(91, None), (90, 90), (31, 90), (30, 30), (8, 30), (7, 7), (1, 7), (0, 7), (-1, None)],
)
def test_the_tightest_threshold_reached(days_left, threshold):
    assert attention.ending_threshold(days_left) == threshold


def test_each_threshold_agrees_with_the_selector(org_a):
    """A license the selector finds within N days has reached a threshold no wider than N."""
    for days in range(0, 95):
        license_of(org_a, f"In {days}", ends_on=TODAY + days * DAY)
    for within in attention.ENDING_THRESHOLDS:
        found = attention.licenses_ending(License.objects.all(), today=TODAY, within_days=within)
        for license in found:
            assert attention.ending_threshold((license.term_end - TODAY).days) <= within
        assert found.count() == within + 1


# ---------------------------------------------------------------------------------------------
# Licenses expired
# ---------------------------------------------------------------------------------------------


def test_a_license_is_expired_from_the_day_after_its_end(org_a):
    license_of(org_a, "Last year", year=2026)
    license_of(org_a, "Ended yesterday", ends_on=TODAY - DAY)
    license_of(org_a, "Ends today", ends_on=TODAY)
    license_of(org_a, "Runs all year", year=2027)

    assert expired() == {"Last year", "Ended yesterday"}


def test_expired_counts_active_and_expired_statuses_only(org_a):
    license_of(org_a, "Marked expired", year=2026, status=License.Status.EXPIRED)
    license_of(org_a, "Never activated", year=2026, status=License.Status.NEEDED)
    license_of(org_a, "Not required", year=2026, status=License.Status.NOT_REQUIRED)

    assert expired() == {"Marked expired"}


def test_an_expired_license_replaced_by_a_later_license_in_effect_is_not_flagged(org_a):
    license_of(org_a, "Renewed", year=2026)
    license_of(org_a, "Renewed", year=2027, status=License.Status.ACTIVE)
    license_of(org_a, "Now by vendor", year=2026)
    license_of(org_a, "Now by vendor", year=2027, status=License.Status.COVERED_BY_VENDOR)
    license_of(org_a, "Renewal only started", year=2026)
    license_of(org_a, "Renewal only started", year=2027, status=License.Status.NEEDED)

    assert expired() == {"Renewal only started"}


def test_of_two_ended_licenses_only_the_newer_is_flagged(org_a):
    older = license_of(org_a, "Lapsed twice", year=2025, status=License.Status.EXPIRED)
    newer = license_of(org_a, "Lapsed twice", year=2026, status=License.Status.EXPIRED)

    found = list(attention.licenses_expired(License.objects.all(), today=TODAY))

    assert found == [newer] and older not in found


def test_the_dashboard_year_limits_expired_licenses_to_that_year_and_before(org_a):
    license_of(org_a, "From 2025", year=2025)
    license_of(org_a, "From 2026", year=2026)

    assert expired(license_year=2025) == {"From 2025"}
    assert expired(license_year=2026) == {"From 2025", "From 2026"}


def test_a_retired_application_s_ended_license_is_not_flagged(org_a):
    license_of(org_a, "Retired at the end", year=2026, in_service_to=datetime.date(2026, 12, 31))
    license_of(org_a, "Retired mid-year", year=2026, in_service_to=datetime.date(2026, 6, 30))
    license_of(org_a, "Retiring later", year=2026, in_service_to=datetime.date(2027, 6, 30))

    assert expired() == {"Retiring later"}


# ---------------------------------------------------------------------------------------------
# Vendor coverage lapsing
# ---------------------------------------------------------------------------------------------


def vendor_covered(org, name, expires, **fields):
    vendor = VendorFactory(distribution_agreement_expires=expires)
    fields.setdefault("cpt_coverage", Application.Coverage.VENDOR)
    return ApplicationFactory(organization=org, name=name, vendor=vendor, **fields)


def lapsing(year=2027):
    return names(attention.vendor_coverage_lapsing(Application.objects.all(), license_year=year))


def test_vendor_agreements_ending_before_or_during_the_year_lapse_and_later_ones_do_not(org_a):
    vendor_covered(org_a, "Ended the day before the year", datetime.date(2026, 12, 31))
    vendor_covered(org_a, "Ends during the year", datetime.date(2027, 6, 30))
    vendor_covered(org_a, "Ends on the year's last day", datetime.date(2027, 12, 31))
    vendor_covered(org_a, "Ends after the year", datetime.date(2028, 1, 1))
    vendor_covered(org_a, "No end recorded", None)

    assert lapsing() == {"Ended the day before the year", "Ends during the year", "Ends on the year's last day"}
    assert lapsing(2028) == {
        "Ended the day before the year",
        "Ends during the year",
        "Ends on the year's last day",
        "Ends after the year",
    }


def test_only_vendor_covered_applications_can_lapse(org_a):
    vendor_covered(org_a, "Own license", datetime.date(2027, 6, 30), cpt_coverage=Application.Coverage.DIRECT)
    covered_by_license = vendor_covered(
        org_a, "Licensed through vendor", datetime.date(2027, 6, 30), cpt_coverage=Application.Coverage.DIRECT
    )
    LicenseFactory(
        application=covered_by_license, license_year=2027, status=License.Status.COVERED_BY_VENDOR, agreement_number=""
    )

    assert lapsing() == {"Licensed through vendor"}


def test_retired_applications_do_not_lapse(org_a):
    vendor_covered(org_a, "Retired last year", datetime.date(2027, 6, 30), in_service_to=datetime.date(2026, 10, 1))
    vendor_covered(org_a, "Starts next year", datetime.date(2027, 6, 30), in_service_from=datetime.date(2028, 1, 1))
    vendor_covered(org_a, "In service", datetime.date(2027, 6, 30), in_service_to=datetime.date(2027, 2, 1))

    assert lapsing() == {"In service"}


# ---------------------------------------------------------------------------------------------
# Counts older than 12 months
# ---------------------------------------------------------------------------------------------


def count_of(org, name, counted_on, *, year=2027, **application):
    app = ApplicationFactory(organization=org, name=name, **application)
    return UserCountFactory(application=app, license_year=year, counted_on=counted_on)


def stale(today=TODAY, year=2027):
    return names(attention.counts_stale(UserCount.objects.all(), today=today, license_year=year))


def test_a_count_exactly_365_days_old_is_not_stale_and_one_a_day_older_is(org_a):
    count_of(org_a, "365 days old", TODAY - 365 * DAY)
    count_of(org_a, "366 days old", TODAY - 366 * DAY)
    count_of(org_a, "Counted this year", datetime.date(2027, 1, 10))
    count_of(org_a, "Never dated", None)

    assert stale() == {"366 days old", "Never dated"}


def test_stale_looks_at_the_year_s_counts_of_applications_in_service(org_a):
    count_of(org_a, "Last year's count", TODAY - 400 * DAY, year=2026)
    count_of(org_a, "Retired", TODAY - 400 * DAY, in_service_to=datetime.date(2026, 12, 31))
    count_of(org_a, "Retiring this year", TODAY - 400 * DAY, in_service_to=datetime.date(2027, 4, 30))

    assert stale() == {"Retiring this year"}


def test_the_day_a_count_turns_stale_is_the_first_day_the_selector_finds_it(org_a):
    count = count_of(org_a, "Counted", datetime.date(2026, 3, 14))
    since = attention.count_stale_since(count.counted_on, license_year=2027)

    assert since == datetime.date(2027, 3, 15)
    assert stale(today=since - DAY) == set()
    assert stale(today=since) == {"Counted"}
    assert attention.count_stale_since(None, license_year=2027) == datetime.date(2027, 1, 1)


# ---------------------------------------------------------------------------------------------
# Filings unanswered
# ---------------------------------------------------------------------------------------------


def submitted(org, on: datetime.date, *, status=Filing.Status.SUBMITTED, **fields):
    moment = datetime.datetime.combine(on, datetime.time(12), tzinfo=datetime.UTC)
    return record(
        Filing, organization=org, license_year=2027, status=status, submitted_at=moment, pdf_sha256="a" * 64, **fields
    )


def unanswered(today=TODAY):
    return set(attention.filings_unanswered(Filing.objects.all(), today=today))


def test_a_filing_is_unanswered_after_more_than_30_days(org_a):
    thirty = submitted(org_a, TODAY - 30 * DAY)
    thirty_one = submitted(org_a, TODAY - 31 * DAY)

    assert unanswered() == {thirty_one}
    assert attention.filing_unanswered_since(TODAY - 30 * DAY) == TODAY + DAY
    assert unanswered(today=TODAY + DAY) == {thirty, thirty_one}


def test_answered_draft_and_superseded_filings_are_not_unanswered(org_a):
    submitted(org_a, TODAY - 60 * DAY, status=Filing.Status.ACCEPTED)
    submitted(org_a, TODAY - 60 * DAY, status=Filing.Status.REJECTED)
    record(Filing, organization=org_a, license_year=2027)
    corrected = submitted(org_a, TODAY - 60 * DAY)
    record(Filing, organization=org_a, license_year=2027, supersedes=corrected)
    waiting = submitted(org_a, TODAY - 60 * DAY)

    assert unanswered() == {waiting}


# ---------------------------------------------------------------------------------------------
# Scoping: the selectors narrow what the caller passes, never widen it
# ---------------------------------------------------------------------------------------------


def test_selectors_keep_the_callers_scope(org_a, org_b):
    license_of(org_a, "Alpha ending", ends_on=TODAY + 5 * DAY)
    license_of(org_b, "Beta ending", ends_on=TODAY + 5 * DAY)
    license_of(org_a, "Alpha expired", year=2026)
    license_of(org_b, "Beta expired", year=2026)
    alpha = License.objects.filter(application__organization=org_a)

    assert names(attention.licenses_ending(alpha, today=TODAY, within_days=7)) == {"Alpha ending"}
    assert names(attention.licenses_expired(alpha, today=TODAY)) == {"Alpha expired"}
