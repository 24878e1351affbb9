"""Compliance position of an application in a license year: licensed users against counted users."""

import datetime
from decimal import Decimal

import pytest

from licensing.position import Position, application_position, may_post_chargemaster, vendor_can_cover
from licensing.standing import rate_table
from tests.factories import ApplicationFactory, LicenseFactory, VendorFactory

pytestmark = pytest.mark.django_db


def rates(year: int = 2026):
    return rate_table().for_year(year)


def direct_app(**fields):
    return ApplicationFactory(cpt_coverage="direct", **fields)


def vendor_app(vendor=None, **fields):
    return ApplicationFactory(cpt_coverage="vendor", vendor=vendor or VendorFactory(), **fields)


# Counted against licensed ---------------------------------------------------------------------


def test_compliant_when_licensed_users_equal_counted_users():
    app = direct_app()
    license = LicenseFactory(application=app, licensed_users=10)
    status = application_position(app, users=10, license=license, rates=rates())
    assert status.position == Position.COMPLIANT
    assert (status.users, status.licensed_users, status.shortfall, status.excess) == (10, 10, 0, 0)
    assert status.true_up_cost == Decimal("0.00")
    assert status.needs_action is False
    assert str(status) == "Compliant"


def test_under_licensed_shows_shortfall_and_true_up_cost():
    app = direct_app()
    license = LicenseFactory(application=app, license_year=2026, licensed_users=10)
    status = application_position(app, users=12, license=license, rates=rates(2026))
    assert status.position == Position.UNDER_LICENSED
    assert (status.users, status.licensed_users, status.shortfall, status.excess) == (12, 10, 2, 0)
    assert status.true_up_cost == Decimal("37.00")  # 2 x 18.50
    assert status.needs_action is True
    assert status.reason == "2 more users than licensed."


def test_true_up_cost_uses_every_data_file_and_the_year_rate():
    app = direct_app(data_files=["cpt-standard", "cpt-rvu"])
    license = LicenseFactory(application=app, license_year=2024, licensed_users=10)
    status = application_position(app, users=13, license=license, rates=rates(2024))
    assert (status.shortfall, status.true_up_cost) == (3, Decimal("108.00"))  # 3 x 36.00


def test_true_up_cost_through_a_distributor_includes_its_processing_fee():
    distributor = VendorFactory(processing_fee_per_user=Decimal("1.00"))
    app = ApplicationFactory(cpt_coverage="distributor")
    license = LicenseFactory(application=app, route="distributor", distributor=distributor, licensed_users=10)
    status = application_position(app, users=12, license=license, rates=rates(2026))
    assert (status.position, status.true_up_cost) == (Position.UNDER_LICENSED, Decimal("39.00"))


def test_over_licensed_shows_excess():
    app = direct_app()
    license = LicenseFactory(application=app, licensed_users=10)
    status = application_position(app, users=7, license=license, rates=rates())
    assert status.position == Position.OVER_LICENSED
    assert (status.shortfall, status.excess, status.true_up_cost) == (0, 3, Decimal("0.00"))
    assert status.needs_action is False
    assert status.reason == "3 licensed users unused."


def test_unlicensed_without_a_license_must_buy_every_user():
    app = direct_app()
    status = application_position(app, users=12, license=None, rates=rates(2026))
    assert status.position == Position.UNLICENSED
    assert (status.shortfall, status.licensed_users) == (12, None)
    assert status.true_up_cost == Decimal("222.00")  # 12 x 18.50
    assert status.reason == "License status: no license recorded."
    assert status.needs_action is True


@pytest.mark.parametrize(
    "status_value, label",
    [("needed", "needed"), ("drafted", "application drafted"), ("submitted", "application submitted")],
)
def test_unlicensed_while_the_license_is_not_yet_active(status_value, label):
    app = direct_app()
    license = LicenseFactory(application=app, status=status_value, licensed_users=10)
    status = application_position(app, users=12, license=license, rates=rates(2026))
    assert status.position == Position.UNLICENSED
    assert status.shortfall == 12
    assert status.true_up_cost == Decimal("222.00")
    assert status.reason == f"License status: {label}."


def test_expired_license_counts_as_held_in_its_own_year():
    app = direct_app()
    license = LicenseFactory(application=app, license_year=2025, status="expired", licensed_users=10)
    status = application_position(app, users=10, license=license, rates=rates(2025))
    assert status.position == Position.COMPLIANT
    under = application_position(app, users=11, license=license, rates=rates(2025))
    assert (under.position, under.true_up_cost) == (Position.UNDER_LICENSED, Decimal("18.50"))


def test_not_counted_when_users_are_unknown():
    app = direct_app()
    status = application_position(app, users=None, license=LicenseFactory(application=app), rates=rates())
    assert status.position == Position.NOT_COUNTED
    assert status.needs_action is True
    assert status.true_up_cost == Decimal("0.00")


def test_without_rates_the_position_is_known_but_costs_nothing():
    app = direct_app()
    license = LicenseFactory(application=app, licensed_users=10)
    status = application_position(app, users=12, license=license, rates=None)
    assert (status.position, status.shortfall, status.true_up_cost) == (Position.UNDER_LICENSED, 2, Decimal("0.00"))


# Vendor coverage ------------------------------------------------------------------------------


def test_covered_by_an_authorized_vendor():
    vendor = VendorFactory(name="Acme EHR", is_authorized_distributor=True)
    app = vendor_app(vendor)
    status = application_position(app, users=12, license=None, rates=rates(2026))
    assert status.position == Position.COVERED_BY_VENDOR
    assert status.reason == "Under Acme EHR's distribution license."
    assert (status.shortfall, status.true_up_cost, status.needs_action) == (0, Decimal("0.00"), False)


def test_covered_while_the_agreement_expires_within_the_year():
    app = vendor_app(VendorFactory(distribution_agreement_expires=datetime.date(2026, 6, 30)))
    assert application_position(app, users=4, license=None, rates=rates(2026)).position == Position.COVERED_BY_VENDOR


def test_unlicensed_when_the_vendor_agreement_expired_before_the_year():
    vendor = VendorFactory(name="Acme EHR", distribution_agreement_expires=datetime.date(2025, 12, 31))
    app = vendor_app(vendor)
    status = application_position(app, users=4, license=None, rates=rates(2026))
    assert status.position == Position.UNLICENSED
    assert status.reason == "Acme EHR's distribution agreement expired on 2025-12-31."
    assert status.shortfall == 4
    assert status.true_up_cost == Decimal("74.00")  # 4 x 18.50


def test_unlicensed_when_the_vendor_is_not_an_authorized_distributor():
    vendor = VendorFactory(name="Homegrown PM", is_authorized_distributor=False)
    app = vendor_app(vendor)
    status = application_position(app, users=4, license=None, rates=rates(2026))
    assert status.position == Position.UNLICENSED
    assert status.reason == "Homegrown PM is not an AMA-authorized distributor, so its license cannot cover CPT."


def test_license_marked_covered_by_vendor_uses_the_vendor_check():
    app = direct_app(vendor=VendorFactory(is_authorized_distributor=True))
    license = LicenseFactory(application=app, status="covered_by_vendor", licensed_users=None, agreement_number="")
    assert application_position(app, users=5, license=license, rates=rates()).position == Position.COVERED_BY_VENDOR
    no_vendor = direct_app()
    license = LicenseFactory(
        application=no_vendor, status="covered_by_vendor", licensed_users=None, agreement_number=""
    )
    status = application_position(no_vendor, users=5, license=license, rates=rates())
    assert status.position == Position.UNLICENSED
    assert status.reason == "No vendor recorded for a vendor-covered application."


def test_vendor_can_cover():
    assert vendor_can_cover(None, 2026)[0] is False
    assert vendor_can_cover(VendorFactory(distribution_agreement_expires=None), 2026)[0] is True
    assert vendor_can_cover(VendorFactory(distribution_agreement_expires=datetime.date(2026, 1, 1)), 2026)[0] is True
    assert vendor_can_cover(VendorFactory(distribution_agreement_expires=datetime.date(2025, 12, 31)), 2026)[0] is False
    assert vendor_can_cover(VendorFactory(is_authorized_distributor=False), 2026)[0] is False


# Not required ---------------------------------------------------------------------------------


def test_not_required_without_cpt_content():
    app = ApplicationFactory(cpt_coverage="no_cpt")
    status = application_position(app, users=40, license=None, rates=rates())
    assert (status.position, status.reason) == (Position.NOT_REQUIRED, "No CPT content.")
    assert status.true_up_cost == Decimal("0.00")
    assert status.needs_action is False


def test_not_required_when_the_license_says_so():
    app = direct_app()
    license = LicenseFactory(application=app, status="not_required", not_required_reason="Retired on 2025-12-15")
    status = application_position(app, users=None, license=license, rates=rates())
    assert (status.position, status.reason) == (Position.NOT_REQUIRED, "Retired on 2025-12-15")
    assert str(status) == "Not required: Retired on 2025-12-15"


# Chargemaster posting -------------------------------------------------------------------------


def test_may_post_chargemaster_only_with_an_active_license_for_the_year():
    app = ApplicationFactory(category="chargemaster")
    active_2026 = LicenseFactory(application=app, license_year=2026, status="active")
    expired_2025 = LicenseFactory(application=app, license_year=2025, status="expired")
    assert may_post_chargemaster([active_2026], 2026) is True
    assert may_post_chargemaster([expired_2025, active_2026], 2026) is True
    assert may_post_chargemaster([expired_2025], 2025) is False
    assert may_post_chargemaster([active_2026], 2027) is False
    assert may_post_chargemaster([], 2026) is False


@pytest.mark.parametrize("status_value", ["needed", "drafted", "submitted", "covered_by_vendor"])
def test_may_not_post_chargemaster_while_not_active(status_value):
    license = LicenseFactory(status=status_value, license_year=2026)
    assert may_post_chargemaster([license], 2026) is False
