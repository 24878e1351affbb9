from django.contrib import admin

from licensing.admin.base import ReasonInlineFormSet, ReferenceAdmin
from licensing.models import DataFileRate, RateSchedule


class DataFileRateInline(admin.TabularInline):
    model = DataFileRate
    formset = ReasonInlineFormSet
    fields = ["data_file", "per_user", "flat_fee"]
    extra = 0

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_delete_permission(request, obj)


@admin.register(RateSchedule)
class RateScheduleAdmin(ReferenceAdmin):
    list_display = [
        "license_year",
        "basis",
        "entity_fee",
        "entity_fee_estimated",
        "cpt_standard_rate",
        "projection_step",
        "source",
    ]
    list_filter = ["basis"]
    search_fields = ["=license_year", "source"]
    ordering = ["-license_year"]
    inlines = [DataFileRateInline]
    fieldsets = [
        (None, {"fields": ["license_year", "basis"]}),
        ("Entity fee", {"fields": ["entity_fee", "entity_fee_estimated"]}),
        (
            "Projection",
            {
                "fields": ["projection_step"],
                "description": "Years after the last schedule are estimated from it, adding this amount per year.",
            },
        ),
        ("Source", {"fields": ["source", "source_url", "notes"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("rates__data_file")

    @admin.display(description="CPT Standard per user")
    def cpt_standard_rate(self, obj):
        for rate in obj.rates.all():
            if rate.data_file.code == "cpt-standard":
                return f"${rate.per_user}"
        return "-"
