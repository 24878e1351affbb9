from django import forms
from django.contrib import admin

from licensing import services, workflow
from licensing.admin import renewals
from licensing.admin.base import ApplicationYearAdmin, ReasonInlineFormSet, dollars, seen_version
from licensing.admin.evidence import LicenseEvidenceInline
from licensing.admin.filters import AttentionFilter, PositionFilter, ShownYearFilter
from licensing.models import License


class LicenseForm(forms.ModelForm):
    """Offers only the statuses the workflow allows next, so a wrong move is not even on the menu."""

    class Meta:
        model = License
        fields = "__all__"  # noqa: DJ007 (the admin's fieldsets choose what the page shows)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and "status" in self.fields:
            allowed = {self.instance.status} | workflow.allowed_next(self.instance.status)
            self.fields["status"].choices = [
                (value, label) for value, label in License.Status.choices if value in allowed
            ]


class LicenseFormSet(ReasonInlineFormSet):
    def save_record(self, obj, form, *, reason):
        return services.license_save(
            license=obj, changed=form.changed_data, actor=self.actor, reason=reason, expected_version=seen_version(form)
        )


@admin.register(License)
class LicenseAdmin(ApplicationYearAdmin):
    inlines = [LicenseEvidenceInline]
    form = LicenseForm
    list_display = [
        "system", "organization", "license_year", "route", "status",
        "licensed_users", "counted_users", "position", "true_up_cost",
    ]  # fmt: skip
    list_select_related = ["application__organization", "application__vendor", "distributor"]
    list_filter = [ShownYearFilter, PositionFilter, AttentionFilter, "license_year", "status", "route"]
    search_fields = ["application__name", "application__organization__name", "=agreement_number"]
    search_help_text = "Search by system or organization name, or an exact agreement number."
    ordering = ["-license_year", "application__name", "pk"]
    autocomplete_fields = ["application", "distributor"]
    readonly_fields = ["counted_users", "position", "true_up_cost", "renewal_of"]
    actions = [renewals.renew_for_next_year]
    fieldsets = [
        (None, {"fields": ["application", "license_year", "route", "distributor"]}),
        ("Status", {"fields": ["status", "not_required_reason"]}),
        ("Agreement", {"fields": ["agreement_number", "licensed_users", "starts_on", "ends_on", "renewal_of"]}),
        ("Against the user count", {"fields": ["counted_users", "position", "true_up_cost"]}),
        ("Notes", {"fields": ["notes"], "classes": ["collapse"]}),
    ]

    def save_model(self, request, obj, form, change):
        reason = self.change_reason_of(form, change)
        services.license_save(
            license=obj,
            changed=form.changed_data,
            actor=request.user,
            reason=reason,
            expected_version=seen_version(form),
        )

    @admin.display(description="Counted users")
    def counted_users(self, obj):
        if not obj.pk:
            return "-"
        users = self.standing_of(obj).users
        return users if users is not None else "not counted"

    @admin.display(description="True-up cost")
    def true_up_cost(self, obj):
        if not obj.pk:
            return "-"
        now = self.standing_of(obj)
        # Priced per user at the year's rates: an estimate when they are projected.
        estimate = bool(now.rates and now.rates.is_estimate)
        return dollars(now.position.true_up_cost, estimate=estimate) if now.position.true_up_cost else "-"
