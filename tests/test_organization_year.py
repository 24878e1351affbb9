"""An organization's page shows any license year: its royalty, positions and what needs action, the chargemaster
posting, the forecast, and for a health system the roll-up of its affiliates (entity fee once per legal entity
that licenses directly)."""

import datetime
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from licensing import standing
from licensing.admin.base import dollars
from licensing.choices import ApplicationCategory, Coverage, LicenseStatus
from tests.factories import (
    ApplicationFactory,
    LicenseFactory,
    OrganizationFactory,
    UserCountFactory,
    UserFactory,
    VendorFactory,
    member,
)

pytestmark = pytest.mark.django_db

YEAR = standing.current_license_year()


def page_of(client, org, **params):
    response = client.get(f"/admin/licensing/organization/{org.pk}/change/", params)
    assert response.status_code == 200
    return response.content.decode()


def summary_of(page: str) -> str:
    return page.split('<div class="year-summary">', 1)[1].split("</fieldset>", 1)[0]


@pytest.fixture
def system(db):
    """A health system with two affiliates: the system and one hospital license directly, a clinic through a vendor."""
    parent = OrganizationFactory(name="Harbor Health", kind="health_system")
    hospital = OrganizationFactory(name="Harbor Hospital", parent=parent)
    clinic = OrganizationFactory(name="Harbor Clinic", parent=parent)
    billing = ApplicationFactory(organization=parent, name="Harbor billing", category=ApplicationCategory.BILLING_RCM)
    UserCountFactory(application=billing, license_year=YEAR, direct_users=40)
    LicenseFactory(application=billing, license_year=YEAR, licensed_users=40)
    UserCountFactory(application=billing, license_year=YEAR - 1, direct_users=25)
    LicenseFactory(application=billing, license_year=YEAR - 1, licensed_users=20, status=LicenseStatus.EXPIRED)
    ehr = ApplicationFactory(organization=hospital, name="Hospital EHR", category=ApplicationCategory.INPATIENT_EHR)
    UserCountFactory(application=ehr, license_year=YEAR, direct_users=100)
    LicenseFactory(application=ehr, license_year=YEAR, licensed_users=80)
    old = ApplicationFactory(
        organization=hospital,
        name="Old lab system",
        category=ApplicationCategory.LAB_RADIOLOGY,
        in_service_to=datetime.date(YEAR - 1, 3, 1),
    )
    UserCountFactory(application=old, license_year=YEAR, direct_users=10)
    vendor = VendorFactory(name="Clinic EHR vendor")
    clinic_app = ApplicationFactory(
        organization=clinic,
        name="Clinic EHR",
        category=ApplicationCategory.AMBULATORY_EHR,
        cpt_coverage=Coverage.VENDOR,
        vendor=vendor,
    )
    UserCountFactory(application=clinic_app, license_year=YEAR, direct_users=12)
    return parent, hospital, clinic


@pytest.fixture
def system_officer(client, system):
    officer = UserFactory()
    member(officer, system[0])
    client.force_login(officer)
    return client


def test_the_roll_up_lists_each_legal_entity_with_the_entity_fee_once_per_direct_licensee(system_officer, system):
    parent, hospital, clinic = system
    summary = summary_of(page_of(system_officer, parent))
    rollup = standing.roll_up(standing.with_affiliates(parent), YEAR)
    assert [org.name for org, _ in rollup.entities] == ["Harbor Health", "Harbor Clinic", "Harbor Hospital"]
    fees = {org.name: year.royalty.entity_fee for org, year in rollup.entities}
    rates = standing.rate_table().for_year(YEAR)
    assert fees == {
        "Harbor Health": rates.entity_fee,
        "Harbor Hospital": rates.entity_fee,
        "Harbor Clinic": Decimal("0"),
    }
    assert "Total of 3 legal entities" in summary
    assert dollars(rollup.total, estimate=rollup.is_estimate) in summary
    assert rollup.total == sum((year.royalty.total for _, year in rollup.entities), Decimal("0"))
    for name in ("Harbor Hospital", "Harbor Clinic"):
        assert name in summary.split("Health-system roll-up")[1]


def test_any_year_can_be_shown(system_officer, system):
    parent = system[0]
    last_year = summary_of(page_of(system_officer, parent, year=YEAR - 1))
    this_year = summary_of(page_of(system_officer, parent))
    assert f"Applications in service in {YEAR - 1}" in last_year
    # Last year the billing system was licensed for 20 of its 25 users: under-licensed by 5.
    billing_row = re.search(r"Harbor billing</a>.*?</tr>", last_year, re.S).group(0)
    assert "Under-licensed" in billing_row and "<td>5</td>" in billing_row
    billing_now = re.search(r"Harbor billing</a>.*?</tr>", this_year, re.S).group(0)
    assert "Compliant" in billing_now


def test_retired_systems_are_neither_counted_nor_flagged(system_officer, system):
    hospital = system[1]
    summary = summary_of(page_of(system_officer, hospital))
    assert "Old lab system" not in summary
    organization_year = standing.organization_years([hospital], YEAR)[hospital.pk]
    assert [item.application.name for item in organization_year.standings] == ["Hospital EHR"]
    needing = summary.split("Needs action in")[1].split("<h3>")[0]
    assert "Hospital EHR" in needing and "Old lab system" not in needing


def test_chargemaster_posting_follows_the_billing_license(system_officer, system):
    parent, hospital, _clinic = system
    assert "Yes: Harbor billing holds an active" in summary_of(page_of(system_officer, parent))
    assert "No: no chargemaster or billing" in summary_of(page_of(system_officer, hospital))
    # Posting is a question about now: a past year's page answers for the current year, and says so.
    past = summary_of(page_of(system_officer, parent, year=YEAR - 1))
    assert f"price file now ({YEAR}): <strong>Yes: Harbor billing" in past


def test_projected_years_are_labelled_estimates_in_every_money_cell(system_officer, system):
    parent = system[0]
    summary = summary_of(page_of(system_officer, parent, year=YEAR + 2))
    amounts = re.findall(r"\$[0-9,]+\.[0-9]{2}(?: \(est\.\))?", summary)
    assert amounts, "the projected year shows amounts"
    unlabelled = [amount for amount in amounts if not amount.endswith("(est.)") and amount != "$0.00"]
    assert unlabelled == [], unlabelled
    forecast = summary.split("Forecast (estimates)")[1]
    assert forecast.count("(est.)") >= 6  # three years, the organization and the system


def test_an_affiliate_officer_sees_no_roll_up_of_the_system(client, system):
    parent, hospital, _clinic = system
    officer = UserFactory()
    member(officer, hospital)
    client.force_login(officer)
    assert "Health-system roll-up" not in summary_of(page_of(client, hospital))
    assert client.get(f"/admin/licensing/organization/{parent.pk}/change/").status_code == 404


def test_the_page_takes_the_same_number_of_queries_with_more_affiliates(system_officer, system):
    parent = system[0]

    def queries():
        with CaptureQueriesContext(connection) as captured:
            page_of(system_officer, parent)
        return len(captured)

    small = queries()
    for number in range(4):
        affiliate = OrganizationFactory(parent=parent)
        app = ApplicationFactory(organization=affiliate)
        UserCountFactory(application=app, license_year=YEAR, direct_users=5 + number)
    large = queries()
    # The affiliate list and the roll-up are read in bulk; the page's own inlines do not grow with affiliates.
    assert small == large, (small, large)
