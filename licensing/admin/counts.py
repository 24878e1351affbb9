from django import forms
from django.contrib import admin

from licensing import counting, standing
from licensing.admin.base import ApplicationYearAdmin, ReferenceAdmin, ScopedAdmin, dollars
from licensing.admin.evidence import UserCountEvidenceInline
from licensing.admin.filters import AttentionFilter, PositionFilter, ShownYearFilter
from licensing.models import BaseMetrics, ProxyFactor, UserCount


class UserCountForm(forms.ModelForm):
    """Fills a proxy count's factor and metric value from reference data when left empty."""

    class Meta:
        model = UserCount
        fields = "__all__"  # noqa: DJ007 (the admin's fieldsets choose what the page shows)

    def clean(self):
        cleaned = super().clean()
        application = cleaned.get("application") or getattr(self.instance, "application", None)
        year, metric = cleaned.get("license_year"), cleaned.get("base_metric")
        if cleaned.get("method") == UserCount.Method.PROXY and application is not None and year and metric:
            value, source, factor = standing.proxy_defaults(
                application=application, license_year=year, base_metric=metric
            )
            if cleaned.get("metric_value") is None and value is not None:
                cleaned["metric_value"] = value
                cleaned["metric_source"] = cleaned.get("metric_source") or source
            if cleaned.get("factor") is None and factor is not None:
                cleaned["factor"] = factor
        return cleaned


@admin.register(UserCount)
class UserCountAdmin(ApplicationYearAdmin):
    inlines = [UserCountEvidenceInline]
    form = UserCountForm
    list_display = ["system", "organization", "license_year", "method", "users", "royalty", "position", "needs_review"]
    list_select_related = ["application__organization", "application__vendor"]
    list_filter = [
        ShownYearFilter,
        PositionFilter,
        AttentionFilter,
        "license_year",
        "needs_review",
        "method",
        "base_metric",
    ]
    search_fields = ["application__name", "application__organization__name"]
    search_help_text = "Search by system or organization name."
    ordering = ["-license_year", "application__name", "pk"]
    autocomplete_fields = ["application"]
    readonly_fields = ["users", "explanation", "plausibility", "royalty", "position", "roster", "excluded_users"]
    # A count derived from a roster takes these from the roster's lines (services.roster_derive_count): they change
    # with a new roster or the role mapping, never by hand.
    derived_fields = [
        "method",
        "direct_users",
        "program_users",
        "output_users",
        *counting.PROXY_FIELDS,
        "counted_on",
        "counted_by",
        "evidence",
    ]
    fieldsets = [
        (None, {"fields": ["application", "license_year", "method"]}),
        (
            "Counted users: each person once, under the first kind that applies",
            {"fields": ["direct_users", "program_users", "output_users", "roster", "excluded_users"]},
        ),
        (
            "User Proxy Model: base metric x factor, rounded up",
            {
                "fields": ["base_metric", "metric_value", "metric_source", "factor"],
                "description": "Leave the value or factor empty to take them from the organization's base "
                "metrics and the proxy factor table.",
            },
        ),
        ("Evidence", {"fields": ["counted_on", "counted_by", "evidence", "needs_review"]}),
        ("Result", {"fields": ["users", "explanation", "plausibility", "royalty", "position"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.roster_id is not None:
            readonly += [name for name in self.derived_fields if name not in readonly]
        return readonly

    @admin.display(description="Users")
    def users(self, obj):
        return obj.users if obj.pk else "-"

    @admin.display(description="How the number was reached")
    def explanation(self, obj):
        return counting.explain(obj) if obj.pk else "-"

    @admin.display(description="Compared with the User Proxy Model")
    def plausibility(self, obj):
        if not obj.pk:
            return "-"
        if obj.method != UserCount.Method.COUNTED:
            return "Not compared: a proxy count is the User Proxy Model's estimate itself."
        comparison = standing.proxy_comparisons([obj]).get(obj.pk)
        if comparison is None:
            return (
                "Not compared: no proxy factor for this kind of application, or no base metrics of the organization "
                "for the year."
            )
        text = comparison.sentence() + "."
        if comparison.implausible:
            if counting.acknowledged(obj, comparison):
                who = obj.plausibility_acknowledged_by
                name = (who.get_full_name() or who.get_username()) if who else "the system"
                text += (
                    f" Acknowledged by {name} on {obj.plausibility_acknowledged_at:%Y-%m-%d}: {obj.plausibility_reason}"
                )
            else:
                text += (
                    " The AMA compares reported users with HIMSS, AHA and CMS data: correct the count, or acknowledge "
                    "the warning with a reason on the year's filing before submitting it."
                )
        return text

    @admin.display(description="Royalty")
    def royalty(self, obj):
        if not obj.pk:
            return "-"
        line = self.standing_of(obj).royalty
        return dollars(line.amount, estimate=line.is_estimate) if line else self.standing_of(obj).rates_problem


@admin.register(ProxyFactor)
class ProxyFactorAdmin(ReferenceAdmin):
    list_display = ["category", "base_metric", "factor", "source"]
    list_filter = ["category", "base_metric"]
    search_fields = ["source"]


@admin.register(BaseMetrics)
class BaseMetricsAdmin(ScopedAdmin):
    list_display = ["organization", "license_year", "physicians", "billing_providers", "staffed_beds", "employees"]
    list_select_related = ["organization"]
    list_filter = ["license_year"]
    search_fields = ["organization__name"]
    ordering = ["organization__name", "-license_year", "pk"]
    autocomplete_fields = ["organization"]
