"""AMA royalty rates as data: one schedule per license year, one per-user rate per data file."""

from decimal import Decimal

from django.db import models

from licensing.audit.records import AuditedHistoricalRecords
from licensing.choices import RateBasis
from licensing.models import ranges
from licensing.models.applications import DataFile
from licensing.models.years import LICENSE_YEAR_VALIDATORS, license_year_constraint
from licensing.ownership import SharedReference


class RateSchedule(models.Model):
    """The AMA internal-use royalty for one license year: an entity fee plus per-user rates per data file.

    Source of the seeded figures: AMA "Internal Use License Agreement Royalty Rates for 2024, 2025
    and 2026" (compliance.ama-assn.org) and vendor FAQs for 2021-2023 (see docs/rules.md).
    """

    Basis = RateBasis

    license_year = models.PositiveSmallIntegerField(unique=True, validators=LICENSE_YEAR_VALIDATORS)
    basis = models.CharField(
        max_length=16,
        choices=Basis.choices,
        default=Basis.PUBLISHED,
        help_text="Published figures come from a rate sheet; estimated ones are a forecast.",
    )
    entity_fee = ranges.RangedDecimalField(
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        validators=ranges.amount("Entity fee", 10, 2),
        help_text="Charged once per legal entity licensing directly. Empty when no amount is published.",
    )
    entity_fee_estimated = models.BooleanField(
        default=False, help_text="Tick when the entity fee is carried over or forecast, not published."
    )
    projection_step = ranges.RangedDecimalField(
        "yearly increase for projections",
        max_digits=6,
        decimal_places=2,
        default=Decimal("0.50"),
        validators=ranges.amount("Yearly increase for projections", 6, 2),
        help_text="Added per year to each per-user rate to estimate later years that have no schedule.",
    )
    source = models.CharField(max_length=300, help_text="Rate sheet or page the figures come from.")
    source_url = models.URLField(max_length=300, blank=True)
    notes = models.TextField(blank=True)

    history = AuditedHistoricalRecords()
    ownership = SharedReference(
        label="{license_year} rates", money_fields=["entity_fee", "projection_step"], seeded_by_migration=True
    )

    class Meta:
        ordering = ["-license_year"]
        constraints = [
            license_year_constraint("rate_schedule"),
            models.CheckConstraint(
                condition=models.Q(entity_fee__isnull=True) | models.Q(entity_fee__gte=0),
                name="rate_schedule_entity_fee_not_negative",
                violation_error_message="Fees cannot be negative.",
            ),
        ]

    def __str__(self):
        return f"{self.license_year} rates ({self.get_basis_display().lower()})"


class DataFileRate(models.Model):
    """The per-user royalty (and any flat fee) for one AMA data file in one license year."""

    schedule = models.ForeignKey(RateSchedule, on_delete=models.CASCADE, related_name="rates")
    data_file = models.ForeignKey(DataFile, on_delete=models.PROTECT, related_name="rates")
    per_user = ranges.RangedDecimalField(
        "per user", max_digits=8, decimal_places=2, validators=ranges.amount("Per user", 8, 2)
    )
    flat_fee = ranges.RangedDecimalField(
        max_digits=10,
        decimal_places=2,
        default=Decimal("0.00"),
        validators=ranges.amount("Flat fee", 10, 2),
        help_text="A fixed yearly fee on top of the per-user rate, e.g. $1,050 for the CPT-SNOMED map in 2024.",
    )

    history = AuditedHistoricalRecords()
    ownership = SharedReference(
        label="{data_file} {schedule}", money_fields=["per_user", "flat_fee"], seeded_by_migration=True
    )

    class Meta:
        ordering = ["schedule", "data_file"]
        constraints = [
            models.UniqueConstraint(
                fields=["schedule", "data_file"],
                name="data_file_rate_one_per_schedule",
                violation_error_message="This data file already has a rate in that schedule.",
            ),
            models.CheckConstraint(
                condition=models.Q(per_user__gte=0, flat_fee__gte=0),
                name="data_file_rate_not_negative",
                violation_error_message="Fees cannot be negative.",
            ),
        ]

    def __str__(self):
        return f"{self.data_file} {self.schedule.license_year}: ${self.per_user}"
