"""Software applications that contain or rely on CPT, their vendors and the AMA data files they use."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from licensing import choices
from licensing.audit.records import AuditedHistoricalRecords
from licensing.models import ranges
from licensing.models.organizations import Organization
from licensing.ownership import OwnedBy, SharedReference
from licensing.versions import version_field


class DataFile(models.Model):
    """An AMA data file licensed per user: CPT Standard, CPT RVUs, CPT-SNOMED map, AMA HCPCS II, AMA ICD-10.

    Source: AMA Internal Use License Agreement royalty rates for 2024, 2025 and 2026
    (compliance.ama-assn.org), which prices each data file separately.
    """

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)

    history = AuditedHistoricalRecords()
    ownership = SharedReference(label="{name}", seeded_by_migration=True)

    class Meta:
        ordering = ["pk"]
        verbose_name = "AMA data file"

    def __str__(self):
        return self.name


class Vendor(models.Model):
    """The maker of an application, possibly an AMA-authorized CPT distributor passing the royalty on."""

    name = models.CharField(max_length=200, unique=True)
    is_authorized_distributor = models.BooleanField(
        "AMA-authorized distributor",
        default=False,
        help_text="Holds an AMA distribution license, so it may embed CPT and sublicense it to customers.",
    )
    distribution_agreement_expires = models.DateField(
        null=True, blank=True, validators=ranges.dates_of_agreements("Distribution agreement expires")
    )
    processing_fee_per_user = ranges.RangedDecimalField(
        max_digits=8,
        decimal_places=2,
        default=Decimal("0.00"),
        validators=ranges.amount("Processing fee per user", 8, 2),
        help_text="What the vendor adds to the AMA royalty per user or provider, e.g. 1.00.",
    )
    website = models.URLField(blank=True)
    notes = models.TextField(blank=True)

    history = AuditedHistoricalRecords()
    ownership = SharedReference(label="{name}", money_fields=["processing_fee_per_user"], officers_may=["add"])

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(processing_fee_per_user__gte=0),
                name="vendor_processing_fee_not_negative",
                violation_error_message="A processing fee cannot be negative.",
            )
        ]

    def __str__(self):
        return self.name

    def clean(self):
        if self.distribution_agreement_expires and not self.is_authorized_distributor:
            raise ValidationError(
                {
                    "distribution_agreement_expires": "Only an authorized distributor has a distribution agreement; "
                    "tick the box or clear the date."
                }
            )


class Application(models.Model):
    """One software system of one organization that contains or relies on CPT; the AMA licenses each separately.

    Source: AMA, "CPT licensing for health care delivery organizations": an HCDO must license
    each individual application that uses CPT.
    """

    Category = choices.ApplicationCategory
    Deployment = choices.Deployment
    Coverage = choices.Coverage

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="applications")
    name = models.CharField("system name", max_length=200)
    category = models.CharField(max_length=32, choices=Category.choices)
    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, null=True, blank=True, related_name="applications")
    product_version = models.CharField(max_length=80, blank=True)
    deployment = models.CharField(max_length=16, choices=Deployment.choices, default=Deployment.ON_PREMISE)
    cpt_coverage = models.CharField(
        "how CPT is covered",
        max_length=16,
        choices=Coverage.choices,
        default=Coverage.DIRECT,
        help_text="Who licenses the CPT content in this system to the organization: the organization itself "
        "(AMA internal-use license), the vendor (its AMA distribution license) or a distributor such as Optum360.",
    )
    data_files = models.ManyToManyField(
        DataFile, blank=True, related_name="applications", verbose_name="AMA data files used"
    )
    internal_use = models.TextField(
        "how CPT is used internally", blank=True, help_text="E.g. charge capture and claim coding in the clinics."
    )
    internet_facing = models.BooleanField(
        default=False, help_text="Used over the Internet, e.g. a patient portal or SaaS."
    )
    internet_use = models.CharField("Internet use explained", max_length=300, blank=True)
    users_outside_us = models.BooleanField("users outside the US", default=False)
    countries_outside_us = models.CharField("countries", max_length=300, blank=True)
    users_at_other_entities = models.ManyToManyField(
        Organization,
        blank=True,
        related_name="applications_used_by_staff",
        verbose_name="users at other legal entities",
        help_text="Separate legal entities (parent, affiliates, clinics) whose staff use this system.",
    )
    in_service_from = models.DateField(null=True, blank=True, validators=ranges.dates_in_service("In service from"))
    in_service_to = models.DateField(
        null=True,
        blank=True,
        validators=ranges.dates_in_service("In service to"),
        help_text="Leave empty while the system is in use.",
    )
    owner = models.CharField("system owner", max_length=200, blank=True, help_text="Person or department accountable.")
    notes = models.TextField(blank=True)

    version = version_field()
    history = AuditedHistoricalRecords(m2m_fields=[data_files, users_at_other_entities])
    ownership = OwnedBy("organization", label="{name}")

    class Meta:
        ordering = ["organization", "name", "pk"]
        indexes = [
            models.Index(fields=["category"]),
            models.Index(fields=["cpt_coverage"]),
            models.Index(fields=["name"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"],
                name="application_unique_name_per_organization",
                violation_error_message="This organization already has an application with that name.",
            ),
            models.CheckConstraint(
                condition=models.Q(in_service_to__isnull=True)
                | models.Q(in_service_from__isnull=True)
                | models.Q(in_service_to__gte=models.F("in_service_from")),
                name="application_in_service_dates_ordered",
                violation_error_message="The end of service cannot be before its start.",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.organization})"

    def get_absolute_url(self):
        return reverse("admin:licensing_application_change", args=[self.pk])

    def clean(self):
        errors = {}
        if self.in_service_from and self.in_service_to and self.in_service_to < self.in_service_from:
            errors["in_service_to"] = "The end of service is before its start; correct one of the two dates."
        if self.users_outside_us and not self.countries_outside_us.strip():
            errors["countries_outside_us"] = "Name the countries where users sit; the AMA application asks for them."
        if self.internet_facing and not self.internet_use.strip():
            errors["internet_use"] = (
                "Explain how the system is used over the Internet; the AMA application asks for it."
            )
        if self.cpt_coverage == self.Coverage.VENDOR and self.vendor_id is None:
            errors["vendor"] = "CPT covered by the vendor's license needs the vendor; choose it."
        if errors:
            raise ValidationError(errors)

    @property
    def has_cpt(self) -> bool:
        return self.cpt_coverage != self.Coverage.NO_CPT

    def in_service_during(self, year: int) -> bool:
        starts_before_end = self.in_service_from is None or self.in_service_from.year <= year
        ends_after_start = self.in_service_to is None or self.in_service_to.year >= year
        return starts_before_end and ends_after_start
