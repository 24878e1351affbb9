"""Factories for the licensing domain: valid objects with the fewest fields a test needs."""

import itertools
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from licensing import services
from licensing.identifiers import npi_check_digit
from licensing.models import (
    Application,
    BaseMetrics,
    DataFile,
    License,
    Membership,
    Organization,
    UserCount,
    Vendor,
)

_npi_serial = itertools.count(100000001)


def valid_npi() -> str:
    first_nine = f"{next(_npi_serial):09d}"
    return first_nine + str(npi_check_digit(first_nine))


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"person{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.org")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery staple")

    @factory.post_generation
    def save_password(self, create, extracted, **kwargs):
        if create:
            self.save()


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Lakeside Medical Center {n}")
    slug = factory.Sequence(lambda n: f"lakeside-{n}")
    kind = Organization.Kind.HOSPITAL
    ein = factory.Sequence(lambda n: f"{36 + n % 60:02d}{1000000 + n:07d}")
    npi = factory.LazyFunction(valid_npi)
    city = "Springfield"
    state = "IL"


class VendorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Vendor

    name = factory.Sequence(lambda n: f"Vendor {n}")
    is_authorized_distributor = True
    processing_fee_per_user = Decimal("0.00")


def data_file(code: str = "cpt-standard") -> DataFile:
    return DataFile.objects.get(code=code)


class ApplicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Application
        skip_postgeneration_save = True

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"System {n}")
    category = Application.Category.BILLING_RCM
    cpt_coverage = Application.Coverage.DIRECT

    @factory.post_generation
    def data_files(self, create, extracted, **kwargs):
        if not create:
            return
        codes = extracted if extracted is not None else ["cpt-standard"]
        self.data_files.set(DataFile.objects.filter(code__in=codes))


class UserCountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UserCount

    application = factory.SubFactory(ApplicationFactory)
    license_year = 2026
    method = UserCount.Method.COUNTED
    direct_users = 10
    program_users = 0
    output_users = 0


class ProxyCountFactory(UserCountFactory):
    method = UserCount.Method.PROXY
    direct_users = None
    program_users = None
    output_users = None
    base_metric = "physicians"
    metric_value = Decimal("1")
    factor = Decimal("4")


class BaseMetricsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BaseMetrics

    organization = factory.SubFactory(OrganizationFactory)
    license_year = 2026
    physicians = 10


class LicenseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = License

    application = factory.SubFactory(ApplicationFactory)
    license_year = 2026
    route = License.Route.DIRECT
    status = License.Status.ACTIVE
    licensed_users = 10
    agreement_number = factory.Sequence(lambda n: f"AMA-IU-{n:06d}")


def member(user, organization, role=Membership.Role.OFFICER) -> Membership:
    """Give `user` a role at `organization` the way the portal does, groups included."""
    return services.membership_grant(user=user, organization=organization, role=role, actor=None)
