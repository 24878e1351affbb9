from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from licensing import royalty, standing
from licensing.admin.base import (
    ReferenceAdmin,
    ScopedAdmin,
    ScopedInline,
    dollars,
    position_badge,
    with_year,
)
from licensing.admin.counts import UserCountForm
from licensing.admin.evidence import VendorEvidenceInline
from licensing.admin.filters import AttentionFilter, PositionFilter, ShownYearFilter
from licensing.admin.licenses import LicenseForm, LicenseFormSet
from licensing.models import Application, DataFile, License, UserCount, Vendor
from licensing.shown_year import shown_year


class ApplicationForm(forms.ModelForm):
    class Meta:
        model = Application
        fields = "__all__"  # noqa: DJ007 (the admin's fieldsets choose what the page shows)
        widgets = {"data_files": forms.CheckboxSelectMultiple}

    def clean(self):
        cleaned = super().clean()
        try:
            royalty.check_data_files(cleaned.get("cpt_coverage"), cleaned.get("data_files"))
        except ValidationError as problem:
            self.add_error(None, problem)
        return cleaned


class UserCountInline(ScopedInline):
    model = UserCount
    form = UserCountForm
    fields = [
        "license_year",
        "method",
        "direct_users",
        "program_users",
        "output_users",
        "base_metric",
        "metric_value",
        "factor",
        "metric_source",
        "users",
    ]
    readonly_fields = ["users"]

    @admin.display(description="Users")
    def users(self, obj):
        return obj.users if obj.pk else "-"


class LicenseInline(ScopedInline):
    model = License
    form = LicenseForm
    formset = LicenseFormSet
    fields = [
        "license_year",
        "route",
        "distributor",
        "status",
        "licensed_users",
        "agreement_number",
        "not_required_reason",
    ]
    autocomplete_fields = ["distributor"]


@admin.register(Application)
class ApplicationAdmin(ScopedAdmin):
    form = ApplicationForm
    # Fits a 1366 px screen beside the filters: category and vendor are filters and search terms instead.
    list_display = [
        "name",
        "organization",
        "cpt_coverage",
        "users_this_year",
        "license_this_year",
        "royalty_this_year",
        "position_this_year",
        "shortfall_this_year",
    ]
    list_select_related = ["organization", "vendor"]
    list_filter = [
        ShownYearFilter,
        PositionFilter,
        AttentionFilter,
        "category",
        "cpt_coverage",
        "deployment",
        "internet_facing",
        "users_outside_us",
    ]
    search_fields = ["name", "organization__name", "vendor__name"]
    search_help_text = "Search by system, organization or vendor name."
    ordering = ["organization__name", "name", "pk"]
    autocomplete_fields = ["organization", "vendor", "users_at_other_entities"]
    readonly_fields = ["standing_summary"]
    inlines = [UserCountInline, LicenseInline]
    fieldsets = [
        (None, {"fields": ["organization", "name", "category", "vendor", "product_version", "deployment", "owner"]}),
        ("CPT content", {"fields": ["cpt_coverage", "data_files", "internal_use"]}),
        (
            "Questions on the AMA application",
            {
                "fields": [
                    "internet_facing",
                    "internet_use",
                    "users_outside_us",
                    "countries_outside_us",
                    "users_at_other_entities",
                ]
            },
        ),
        ("In service", {"fields": ["in_service_from", "in_service_to"]}),
        (with_year("Standing"), {"fields": ["standing_summary"]}),
        ("Notes", {"fields": ["notes"], "classes": ["collapse"]}),
    ]

    def prepare_page(self, request, objects):
        year = shown_year()
        by_app = standing.standings(objects, [year])
        for application in objects:
            application.now = by_app[(application.pk, year)]
            application.in_service_now = application.in_service_during(year)

    @admin.display(description=with_year("Users"))
    def users_this_year(self, obj):
        return obj.now.users if obj.now.users is not None else "-"

    @admin.display(description=with_year("Shortfall"))
    def shortfall_this_year(self, obj):
        return obj.now.position.shortfall if obj.in_service_now and obj.now.position.shortfall else "-"

    @admin.display(description=with_year("License"))
    def license_this_year(self, obj):
        return obj.now.license.get_status_display() if obj.now.license else "-"

    @admin.display(description=with_year("Royalty"))
    def royalty_this_year(self, obj):
        line = obj.now.royalty
        return dollars(line.amount, estimate=line.is_estimate) if line else "-"

    @admin.display(description=with_year("Position"))
    def position_this_year(self, obj):
        # A system out of service that year is neither counted nor flagged.
        return position_badge(obj.now.position) if obj.in_service_now else "Not in service"

    @admin.display(description="This year")
    def standing_summary(self, obj):
        if not obj.pk:
            return "Saved applications show their users, royalty and position here."
        year = shown_year()
        now = standing.standings([obj], [year])[(obj.pk, year)]
        line = now.royalty
        parts = [
            f"Users: {now.users if now.users is not None else 'not counted'}",
            f"License: {now.license.get_status_display() if now.license else 'none recorded'}",
            f"Royalty: {dollars(line.amount, estimate=line.is_estimate) if line else now.rates_problem}",
            f"Position: {now.position}",
        ]
        if line:
            parts.insert(2, f"Per user: {dollars(line.per_user, estimate=line.is_estimate)}")
        if now.position.true_up_cost:
            # The true-up is priced per user at the year's rates: an estimate when they are projected.
            estimate = bool(now.rates and now.rates.is_estimate)
            parts.append(f"True-up cost: {dollars(now.position.true_up_cost, estimate=estimate)}")
        return " | ".join(parts)


@admin.register(Vendor)
class VendorAdmin(ReferenceAdmin):
    inlines = [VendorEvidenceInline]
    list_display = ["name", "is_authorized_distributor", "distribution_agreement_expires", "processing_fee_per_user"]
    list_filter = ["is_authorized_distributor"]
    search_fields = ["name"]
    ordering = ["name"]


@admin.register(DataFile)
class DataFileAdmin(ReferenceAdmin):
    list_display = ["name", "code"]
    search_fields = ["name", "code"]
