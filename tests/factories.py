"""Factories for the licensing domain: valid objects with the fewest fields a test needs.

Records are saved through the audited write path (licensing.services.record_save), as the portal saves
them. SAMPLES holds one sample record per organization-owned model, for the tests that run over every
such model (scoping, read-only history, query counts): a model declared OwnedBy needs an entry there.
"""

import datetime
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.db import models

from licensing import ownership, services
from licensing.identifiers import npi_check_digit
from licensing.models import (
    Application,
    BaseMetrics,
    Contact,
    DataFile,
    DataImport,
    EvidenceFile,
    Filing,
    Job,
    License,
    Membership,
    Organization,
    ReminderSent,
    UserCount,
    Vendor,
)
from licensing.models.purges import RosterPurge
from licensing.models.reconciliation import FindingAcceptance, FindingKind
from licensing.models.rosters import Person, RoleMapping, Roster, RosterLine, UserKind

TEST_REASON = "Test data"

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


class AuditedFactory(factory.django.DjangoModelFactory):
    """A factory whose records are saved with a reason on their first history row, like every portal write."""

    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return services.record_save(model_class(*args, **kwargs), actor=None, reason=TEST_REASON, validate=False)


class OrganizationFactory(AuditedFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Lakeside Medical Center {n}")
    slug = factory.Sequence(lambda n: f"lakeside-{n}")
    kind = Organization.Kind.HOSPITAL
    ein = factory.Sequence(lambda n: f"{36 + n % 60:02d}{1000000 + n:07d}")
    npi = factory.LazyFunction(valid_npi)
    city = "Springfield"
    state = "IL"


class VendorFactory(AuditedFactory):
    class Meta:
        model = Vendor

    name = factory.Sequence(lambda n: f"Vendor {n}")
    is_authorized_distributor = True
    processing_fee_per_user = Decimal("0.00")


def data_file(code: str = "cpt-standard") -> DataFile:
    return DataFile.objects.get(code=code)


class ApplicationFactory(AuditedFactory):
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


class UserCountFactory(AuditedFactory):
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


class BaseMetricsFactory(AuditedFactory):
    class Meta:
        model = BaseMetrics

    organization = factory.SubFactory(OrganizationFactory)
    license_year = 2026
    physicians = 10


class LicenseFactory(AuditedFactory):
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


def record(model: type[models.Model], **fields) -> models.Model:
    """Save a record of `model` through the audited write path (for models without a factory)."""
    return services.record_save(model(**fields), actor=None, reason=TEST_REASON, validate=False)


@dataclass(frozen=True)
class Sample:
    """How to make one record of an organization-owned model for `organization`, named with `tag`."""

    build: Callable[[Organization, str, dict], models.Model]
    # A change that gives the record a second version (field -> value); empty saves it unchanged.
    edit: dict = field(default_factory=dict)


def sample_of(name: str, organization: Organization, tag: str, made: dict) -> models.Model:
    """The sample of model `name` for this organization, built once: a builder calls this for what it hangs on."""
    if name not in made:
        if name not in SAMPLES:
            raise LookupError(f"No Sample for {name}: add one to SAMPLES in tests/factories.py.")
        made[name] = SAMPLES[name].build(organization, tag, made)
    return made[name]


SAMPLES: dict[str, Sample] = {
    "organization": Sample(lambda org, tag, made: org, {"city": "Lakeview"}),
    "contact": Sample(
        lambda org, tag, made: record(Contact, organization=org, role="primary", name=f"{tag} Contact Person"),
        {"title": "Compliance lead"},
    ),
    "basemetrics": Sample(lambda org, tag, made: BaseMetricsFactory(organization=org), {"physicians": 11}),
    "application": Sample(
        lambda org, tag, made: ApplicationFactory(organization=org, name=f"{tag} Billing System"),
        {"owner": "Revenue cycle office"},
    ),
    "usercount": Sample(
        lambda org, tag, made: UserCountFactory(application=sample_of("application", org, tag, made)),
        {"direct_users": 12},
    ),
    "license": Sample(
        lambda org, tag, made: LicenseFactory(application=sample_of("application", org, tag, made)),
        {"licensed_users": 12},
    ),
    "membership": Sample(lambda org, tag, made: member(UserFactory(username=f"{tag.lower()}-staff"), org, "auditor")),
    "filing": Sample(
        lambda org, tag, made: record(Filing, organization=org, license_year=2026), {"signatory_name": "Pat Doe"}
    ),
    "dataimport": Sample(
        lambda org, tag, made: record(
            DataImport,
            organization=org,
            resource="applications",
            file_name=f"{tag}-applications.csv",
            file_sha256="0" * 64,
            outcome=DataImport.Outcome.PREVIEWED,
            reason=f"{tag} import",
        ),
        {"unchanged_rows": 3},
    ),
    # Written by licensing.jobs only; its second version is the job running.
    "job": Sample(
        lambda org, tag, made: record(
            Job,
            kind=Job.Kind.COMPLIANCE_REPORT,
            organization=org,
            title=f"{tag} compliance report",
            started_by_name=f"{tag.lower()}-officer",
        ),
        {"state": Job.State.RUNNING},
    ),
    # Written by send_reminders only and never edited in the portal: the second version saves it unchanged.
    "remindersent": Sample(
        lambda org, tag, made: record(
            ReminderSent,
            organization=org,
            recipient=UserFactory(username=f"{tag.lower()}-reminded"),
            recipient_name=f"{tag} Officer",
            recipient_email=f"{tag.lower()}-reminded@example.org",
            kind=ReminderSent.Kind.LICENSE_ENDING_30,
            record_type="licensing.license",
            object_id=sample_of("license", org, tag, made).pk,
            record_label=f"{tag} Billing System 2026 license",
            due_on=datetime.date(2026, 12, 31),
            reminder_date=datetime.date(2026, 12, 1),
            sent_at=datetime.datetime(2026, 12, 1, 7, 0, tzinfo=datetime.UTC),
            subject="CPT licensing: 1 item needs attention",
        ),
    ),
    "person": Sample(
        lambda org, tag, made: record(
            Person, organization=org, identifier=f"{tag}-E1", name=f"{tag} Staff Member", entity=org
        ),
        {"email": "staff.member@example.org"},
    ),
    "rolemapping": Sample(
        lambda org, tag, made: record(
            RoleMapping, application=sample_of("application", org, tag, made), role="Physician", kind=UserKind.DIRECT
        ),
        {"explanation": "Orders and documents with CPT codes"},
    ),
    "roster": Sample(
        lambda org, tag, made: record(
            Roster,
            application=sample_of("application", org, tag, made),
            license_year=2026,
            taken_on=datetime.date(2026, 1, 15),
            source=f"{tag} access list",
            file_name=f"{tag}-roster.csv",
            file_sha256="0" * 64,
        ),
        {"notes": "Checked against HR"},
    ),
    # Accepted on the reconciliation page (services.finding_accept); here saved directly, as any record can be.
    "findingacceptance": Sample(
        lambda org, tag, made: record(
            FindingAcceptance,
            organization=org,
            license_year=2026,
            kind=FindingKind.OUTSIDE_US,
            identifier=f"{tag.lower()}-e1",
            person_name=f"{tag} Staff Member",
            reason="Remote coder, covered by our license",
            accepted_at=datetime.datetime(2026, 2, 1, 9, 0, tzinfo=datetime.UTC),
        ),
        {"person_name": "Staff Member (renamed)"},
    ),
    "evidencefile": Sample(
        lambda org, tag, made: services.evidence_attach(
            evidence_file=EvidenceFile(
                organization=org, title=f"{tag} roster export", user_count=sample_of("usercount", org, tag, made)
            ),
            content=b"identifier,name,role\nE1,Pat Doe,Physician\n",
            name=f"{tag}-roster.csv",
            actor=None,
            reason=TEST_REASON,
        ),
        {"notes": "Checked against HR"},
    ),
    # Written by the retention purge (services.roster_people_purge); here saved directly, as any record can be.
    "rosterpurge": Sample(
        lambda org, tag, made: record(
            RosterPurge,
            organization=org,
            purged_at=datetime.datetime(2026, 3, 1, 9, 0, tzinfo=datetime.UTC),
            retention_years=7,
            taken_before=datetime.date(2019, 3, 1),
            rosters=f"{tag} access list of 2018",
            roster_count=1,
            people_purged=0,
            chains_purged=0,
            digest_before="0" * 64,
            digest_after="0" * 64,
        ),
        {"purged_by_name": "admin"},
    ),
    # Written by roster imports only; its second version is a kind the role mapping changed.
    "rosterline": Sample(
        lambda org, tag, made: record(
            RosterLine,
            roster=sample_of("roster", org, tag, made),
            person=sample_of("person", org, tag, made),
            line=2,
            role="Physician",
            kind=UserKind.DIRECT,
        ),
        {"kind": UserKind.PROGRAM},
    ),
}


def organization_model_names() -> list[str]:
    return [model._meta.model_name for model in ownership.organization_models()]


def sample_records(organization: Organization, tag: str, made: dict | None = None) -> dict[str, models.Model]:
    """One record of every organization-owned model, for `organization`; names carry `tag` so leaks show.

    `made` may hold records built already (by model name); the others' samples reuse them (sample_of).
    """
    made = dict(made or {})
    for name in organization_model_names():
        sample_of(name, organization, tag, made)
    return made


def sign_in_records(person) -> None:
    """One record of each sign-in model (django-axes' attempts and logs, django-otp's devices) for `person`, so
    the enumerated tests open every page of their admins with a real id. Not for a person who signs in in the
    test: a device makes the portal ask for their code first."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    # A locked-out name of nobody signed in: a successful sign-in clears its own name's attempts.
    seen = {"username": "locked-out-someone", "ip_address": "127.0.0.1", "user_agent": "test", "path_info": "/admin/"}
    AccessAttempt.objects.create(**seen, failures_since_start=1)
    AccessFailureLog.objects.create(**seen)
    AccessLog.objects.create(**seen)
    TOTPDevice.objects.create(user=person, name="Phone")
    StaticDevice.objects.create(user=person, name="Backup codes")
