"""The CPT licensing application sent to the AMA: drafted from the data, frozen when submitted."""

from django.conf import settings
from django.db import models
from django.urls import reverse

from licensing.audit.records import AuditedHistoricalRecords
from licensing.choices import FilingStatus
from licensing.models import ranges
from licensing.models.applications import Application
from licensing.models.organizations import Organization
from licensing.models.years import LICENSE_YEAR_VALIDATORS, license_year_constraint
from licensing.ownership import OwnedBy
from licensing.versions import version_field


class Filing(models.Model):
    """One licensing application for one organization and license year.

    Submitting freezes it: the data snapshot and the PDF bytes are stored with their SHA-256, and
    later edits to counts, licenses or the template never change what was sent. A correction is a
    new filing that supersedes this one.
    """

    Status = FilingStatus

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="filings")
    license_year = models.PositiveSmallIntegerField(validators=LICENSE_YEAR_VALIDATORS)
    applications = models.ManyToManyField(
        Application,
        blank=True,
        related_name="filings",
        verbose_name="included applications",
        help_text="By default every application of the organization that needs a direct license that year.",
    )
    signatory_name = models.CharField(max_length=200, blank=True)
    signatory_title = models.CharField(max_length=200, blank=True)
    attests_accurate = models.BooleanField(
        "information is accurate and complete",
        default=False,
        help_text="The signatory confirms the responses are accurate and complete.",
    )
    attests_will_report_changes = models.BooleanField(
        "will notify the AMA of changes",
        default=False,
        help_text="The signatory agrees to tell the AMA when this information changes.",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    submitted_at = models.DateTimeField(
        null=True, blank=True, editable=False, validators=ranges.dates_in_service("Submitted at")
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, editable=False, related_name="+"
    )
    ama_reference = models.CharField("AMA reference", max_length=80, blank=True)
    supersedes = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="superseded_by",
        help_text="The submitted filing this one corrects.",
    )
    snapshot = models.JSONField(
        null=True, blank=True, editable=False, help_text="The data as sent, frozen on submission."
    )
    pdf = models.BinaryField(null=True, blank=True, editable=False)
    pdf_sha256 = models.CharField("PDF SHA-256", max_length=64, blank=True, editable=False)

    # The PDF bytes stay out of each history row (they can be large); their SHA-256 is in it.
    version = version_field()
    history = AuditedHistoricalRecords(excluded_fields=["pdf"], m2m_fields=[applications])
    ownership = OwnedBy("organization", label="CPT license application {license_year}")

    class Meta:
        ordering = ["-license_year", "organization", "-pk"]
        indexes = [models.Index(fields=["organization", "license_year"]), models.Index(fields=["status"])]
        constraints = [
            license_year_constraint("filing"),
            models.CheckConstraint(
                condition=models.Q(status=FilingStatus.DRAFT)
                | (models.Q(submitted_at__isnull=False) & ~models.Q(pdf_sha256="")),
                name="filing_submitted_is_frozen",
                violation_error_message="A submitted filing must carry its frozen PDF and hash.",
            ),
        ]

    def __str__(self):
        return f"CPT license application {self.license_year} - {self.organization}"

    def get_absolute_url(self):
        return reverse("admin:licensing_filing_change", args=[self.pk])

    @property
    def document_id(self) -> str:
        return f"CPT-LA-{self.license_year}-{self.organization_id:05d}-{self.pk or 0:06d}"

    @property
    def file_name(self) -> str:
        return f"CPT-license-application_{self.organization.slug}_{self.license_year}.pdf"

    @property
    def is_frozen(self) -> bool:
        return self.status != self.Status.DRAFT
