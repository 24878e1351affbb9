"""Users of an application: counted (a)+(b)+(c) or User Proxy Model (metric x factor, rounded up)."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from licensing import counting, standing
from licensing.models import Application, UserCount
from tests.factories import ApplicationFactory, BaseMetricsFactory, ProxyCountFactory, UserCountFactory

# Pure functions --------------------------------------------------------------------------------


def test_counted_users_add_the_three_kinds():
    assert counting.counted_users(3, 4, 5) == 12
    assert counting.counted_users(7, None, None) == 7
    assert counting.counted_users(None, None, None) == 0


@pytest.mark.parametrize(
    "value, factor, expected",
    [
        ("2.5", "4", 10),
        ("3", "1.5", 5),  # 4.5 -> 5
        ("0.1", "4.01", 1),  # 0.401 -> 1
        ("1", "4", 4),
        ("2", "4", 8),  # exact products are not bumped up
        ("7", "1.001", 8),  # 7.007 -> 8
        ("0", "4", 0),
    ],
)
def test_proxy_users_round_up(value, factor, expected):
    result = counting.proxy_users(Decimal(value), Decimal(factor))
    assert result == expected
    assert isinstance(result, int)


def test_proxy_users_without_inputs_is_none():
    assert counting.proxy_users(None, Decimal("4")) is None
    assert counting.proxy_users(Decimal("3"), None) is None


def test_users_of_no_count_is_none():
    assert counting.users(None) is None


def test_users_of_a_counted_count():
    count = UserCountFactory.build(direct_users=5, program_users=3, output_users=2)
    assert counting.users(count) == 10
    assert count.users == 10


def test_users_of_a_proxy_count():
    count = ProxyCountFactory.build(metric_value=Decimal("2.5"), factor=Decimal("4"))
    assert counting.users(count) == 10


def test_users_of_a_proxy_count_missing_its_factor_is_none():
    count = ProxyCountFactory.build(factor=None)
    assert counting.users(count) is None


# check ----------------------------------------------------------------------------------------


def test_check_refuses_a_counted_count_with_nobody():
    count = UserCountFactory.build(direct_users=0, program_users=None, output_users=0)
    with pytest.raises(ValidationError) as caught:
        counting.check(count)
    assert list(caught.value.message_dict) == ["direct_users"]
    assert "at least one person" in caught.value.message_dict["direct_users"][0]


@pytest.mark.django_db
@pytest.mark.parametrize("field", counting.USER_KINDS)
def test_negative_users_are_refused_once_on_their_field(field):
    count = UserCountFactory.build(application=ApplicationFactory(), direct_users=5, program_users=5, output_users=5)
    setattr(count, field, -1)
    with pytest.raises(ValidationError) as caught:
        count.full_clean()
    kind = {"direct_users": "a", "program_users": "b", "output_users": "c"}[field]
    assert caught.value.message_dict == {field: [f"Users under ({kind}) must be between 0 and 10,000,000."]}


def test_check_leaves_negative_users_to_the_field_validators():
    counting.check(UserCountFactory.build(direct_users=5, program_users=-1, output_users=0))


def test_check_accepts_a_count_with_people_under_any_kind():
    counting.check(UserCountFactory.build(direct_users=0, program_users=0, output_users=1))


@pytest.mark.parametrize("field", ["base_metric", "metric_value", "factor"])
def test_check_refuses_a_proxy_count_missing_an_input(field):
    count = ProxyCountFactory.build()
    setattr(count, field, "" if field == "base_metric" else None)
    with pytest.raises(ValidationError) as caught:
        counting.check(count)
    assert list(caught.value.message_dict) == [field]


def test_check_refuses_a_proxy_count_missing_everything_on_each_field():
    count = ProxyCountFactory.build(base_metric="", metric_value=None, factor=None)
    with pytest.raises(ValidationError) as caught:
        counting.check(count)
    assert set(caught.value.message_dict) == {"base_metric", "metric_value", "factor"}


def test_check_accepts_a_complete_proxy_count():
    counting.check(ProxyCountFactory.build())


# full_clean (field validators + check) --------------------------------------------


@pytest.mark.django_db
def test_full_clean_refuses_a_negative_proxy_metric():
    count = ProxyCountFactory.build(application=ApplicationFactory(), metric_value=Decimal("-1"))
    with pytest.raises(ValidationError) as caught:
        count.full_clean()
    assert "metric_value" in caught.value.message_dict


@pytest.mark.django_db
def test_full_clean_refuses_a_zero_factor():
    count = ProxyCountFactory.build(application=ApplicationFactory(), factor=Decimal("0"))
    with pytest.raises(ValidationError) as caught:
        count.full_clean()
    assert "factor" in caught.value.message_dict


@pytest.mark.django_db
def test_full_clean_refuses_negative_counted_users():
    count = UserCountFactory.build(application=ApplicationFactory(), direct_users=10, output_users=-2)
    with pytest.raises(ValidationError) as caught:
        count.full_clean()
    assert caught.value.message_dict["output_users"][0] == "Users under (c) must be between 0 and 10,000,000."


# one method per count: the other method's inputs are refused, never dropped --------------------


def test_check_refuses_proxy_inputs_on_a_counted_count():
    count = UserCountFactory.build(
        direct_users=3, base_metric="physicians", metric_value=Decimal("2"), factor=Decimal("4"), metric_source="HR"
    )
    with pytest.raises(ValidationError) as caught:
        counting.check(count)
    assert set(caught.value.message_dict) == {"base_metric", "metric_value", "factor", "metric_source"}
    assert (
        "input of the User Proxy Model, but the count's method is Counted users"
        in caught.value.message_dict["factor"][0]
    )


def test_check_refuses_head_counts_on_a_proxy_count():
    count = ProxyCountFactory.build(direct_users=3, program_users=None, output_users=0)
    with pytest.raises(ValidationError) as caught:
        counting.check(count)
    assert set(caught.value.message_dict) == {"direct_users", "output_users"}
    assert "head count, but the count's method is User Proxy Model" in caught.value.message_dict["direct_users"][0]


@pytest.mark.django_db
def test_full_clean_keeps_a_mixed_count_out_of_the_database():
    count = UserCountFactory.build(
        application=ApplicationFactory(),
        direct_users=3,
        base_metric="physicians",
        metric_value=Decimal("9"),
        factor=Decimal("4"),
    )
    with pytest.raises(ValidationError):
        count.full_clean()
    assert not UserCount.objects.exists()


# explain --------------------------------------------------------------------------------------


def test_explain_a_counted_count():
    count = UserCountFactory.build(direct_users=5, program_users=None, output_users=2)
    assert counting.explain(count) == "5 (a) + 0 (b) + 2 (c) = 7 counted users"


def test_explain_a_proxy_count():
    count = ProxyCountFactory.build(metric_value=Decimal("2.5"), factor=Decimal("4"))
    assert counting.explain(count) == "2.5 physicians x 4 = 10 users (User Proxy Model)"


# proxy_defaults: the seeded factor ------------------------------------------------------------


@pytest.mark.django_db
def test_proxy_defaults_take_the_seeded_ambulatory_ehr_factor_and_the_base_metrics():
    application = ApplicationFactory(category=Application.Category.AMBULATORY_EHR)
    BaseMetricsFactory(organization=application.organization, license_year=2021, physicians=1, source="Roster 2021")
    value, source, factor = standing.proxy_defaults(
        application=application, license_year=2021, base_metric="physicians"
    )
    assert (value, source, factor) == (Decimal("1"), "Roster 2021", Decimal("4"))
    assert counting.proxy_users(value, factor) == 4


@pytest.mark.django_db
def test_proxy_defaults_without_reference_data_are_none():
    application = ApplicationFactory(category=Application.Category.BILLING_RCM)
    assert standing.proxy_defaults(application=application, license_year=2026, base_metric="staffed_beds") == (
        None,
        None,
        None,
    )


@pytest.mark.django_db
def test_proxy_defaults_name_a_default_source_when_none_recorded():
    application = ApplicationFactory(category=Application.Category.AMBULATORY_EHR)
    BaseMetricsFactory(organization=application.organization, license_year=2026, physicians=3, source="")
    assert standing.proxy_defaults(application=application, license_year=2026, base_metric="physicians") == (
        Decimal("3"),
        "Base metrics 2026",
        Decimal("4"),
    )


# Database constraints -------------------------------------------------------------------------


@pytest.mark.django_db
def test_second_count_for_the_same_application_and_year_is_refused_by_the_database():
    first = UserCountFactory(license_year=2026)
    with pytest.raises(IntegrityError), transaction.atomic():
        UserCountFactory(application=first.application, license_year=2026)
    UserCountFactory(application=first.application, license_year=2025)  # another year is fine
    assert UserCount.objects.filter(application=first.application).count() == 2


@pytest.mark.django_db
def test_second_count_for_the_same_application_and_year_is_refused_by_full_clean():
    first = UserCountFactory(license_year=2026)
    duplicate = UserCountFactory.build(application=first.application, license_year=2026)
    with pytest.raises(ValidationError) as caught:
        duplicate.full_clean()
    assert "This application already has a user count for that year; edit it instead." in caught.value.messages


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["direct_users", "program_users", "output_users"])
def test_negative_users_are_refused_by_the_database(field):
    application = ApplicationFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        UserCountFactory(application=application, **{"direct_users": 5, field: -1})
    assert not UserCount.objects.filter(application=application).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "missing", [{"base_metric": ""}, {"metric_value": None}, {"factor": None}], ids=lambda m: next(iter(m))
)
def test_incomplete_proxy_count_is_refused_by_the_database(missing):
    # Saved without full_clean, as a bulk import or a raw save would: the CHECK constraint
    # user_count_proxy_complete must refuse a proxy row that cannot give a number of users.
    application = ApplicationFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        ProxyCountFactory(application=application, **missing)
    assert not UserCount.objects.filter(application=application).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("year", [1999, 2101])
def test_license_year_out_of_range_is_refused(year):
    application = ApplicationFactory()
    with pytest.raises(ValidationError) as caught:
        UserCountFactory.build(application=application, license_year=year).full_clean()
    assert "license_year" in caught.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        UserCountFactory(application=application, license_year=year)


@pytest.mark.django_db
@pytest.mark.parametrize("year", [2000, 2100])
def test_license_year_bounds_are_accepted(year):
    count = UserCountFactory(license_year=year)
    count.full_clean()
    assert UserCount.objects.get(pk=count.pk).license_year == year
