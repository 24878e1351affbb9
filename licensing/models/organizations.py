"""Legal entities, their contacts and the base metrics the User Proxy Model draws on."""

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.urls import reverse

from licensing.audit.records import AuditedHistoricalRecords
from licensing.choices import ContactRole, OrganizationKind
from licensing.identifiers import DigitsField, format_ein, validate_ein, validate_npi, validate_state
from licensing.models import ranges
from licensing.models.years import LICENSE_YEAR_VALIDATORS, license_year_constraint
from licensing.ownership import OwnedBy
from licensing.versions import version_field

# A health system, its hospitals and their departments: deeper trees are refused so that
# scoping stays one SQL filter (see licensing.access).
MAX_HIERARCHY_DEPTH = 3


class Organization(models.Model):
    """A legal entity that uses CPT in its software. The AMA charges its entity fee per legal entity."""

    Kind = OrganizationKind

    name = models.CharField("legal name", max_length=200)
    slug = models.SlugField(max_length=80, unique=True, help_text="Short name used in file names and URLs.")
    kind = models.CharField(max_length=32, choices=Kind.choices, default=Kind.HOSPITAL)
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="affiliates",
        verbose_name="parent organization",
        help_text="The health system or parent company this entity belongs to, if any.",
    )
    ein = DigitsField(
        "EIN", max_length=9, blank=True, validators=[validate_ein], display=format_ein, help_text="Like 12-3456789."
    )
    npi = DigitsField(
        "NPI", max_length=10, blank=True, validators=[validate_npi], help_text="Type 2 (organization) NPI."
    )
    street = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(
        max_length=2,
        blank=True,
        help_text="Two-letter postal code of a US state or territory, e.g. IL.",
        validators=[validate_state],
    )
    postal_code = models.CharField(
        "ZIP code",
        max_length=10,
        blank=True,
        validators=[
            RegexValidator(r"^[0-9]{5}(-[0-9]{4})?$", "Enter a ZIP code of 5 digits, or ZIP+4, e.g. 62701-1234.")
        ],
    )
    phone = models.CharField(max_length=40, blank=True)
    notes = models.TextField(blank=True)

    version = version_field()
    history = AuditedHistoricalRecords()
    ownership = OwnedBy("", label="{name}")

    class Meta:
        ordering = ["name", "pk"]
        indexes = [models.Index(fields=["name"])]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("admin:licensing_organization_change", args=[self.pk])

    def clean(self):
        ancestors = 0
        node = self.parent
        while node is not None:
            if node.pk == self.pk and self.pk is not None:
                raise ValidationError({"parent": "An organization cannot be its own parent or ancestor."})
            ancestors += 1
            if ancestors >= MAX_HIERARCHY_DEPTH:
                break
            node = node.parent
        if ancestors + 1 + self.levels_below() > MAX_HIERARCHY_DEPTH:
            raise ValidationError(
                {
                    "parent": f"Organizations nest at most {MAX_HIERARCHY_DEPTH} levels deep "
                    "(system, member, department); with this parent, this organization or its affiliates "
                    "would sit deeper. Choose a higher-level parent."
                }
            )
        if self.state:
            self.state = self.state.upper()

    def levels_below(self) -> int:
        """How many levels of affiliates hang under this organization (0, 1 or 2)."""
        if self.pk is None:
            return 0
        if Organization.objects.filter(parent__parent=self).exists():
            return 2
        return 1 if Organization.objects.filter(parent=self).exists() else 0

    @property
    def address(self) -> str:
        line2 = " ".join(part for part in [self.state, self.postal_code] if part)
        return ", ".join(part for part in [self.street, self.city, line2] if part)


class Contact(models.Model):
    """A person the AMA or the portal may contact on the organization's behalf."""

    Role = ContactRole

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="contacts")
    role = models.CharField(max_length=16, choices=Role.choices)
    name = models.CharField(max_length=200)
    title = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)

    history = AuditedHistoricalRecords()
    ownership = OwnedBy("organization", label="{name} ({role})")

    class Meta:
        ordering = ["organization", "role"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "role"],
                name="contact_one_per_role",
                violation_error_message="This organization already has a contact in that role.",
            )
        ]

    def __str__(self):
        return f"{self.name} ({self.get_role_display()})"


class BaseMetrics(models.Model):
    """An organization's size in one license year: the base metrics of the AMA User Proxy Model.

    Source: AMA, "CPT licensing for health care delivery organizations" (the UPM estimates
    users from base metrics such as physicians and staffed beds).
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="base_metrics")
    license_year = models.PositiveSmallIntegerField(validators=LICENSE_YEAR_VALIDATORS)
    physicians = models.PositiveIntegerField(null=True, blank=True, validators=ranges.people("Physicians"))
    billing_providers = models.PositiveIntegerField(
        null=True, blank=True, validators=ranges.people("Billing providers")
    )
    staffed_beds = models.PositiveIntegerField(null=True, blank=True, validators=ranges.people("Staffed beds"))
    employees = models.PositiveIntegerField(null=True, blank=True, validators=ranges.people("Employees"))
    source = models.CharField(
        max_length=300, blank=True, help_text="Where the figures come from, e.g. HR roster 2026-01-05."
    )

    history = AuditedHistoricalRecords()
    ownership = OwnedBy("organization", label="{organization} {license_year}")

    class Meta:
        verbose_name = "base metrics"
        verbose_name_plural = "base metrics"
        ordering = ["organization", "-license_year"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "license_year"],
                name="base_metrics_one_per_year",
                violation_error_message="Base metrics for this organization and year already exist; edit them instead.",
            ),
            license_year_constraint("base_metrics"),
            ranges.at_most_people(
                "base_metrics_within_maximum", "physicians", "billing_providers", "staffed_beds", "employees"
            ),
        ]

    def __str__(self):
        return f"{self.organization} {self.license_year}"

    def value_of(self, metric: str):
        return getattr(self, metric, None)
