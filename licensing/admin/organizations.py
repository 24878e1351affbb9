from urllib.parse import urlencode

from django import forms
from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import Count
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from licensing import access, services, standing
from licensing.admin import renewals
from licensing.admin.as_of_views import AsOfPage
from licensing.admin.audit_views import AuditTrailPage
from licensing.admin.base import ReasonInlineFormSet, ScopedAdmin, ScopedInline, dollars, with_year
from licensing.admin.filings import PreparePage
from licensing.admin.filters import ChargemasterFilter, ShownYearFilter
from licensing.admin.organization_summary import year_summary_context
from licensing.admin.reconciliation import ReconciliationPage
from licensing.admin.report_views import ReportPage
from licensing.admin.verify_views import VerifyPage
from licensing.identifiers import format_ein, search_digits
from licensing.models import Application, BaseMetrics, Contact, Organization
from licensing.shown_year import shown_year


class OrganizationForm(forms.ModelForm):
    class Meta:
        model = Organization
        fields = "__all__"  # noqa: DJ007 (the admin's fieldsets choose what the page shows)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_parent(self):
        parent = self.cleaned_data.get("parent")
        if parent is None and self.user is not None and not access.may_place_at_top_level(self.user, self.instance):
            raise forms.ValidationError("Choose the parent organization this entity belongs to.")
        return parent


class ContactInline(ScopedInline):
    model = Contact
    fields = ["role", "name", "title", "email", "phone"]
    show_change_link = False


class BaseMetricsInline(ScopedInline):
    model = BaseMetrics
    fields = ["license_year", "physicians", "billing_providers", "staffed_beds", "employees", "source"]
    show_change_link = False


class ApplicationInline(ScopedInline):
    model = Application
    fields = ["name", "category", "vendor", "cpt_coverage", "deployment", "in_service_from", "in_service_to"]
    autocomplete_fields = ["vendor"]
    fk_name = "organization"
    # About ten fields a row: past this many rows the page would pass Django's limit of 1,000 fields a request
    # (DATA_UPLOAD_MAX_NUMBER_FIELDS), so ApplicationListInline lists them instead.
    max_editable_rows = 50


class ApplicationListFormSet(ReasonInlineFormSet):
    """No rows: the applications are edited on their own pages. A post carrying rows (a page opened while the
    organization had fewer applications) is refused rather than dropped."""

    listing: dict = {}

    def clean(self):
        if self.total_form_count():
            raise forms.ValidationError(
                f"This organization now has more than {ApplicationInline.max_editable_rows} applications, so they "
                "are edited on their own pages. Nothing was saved; reload the page and make the change again."
            )
        super().clean()


class ApplicationListInline(ApplicationInline):
    """An organization's applications when there are more than ApplicationInline.max_editable_rows: a page of
    them at a time with a link to each one's own page and to the applications list, and no form fields."""

    template = "admin/licensing/organization/application_list.html"
    formset = ApplicationListFormSet
    page_parameter = "applications_page"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).none()

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        return type(formset.__name__, (formset,), {"listing": self.page_of(request, obj)})

    def page_of(self, request, organization) -> dict:
        """One page of the applications, and the links the template shows around it."""
        rows = access.restrict(Application.objects.filter(organization=organization), request.user)
        page = Paginator(rows.select_related("vendor").order_by("name", "pk"), self.max_editable_rows).get_page(
            request.GET.get(self.page_parameter)
        )
        opts = Application._meta
        may_add = request.user.has_perm(f"{opts.app_label}.add_{opts.model_name}") and access.can(
            request.user, organization, access.CHANGE
        )
        return {
            "organization": organization,
            "page": page,
            "limit": self.max_editable_rows,
            "page_links": [(number, self.page_url(request, number)) for number in page.paginator.page_range],
            "list_url": reverse("admin:licensing_application_changelist")
            + "?"
            + urlencode({"organization__id__exact": organization.pk}),
            "add_url": reverse("admin:licensing_application_add") + "?" + urlencode({"organization": organization.pk})
            if may_add
            else "",
        }

    def page_url(self, request, number: int) -> str:
        query = request.GET.copy()
        query[self.page_parameter] = str(number)
        return f"?{query.urlencode()}#applications-group"


@admin.register(Organization)
class OrganizationAdmin(ScopedAdmin):
    form = OrganizationForm
    change_form_template = "admin/licensing/organization/change_form.html"
    list_display = ["name", "kind", "parent", "ein_display", "application_count", "royalty_this_year", "needs_action"]
    list_select_related = ["parent"]
    list_filter = [ShownYearFilter, ChargemasterFilter, "kind"]
    search_fields = ["name", "=slug", "=ein", "=npi", "city"]
    search_help_text = "Search by name or city, or by exact slug, EIN (12-3456789 or digits) or NPI."
    ordering = ["name", "pk"]
    autocomplete_fields = ["parent"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["year_summary", "affiliate_list"]
    inlines = [ContactInline, BaseMetricsInline, ApplicationInline]
    actions = [renewals.renew_for_next_year]
    fieldsets = [
        (None, {"fields": ["name", "slug", "kind", "parent", "affiliate_list"]}),
        ("Identifiers", {"fields": ["ein", "npi"]}),
        ("Address", {"fields": ["street", "city", "state", "postal_code", "phone"]}),
        (with_year("Compliance in"), {"fields": ["year_summary"]}),
        ("Notes", {"fields": ["notes"], "classes": ["collapse"]}),
    ]

    def get_inlines(self, request, obj):
        if obj is not None and self.application_total(obj) > ApplicationInline.max_editable_rows:
            return [ApplicationListInline if inline is ApplicationInline else inline for inline in self.inlines]
        return self.inlines

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "parent_shown"] if self.parent_out_of_reach(request, obj) else fields

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if not self.parent_out_of_reach(request, obj):
            return fieldsets
        # The parent stays as it is: the form has no parent field, so nothing posted can change it.
        return [
            (name, {**options, "fields": ["parent_shown" if f == "parent" else f for f in options["fields"]]})
            for name, options in fieldsets
        ]

    def parent_out_of_reach(self, request, obj) -> bool:
        """Whether the organization's parent is one the person may not choose (an officer of an affiliate)."""
        return (
            obj is not None
            and obj.parent_id is not None
            and not access.scope(request.user).allows(obj.parent_id, access.CHANGE)
        )

    @admin.display(description="Parent organization")
    def parent_shown(self, obj):
        viewer = getattr(obj, "viewer", None)
        if viewer is not None and access.scope(viewer).allows(obj.parent_id):
            return format_html('<a href="{}">{}</a>', obj.parent.get_absolute_url(), obj.parent.name)
        return "A parent organization outside your access; it stays as it is."

    def application_total(self, obj) -> int:
        total = getattr(obj, "application_total", None)
        return obj.applications.count() if total is None else total

    def get_urls(self):
        return [
            AuditTrailPage.route(self, "audit-trail", "licensing_organization_audit_trail"),
            AsOfPage.route(self, "as-of", "licensing_organization_as_of"),
            VerifyPage.route(self, "verify", "licensing_organization_verify"),
            PreparePage.route(self, "prepare-filing", "licensing_organization_prepare_filing"),
            ReportPage.route(self, "report", "licensing_organization_report"),
            ReconciliationPage.route(self, "reconcile", "licensing_organization_reconcile"),
            *super().get_urls(),
        ]

    def delete_model(self, request, obj):
        services.organization_delete(organization=obj, actor=request.user, reason="Deleted in the admin")

    def get_search_results(self, request, queryset, search_term):
        # EINs and NPIs are stored as digits; people type them with hyphens and spaces.
        return super().get_search_results(request, queryset, search_digits(search_term))

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)

        class RequestForm(form):
            def __init__(self, *args, **inner):
                super().__init__(*args, user=request.user, **inner)

        return RequestForm

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(application_total=Count("applications", distinct=True))

    def prepare_page(self, request, objects):
        years = standing.organization_years(objects, shown_year())
        for organization in objects:
            organization.this_year = years[organization.pk]

    @admin.display(description="EIN")
    def ein_display(self, obj):
        return format_ein(obj.ein) or "-"

    @admin.display(description="Applications", ordering="application_total")
    def application_count(self, obj):
        return obj.application_total

    @admin.display(description=with_year("Royalty"))
    def royalty_this_year(self, obj):
        result = obj.this_year.royalty
        return dollars(result.total, estimate=result.is_estimate) if result else "-"

    @admin.display(description=with_year("Needing action"))
    def needs_action(self, obj):
        return len(obj.this_year.needing_action)

    @admin.display(description="Affiliates")
    def affiliate_list(self, obj):
        affiliates = list(obj.affiliates.all()) if obj.pk else []
        if not affiliates:
            return "-"
        return format_html_join(", ", '<a href="{}">{}</a>', ((a.get_absolute_url(), a.name) for a in affiliates))

    @admin.display(description="Standing")
    def year_summary(self, obj):
        if not obj.pk:
            return "Saved organizations show their royalty, positions and what needs action here."
        context = year_summary_context(obj, viewer=getattr(obj, "viewer", None))
        return render_to_string("admin/licensing/organization/year_summary.html", context)

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        # The page's roll-up lists only the affiliates this person may see.
        obj.viewer = request.user
        return obj
