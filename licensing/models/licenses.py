"""The entitlement to use CPT in one application for one license year."""

import datetime

from django.db import models
from django.urls import reverse

from licensing.audit.records import AuditedHistoricalRecords
from licensing.choices import LicenseRoute, LicenseStatus
from licensing.models import ranges
from licensing.models.applications import Application, Vendor
from licensing.models.years import LICENSE_YEAR_VALIDATORS, license_year_constraint
from licensing.ownership import OwnedBy
from licensing.versions import version_field


class License(models.Model):
    """A CPT license for one application and one calendar license year.

    The AMA requires a new license for each annual release (AMA, "Does your practice have
    compliant coding systems?"), so a renewal is a new row for the next year, never an edit.
    """

    Route = LicenseRoute
    Status = LicenseStatus

    application = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="licenses")
    license_year = models.PositiveSmallIntegerField(validators=LICENSE_YEAR_VALIDATORS)
    route = models.CharField(max_length=16, choices=Route.choices, default=Route.DIRECT)
    distributor = models.ForeignKey(
        Vendor,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="distributed_licenses",
        help_text="The authorized distributor or vendor the license comes through, if not direct.",
    )
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.NEEDED)
    licensed_users = models.IntegerField(null=True, blank=True, validators=ranges.people("Licensed users"))
    agreement_number = models.CharField("AMA agreement number", max_length=80, blank=True)
    starts_on = models.DateField(
        null=True,
        blank=True,
        help_text="Defaults to January 1 of the license year.",
    )
    ends_on = models.DateField(
        null=True,
        blank=True,
        help_text="Defaults to December 31 of the license year.",
    )
    not_required_reason = models.CharField(max_length=300, blank=True)
    renewal_of = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="renewed_by",
        help_text="The previous year's license this one renews.",
    )
    notes = models.TextField(blank=True)

    version = version_field()
    history = AuditedHistoricalRecords()
    ownership = OwnedBy("application__organization", label="{application} {license_year}", reason_required=True)

    class Meta:
        ordering = ["application", "-license_year"]
        indexes = [
            models.Index(fields=["license_year", "status"]),
            models.Index(fields=["status"]),
            models.Index(fields=["route"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["application", "license_year"],
                name="license_one_per_application_and_year",
                violation_error_message=(
                    "This application already has a license for that year; renew or edit it instead."
                ),
            ),
            license_year_constraint("license"),
            models.CheckConstraint(
                condition=models.Q(licensed_users__isnull=True) | models.Q(licensed_users__gte=0),
                name="license_users_not_negative",
                violation_error_message="Licensed users cannot be negative.",
            ),
            ranges.at_most_people("license_users_within_maximum", "licensed_users"),
            models.CheckConstraint(
                condition=models.Q(starts_on__isnull=True)
                | models.Q(ends_on__isnull=True)
                | models.Q(ends_on__gte=models.F("starts_on")),
                name="license_dates_ordered",
                violation_error_message="A license cannot end before it starts.",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=LicenseStatus.ACTIVE)
                | (models.Q(licensed_users__isnull=False) & ~models.Q(agreement_number="")),
                name="license_active_is_complete",
                violation_error_message="An active license needs its agreement number and licensed users.",
            ),
        ]

    def __str__(self):
        return f"{self.application.name} {self.license_year}"

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        self._stored_status = self.status

    def get_absolute_url(self):
        return reverse("admin:licensing_license_change", args=[self.pk])

    @classmethod
    def from_db(cls, db, field_names, values):
        license = super().from_db(db, field_names, values)
        # The status as stored: the workflow judges a change against it without reading the row again.
        license._stored_status = license.__dict__.get("status")
        return license

    def clean(self):
        from licensing import workflow

        previous = getattr(self, "_stored_status", None)
        if self.pk and previous is None:
            previous = License.objects.filter(pk=self.pk).values_list("status", flat=True).first()
        workflow.check_license(self, previous_status=previous)

    @property
    def term_start(self) -> datetime.date:
        return self.starts_on or datetime.date(self.license_year, 1, 1)

    @property
    def term_end(self) -> datetime.date:
        return self.ends_on or datetime.date(self.license_year, 12, 31)
