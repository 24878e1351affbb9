"""What CPT costs, from the seeded rate schedules (migration 0002), never from constants in the test."""

from decimal import Decimal

import pytest

from licensing import royalty, standing
from licensing.models import Application, DataFileRate, RateSchedule
from licensing.royalty import RatesUnavailable, YearRates
from tests.factories import (
    ApplicationFactory,
    BaseMetricsFactory,
    LicenseFactory,
    ProxyCountFactory,
    VendorFactory,
    record,
)

pytestmark = pytest.mark.django_db


def rates(year: int) -> YearRates:
    return standing.rate_table().for_year(year)


def application(coverage="direct", files=("cpt-standard",), **fields):
    if coverage == "vendor":
        fields.setdefault("vendor", VendorFactory())
    return ApplicationFactory(cpt_coverage=coverage, data_files=list(files), **fields)


# money ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount, expected",
    [
        (Decimal("2.675"), Decimal("2.68")),  # a float would give 2.67
        (Decimal("0.125"), Decimal("0.13")),  # half-even would give 0.12
        (Decimal("0.005"), Decimal("0.01")),
        (Decimal("0.0049"), Decimal("0.00")),
        ("68", Decimal("68.00")),
        (0, Decimal("0.00")),
    ],
)
def test_money_rounds_half_up_to_cents(amount, expected):
    result = royalty.money(amount)
    assert result == expected
    assert str(result) == str(expected)


def _rates(per_user, *, year=2030, entity_fee=None, flat_fee=None, estimate=False):
    return YearRates(
        license_year=year,
        basis_year=year,
        is_estimate=estimate,
        entity_fee=entity_fee,
        entity_fee_estimated=False,
        per_user={"cpt-standard": Decimal(per_user)},
        flat_fee=flat_fee or {},
        source="test",
    )


@pytest.mark.parametrize(
    "per_user, users, expected",
    [
        ("18.125", 1, Decimal("18.13")),  # x.xx5 rounds up, not to even
        ("0.335", 3, Decimal("1.01")),  # 1.005 -> 1.01
        ("18.115", 1, Decimal("18.12")),
    ],
)
def test_application_royalty_rounds_half_up(per_user, users, expected):
    result = royalty.application_royalty(application(), users=users, rates=_rates(per_user))
    assert result.amount == expected


def test_projection_with_a_fractional_step_rounds_half_up():
    projected = royalty.project(_rates("18.50", year=2026), 2027, Decimal("0.125"))
    assert projected.per_user == {"cpt-standard": Decimal("18.63")}  # 18.625 -> 18.63


# Seeded rate table ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "year, per_user, entity_fee",
    [
        (2021, Decimal("17.00"), None),
        (2022, Decimal("17.00"), None),
        (2023, Decimal("17.50"), None),
        (2024, Decimal("18.00"), Decimal("82.50")),
        (2025, Decimal("18.50"), Decimal("82.50")),
        (2026, Decimal("18.50"), Decimal("82.50")),
    ],
)
def test_seeded_rates_per_year(year, per_user, entity_fee):
    year_rates = rates(year)
    assert year_rates.per_user["cpt-standard"] == per_user
    assert year_rates.entity_fee == entity_fee
    assert year_rates.is_estimate is False
    assert year_rates.basis_year == year
    assert year_rates.label == f"{year} published rates"


def test_seeded_2024_rate_sheet_has_every_data_file():
    year_rates = rates(2024)
    assert year_rates.per_user == {
        "cpt-standard": Decimal("18.00"),
        "cpt-rvu": Decimal("18.00"),
        "cpt-snomed": Decimal("5.35"),
        "ama-hcpcs": Decimal("19.00"),
        "ama-icd10": Decimal("21.50"),
    }
    assert year_rates.flat_fee == {"cpt-snomed": Decimal("1050.00")}
    assert year_rates.entity_fee_estimated is False


def test_2025_and_2026_entity_fee_is_carried_as_an_estimate():
    assert rates(2025).entity_fee_estimated is True
    assert rates(2026).entity_fee_estimated is True


def test_rates_are_data_an_edited_rate_is_used():
    rate = DataFileRate.objects.get(schedule__license_year=2026, data_file__code="cpt-standard")
    rate.per_user = Decimal("19.25")
    rate.save()
    result = royalty.application_royalty(application(), users=2, rates=rates(2026))
    assert (result.per_user, result.amount) == (Decimal("19.25"), Decimal("38.50"))


def test_for_year_makes_no_queries_once_loaded(django_assert_num_queries):
    table = standing.rate_table()
    table.for_year(2026)  # forces evaluation
    with django_assert_num_queries(0):
        table.for_year(2024)
        table.for_year(2028)


# Published figures ----------------------------------------------------------------------------


@pytest.mark.parametrize("coverage", ["direct", "vendor"])
def test_solo_ambulatory_practice_under_the_proxy_model_pays_68_dollars_in_2021(coverage):
    app = application(coverage, category=Application.Category.AMBULATORY_EHR)
    BaseMetricsFactory(organization=app.organization, license_year=2021, physicians=1)
    value, _, factor = standing.proxy_defaults(application=app, license_year=2021, base_metric="physicians")
    count = ProxyCountFactory(application=app, license_year=2021, metric_value=value, factor=factor)
    count.full_clean()
    assert count.users == 4
    result = royalty.application_royalty(app, users=count.users, rates=rates(2021))
    assert result.per_user == Decimal("17.00")
    assert result.amount == Decimal("68.00")
    assert result.is_estimate is False


def test_2023_costs_17_50_per_user():
    result = royalty.application_royalty(application(), users=10, rates=rates(2023))
    assert (result.per_user, result.amount) == (Decimal("17.50"), Decimal("175.00"))


def test_2024_direct_license_adds_the_82_50_entity_fee():
    app = application()
    result = royalty.organization_royalty([(app, 10, None)], rates=rates(2024))
    assert result.applications_total == Decimal("180.00")
    assert result.entity_fee == Decimal("82.50")
    assert result.total == Decimal("262.50")
    assert result.entity_fee_note == "Entity fee (published)"
    assert result.is_estimate is False


def test_vendor_processing_fee_on_the_2021_royalty_is_18_dollars_per_provider():
    vendor = VendorFactory(is_authorized_distributor=True, processing_fee_per_user=Decimal("1.00"))
    app = application("vendor", vendor=vendor)
    result = royalty.application_royalty(app, users=1, rates=rates(2021))
    assert (result.per_user, result.amount) == (Decimal("18.00"), Decimal("18.00"))
    assert royalty.application_royalty(app, users=4, rates=rates(2021)).amount == Decimal("72.00")


def test_distributor_processing_fee_comes_from_the_license():
    distributor = VendorFactory(processing_fee_per_user=Decimal("1.50"))
    app = application("distributor")
    license = LicenseFactory(application=app, license_year=2026, route="distributor", distributor=distributor)
    result = royalty.application_royalty(app, users=10, rates=rates(2026), license=license)
    assert (result.per_user, result.amount) == (Decimal("20.00"), Decimal("200.00"))


# Projection -----------------------------------------------------------------------------------


@pytest.mark.parametrize("year, expected", [(2027, Decimal("19.00")), (2028, Decimal("19.50"))])
def test_years_without_a_schedule_are_projected_and_labelled_estimates(year, expected):
    year_rates = rates(year)
    assert year_rates.per_user["cpt-standard"] == expected
    assert year_rates.is_estimate is True
    assert year_rates.basis_year == 2026
    assert "projected" in year_rates.label.lower()
    assert year_rates.label == f"{year} estimate, projected from 2026"
    assert year_rates.entity_fee == Decimal("82.50") and year_rates.entity_fee_estimated is True
    result = royalty.application_royalty(application(), users=10, rates=year_rates)
    assert result.is_estimate is True
    assert result.amount == expected * 10


def test_editing_the_projection_step_changes_the_projection():
    RateSchedule.objects.filter(license_year=2026).update(projection_step=Decimal("0.25"))
    assert rates(2027).per_user["cpt-standard"] == Decimal("18.75")
    assert rates(2028).per_user["cpt-standard"] == Decimal("19.00")
    RateSchedule.objects.filter(license_year=2026).update(projection_step=Decimal("0.00"))
    assert rates(2028).per_user["cpt-standard"] == Decimal("18.50")


def test_projected_organization_royalty_is_an_estimate():
    result = royalty.organization_royalty([(application(), 10, None)], rates=rates(2027))
    assert result.total == Decimal("272.50")  # 10 x 19.00 + 82.50
    assert result.is_estimate is True
    assert result.entity_fee_note == "Entity fee (estimated)"


def test_year_before_the_first_schedule_has_no_rates():
    with pytest.raises(RatesUnavailable) as caught:
        rates(2020)
    assert "2020" in str(caught.value)


def test_an_estimated_schedule_is_labelled_an_estimate():
    record(RateSchedule, license_year=2027, basis="estimated", entity_fee=Decimal("85.00"), source="Forecast")
    year_rates = rates(2027)
    assert year_rates.is_estimate is True
    assert year_rates.per_user == {}
    assert year_rates.label == "2027 estimated rates"


# Data files -----------------------------------------------------------------------------------


def test_multiple_data_files_sum_their_per_user_rates():
    result = royalty.application_royalty(application(files=("cpt-standard", "cpt-rvu")), users=10, rates=rates(2024))
    assert (result.per_user, result.flat_fees, result.amount) == (Decimal("36.00"), Decimal("0.00"), Decimal("360.00"))


def test_cpt_snomed_flat_fee_applies_to_a_direct_license():
    app = application(files=("cpt-standard", "cpt-snomed"))
    result = royalty.application_royalty(app, users=10, rates=rates(2024))
    assert result.per_user == Decimal("23.35")
    assert result.flat_fees == Decimal("1050.00")
    assert result.amount == Decimal("1283.50")  # 10 x (18.00 + 5.35) + 1,050


def test_cpt_snomed_flat_fee_does_not_apply_through_a_vendor():
    app = application("vendor", files=("cpt-standard", "cpt-snomed"))
    result = royalty.application_royalty(app, users=10, rates=rates(2024))
    assert (result.flat_fees, result.amount) == (Decimal("0.00"), Decimal("233.50"))


def test_a_data_file_without_a_rate_that_year_is_reported_unpriced():
    app = application(files=("cpt-standard", "cpt-snomed", "ama-hcpcs"))
    result = royalty.application_royalty(app, users=10, rates=rates(2025))
    assert set(result.unpriced_files) == {"cpt-snomed", "ama-hcpcs"}
    assert result.per_user == Decimal("18.50")
    assert result.flat_fees == Decimal("0.00")
    assert result.amount == Decimal("185.00")
    assert result.note.startswith("No 2025 rate for: ")


def test_no_data_files_selected_is_noted():
    result = royalty.application_royalty(application(files=()), users=10, rates=rates(2026))
    assert (result.amount, result.note) == (Decimal("0.00"), "No AMA data files selected")


def test_uncounted_users_give_no_amount():
    result = royalty.application_royalty(application(), users=None, rates=rates(2026))
    assert result.amount is None
    assert result.per_user == Decimal("18.50")
    assert result.note == "Users not counted"


# Entity fee and exemptions -------------------------------------------------------------------


def test_entity_fee_is_charged_once_per_legal_entity():
    first = application()
    second = application(organization=first.organization, files=("cpt-standard", "cpt-rvu"))
    result = royalty.organization_royalty([(first, 10, None), (second, 5, None)], rates=rates(2024))
    assert result.applications_total == Decimal("360.00")  # 180 + 5 x 36
    assert result.entity_fee == Decimal("82.50")
    assert result.total == Decimal("442.50")


def test_no_entity_fee_when_every_application_is_vendor_covered():
    first = application("vendor")
    second = application("vendor", organization=first.organization)
    result = royalty.organization_royalty([(first, 10, None), (second, 4, None)], rates=rates(2024))
    assert result.entity_fee == Decimal("0.00")
    assert result.entity_fee_note == "No direct license, so no entity fee"
    assert result.total == Decimal("252.00")  # 14 x 18.00


@pytest.mark.parametrize("year", [2021, 2022, 2023])
def test_entity_fee_is_reported_as_not_published_for_2021_to_2023(year):
    year_rates = rates(year)
    assert year_rates.entity_fee is None
    fee, note = royalty.entity_fee(year_rates, licenses_directly=True)
    assert (fee, note) == (Decimal("0.00"), f"No entity fee published for {year}: the total leaves it out")
    result = royalty.organization_royalty([(application(), 4, None)], rates=year_rates)
    assert result.entity_fee == Decimal("0.00")
    assert result.entity_fee_note == f"No entity fee published for {year}: the total leaves it out"
    assert result.total == result.applications_total


def test_no_cpt_application_costs_nothing():
    app = application("no_cpt", files=("cpt-standard",))
    result = royalty.application_royalty(app, users=25, rates=rates(2024))
    assert (result.amount, result.per_user, result.note) == (Decimal("0.00"), Decimal("0.00"), "No CPT content")
    org = royalty.organization_royalty([(app, 25, None)], rates=rates(2024))
    assert (org.entity_fee, org.total) == (Decimal("0.00"), Decimal("0.00"))


def test_license_not_required_costs_nothing_and_pays_no_entity_fee():
    app = application()
    license = LicenseFactory(application=app, license_year=2024, status="not_required", not_required_reason="Retired")
    result = royalty.application_royalty(app, users=10, rates=rates(2024), license=license)
    assert (result.amount, result.note, result.pays_entity_fee) == (Decimal("0.00"), "License not required", False)
    org = royalty.organization_royalty([(app, 10, license)], rates=rates(2024))
    assert (org.entity_fee, org.total) == (Decimal("0.00"), Decimal("0.00"))


def test_uncounted_applications_are_listed_but_no_cpt_ones_are_not():
    counted, uncounted, no_cpt = application(), application(), application("no_cpt")
    org = royalty.organization_royalty(
        [(counted, 2, None), (uncounted, None, None), (no_cpt, None, None)], rates=rates(2026)
    )
    assert org.uncounted == [uncounted]
    assert org.applications_total == Decimal("37.00")
    assert org.total == Decimal("119.50")
