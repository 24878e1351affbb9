"""How many CPT users each application has in a license year, and how that number was derived."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.urls import reverse

from licensing import counting
from licensing.audit.records import AuditedHistoricalRecords
from licensing.choices import BaseMetric, CountMethod
from licensing.models import ranges
from licensing.models.applications import Application
from licensing.models.years import LICENSE_YEAR_VALIDATORS, license_year_constraint
from licensing.ownership import OwnedBy, SharedReference
from licensing.versions import version_field

__all__ = ["BaseMetric", "ProxyFactor", "UserCount"]


class ProxyFactor(models.Model):
    """Users per unit of a base metric for one kind of application; the default for proxy counts.

    The only public factor is 4 users per physician for an ambulatory EHR (Practice Fusion's AMA
    FAQ, quoting the AMA); others come from the AMA's toolkit given to licensees.
    """

    category = models.CharField(max_length=32, choices=Application.Category.choices)
    base_metric = models.CharField(max_length=32, choices=BaseMetric.choices)
    factor = ranges.RangedDecimalField(
        max_digits=8, decimal_places=3, validators=ranges.between("Factor", Decimal("0.001"), ranges.largest(8, 3))
    )
    source = models.CharField(max_length=300, help_text="Where the factor comes from, with a link if public.")
    notes = models.TextField(blank=True)

    history = AuditedHistoricalRecords()
    ownership = SharedReference(label="{category}: {base_metric}", seeded_by_migration=True)

    class Meta:
        ordering = ["category", "base_metric"]
        constraints = [
            models.UniqueConstraint(
                fields=["category", "base_metric"],
                name="proxy_factor_one_per_category_and_metric",
                violation_error_message="A factor for this kind of application and base metric already exists.",
            ),
            models.CheckConstraint(
                condition=models.Q(factor__gt=0),
                name="proxy_factor_positive",
                violation_error_message="A factor must be above zero.",
            ),
        ]

    def __str__(self):
        return f"{self.get_category_display()}: {self.factor} users per {self.get_base_metric_display().lower()}"


class UserCount(models.Model):
    """The users of one application in one license year: counted head by head, or estimated by proxy.

    Counted: each person once, under the first AMA kind that applies: (a) accesses CPT in the
    application, (b) uses the application to produce output relying on CPT, (c) uses such output
    (AMA user definition as quoted by licensees; docs/rules.md).
    Proxy: base metric value x factor, rounded up (AMA User Proxy Model).
    """

    Method = CountMethod

    application = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="user_counts")
    license_year = models.PositiveSmallIntegerField(validators=LICENSE_YEAR_VALIDATORS)
    method = models.CharField(max_length=16, choices=Method.choices, default=Method.COUNTED)
    direct_users = models.IntegerField(
        "(a) access CPT directly", null=True, blank=True, validators=ranges.people("Users under (a)")
    )
    program_users = models.IntegerField(
        "(b) produce output with it", null=True, blank=True, validators=ranges.people("Users under (b)")
    )
    output_users = models.IntegerField(
        "(c) use its output", null=True, blank=True, validators=ranges.people("Users under (c)")
    )
    base_metric = models.CharField(max_length=32, choices=BaseMetric.choices, blank=True)
    metric_value = ranges.RangedDecimalField(
        "base metric value",
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=ranges.between("Base metric value", Decimal("0"), ranges.MAX_PEOPLE),
    )
    metric_source = models.CharField("source of the value", max_length=300, blank=True)
    factor = ranges.RangedDecimalField(
        "proxy factor",
        max_digits=8,
        decimal_places=3,
        null=True,
        blank=True,
        validators=ranges.between("Proxy factor", Decimal("0.001"), ranges.largest(8, 3)),
    )
    counted_on = models.DateField(null=True, blank=True, validators=ranges.dates_in_service("Counted on"))
    counted_by = models.CharField(max_length=200, blank=True)
    evidence = models.TextField(blank=True, help_text="How the number was reached: rosters, reports, file names.")
    roster = models.ForeignKey(
        "licensing.Roster",
        verbose_name="derived from roster",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="counts",
        help_text="Set by a roster import: (a), (b) and (c) are then computed from the roster's lines.",
    )
    excluded_users = models.IntegerField(
        "listed, but not users",
        null=True,
        blank=True,
        validators=ranges.people("Listed, but not users"),
        help_text="People on the roster whose roles are mapped as not users (service accounts ...).",
    )
    needs_review = models.BooleanField(
        default=False,
        help_text="Copied from the previous year by a renewal: check the figures, then untick and save.",
    )

    # The plausibility warning (counting.plausibility) acknowledged, for these users beside this estimate; set only
    # by services.count_acknowledge_plausibility, with who and why (the history row carries the reason too).
    plausibility_acknowledged_users = models.IntegerField(
        null=True, blank=True, editable=False, validators=ranges.people("Acknowledged users")
    )
    plausibility_acknowledged_estimate = models.IntegerField(
        null=True, blank=True, editable=False, validators=ranges.people("Acknowledged estimate")
    )
    plausibility_reason = models.TextField(
        "why the count stands although far below the estimate", blank=True, editable=False
    )
    plausibility_acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, editable=False, related_name="+"
    )
    plausibility_acknowledged_at = models.DateTimeField(
        null=True, blank=True, editable=False, validators=ranges.dates_in_service("Acknowledged at")
    )

    version = version_field()
    history = AuditedHistoricalRecords()
    ownership = OwnedBy("application__organization", label="{application} {license_year}", reason_required=True)

    class Meta:
        ordering = ["application", "-license_year"]
        indexes = [models.Index(fields=["license_year", "application"])]
        constraints = [
            models.UniqueConstraint(
                fields=["application", "license_year"],
                name="user_count_one_per_application_and_year",
                violation_error_message="This application already has a user count for that year; edit it instead.",
            ),
            license_year_constraint("user_count"),
            models.CheckConstraint(
                condition=(models.Q(direct_users__isnull=True) | models.Q(direct_users__gte=0))
                & (models.Q(program_users__isnull=True) | models.Q(program_users__gte=0))
                & (models.Q(output_users__isnull=True) | models.Q(output_users__gte=0))
                & (models.Q(metric_value__isnull=True) | models.Q(metric_value__gte=0))
                & (models.Q(excluded_users__isnull=True) | models.Q(excluded_users__gte=0)),
                name="user_count_not_negative",
                violation_error_message="Users and base metrics cannot be negative.",
            ),
            models.CheckConstraint(
                condition=models.Q(method=CountMethod.COUNTED)
                | models.Q(method=CountMethod.PROXY, metric_value__isnull=False, factor__isnull=False, factor__gt=0)
                & ~models.Q(base_metric=""),
                name="user_count_proxy_complete",
                violation_error_message="A proxy count needs its base metric, the metric's value and a factor.",
            ),
            ranges.at_most_people(
                "user_count_within_maximum", "direct_users", "program_users", "output_users", "metric_value"
            ),
        ]

    def __str__(self):
        return f"{self.application.name} {self.license_year}"

    def get_absolute_url(self):
        return reverse("admin:licensing_usercount_change", args=[self.pk])

    def clean(self):
        counting.check(self)

    @property
    def users(self) -> int | None:
        return counting.users(self)
