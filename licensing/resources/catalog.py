"""The import and export resources, one per kind of record a compliance officer keeps in spreadsheets.

Rows are found by natural keys, never database ids: an organization by its slug (or EIN where it names
another record), an application by organization and system name, a vendor by name, counts and licenses by
application and license year. Columns are headed as on the admin pages.
"""

from licensing import access
from licensing.counting import PROXY_FIELDS
from licensing.models import (
    Application,
    BaseMetrics,
    Contact,
    DataFile,
    License,
    Organization,
    ProxyFactor,
    RateSchedule,
    UserCount,
    Vendor,
)
from licensing.resources import columns
from licensing.resources.base import Column, PortalResource
from licensing.resources.lookups import NOT_YOURS, ScopedLookups
from licensing.resources.rosters import RosterLineResource


def _digits(text) -> str:
    return "".join(character for character in str(text or "") if character.isdigit())


class OrganizationKeyed(ScopedLookups, PortalResource):
    """Records owned directly by an organization: the first column names it by short name or EIN."""

    def organization_column(self) -> Column:
        return self.column(
            "organization",
            widget=self.organization_reference(),
            title="Organization",
            required=True,
            help="The organization's short name (slug) or EIN, as on the Organizations page.",
            example="alpha-health",
        )


class ApplicationReference(columns.Reference):
    """An application named by its system name, within the organization the row's Organization column names."""

    def __init__(self, resource):
        self.resource = resource
        super().__init__(
            columns.Lookup(Application.objects.none(), []),
            render_key=lambda application: application.name,
            missing="",
        )

    def table(self) -> dict:
        def build():
            rows = access.restrict(
                Application.objects.select_related("organization", "vendor"), self.resource.actor, access.CHANGE
            )
            return {(application.organization_id, columns._key(application.name)): application for application in rows}

        return self.resource.cached("applications", build)

    def clean(self, value, row=None, **kwargs):
        name = columns.text_of(value)
        if name == "":
            return None
        organization_text = columns.text_of((row or {}).get("Organization"))
        organization = self.resource.organizations().find(organization_text) if organization_text else None
        if organization is None:
            raise columns.CellProblem(
                NOT_YOURS.format(value=organization_text) if organization_text else "Fill in the Organization column.",
                column="Organization",
            )
        found = self.table().get((organization.pk, columns._key(name)))
        if found is None:
            raise columns.CellProblem(
                f"{organization} has no application with the system name '{name}'. Check the spelling against its "
                "Applications page, or import the application first."
            )
        return found

    def by_pk(self) -> dict:
        return self.resource.cached(
            "applications-by-pk", lambda: {application.pk: application for application in self.table().values()}
        )

    def render(self, value, obj=None, **kwargs):
        if isinstance(value, int):
            value = self.by_pk().get(value)
        return "" if value is None else value.name


class ApplicationKeyed(ScopedLookups, PortalResource):
    """Records of one application in one license year (user counts, licenses)."""

    key = ("application", "license_year")
    label_columns = ("organization", "application", "license_year")
    select_related = ("application__organization",)

    def application_columns(self) -> list[Column]:
        organization = self.column_for_path(
            "organization",
            "application__organization",
            title="Organization",
            widget=self.organization_reference(),
            help="The organization's short name (slug) or EIN; with the system name it finds the application.",
            example="alpha-health",
        )
        application = self.column(
            "application",
            widget=ApplicationReference(self),
            title="System name",
            help="The application's system name, as on its page.",
            example="Epic Ambulatory",
        )
        year = self.column("license_year", example=2026, help="The calendar year the record covers, e.g. 2026.")
        return [organization, application, year]

    def column_for_path(self, name, path, *, title, widget, help, example) -> Column:
        return self.path_column(name, path, title=title, widget=widget, required=True, help=help, example=example)


class ParentReference(columns.Reference):
    """The Parent column. A parent the person may not choose (an officer of an affiliate: the parent is outside
    their scope) is written as an empty cell and stays as it is when the cell is empty, as on the admin page;
    naming any parent there is refused rather than ignored."""

    def __init__(self, resource):
        self.resource = resource
        scoped = resource.organization_reference()
        super().__init__(scoped.lookup, render_key=scoped.render_key, missing=scoped.missing)

    def clean(self, value, row=None, **kwargs):
        instance = getattr(self.resource, "_instance", None)
        stored = instance.parent_id if instance is not None and instance.pk is not None else None
        if stored is None or self.lookup.get(stored) is not None:
            return super().clean(value, row, **kwargs)
        if columns.text_of(value):
            raise columns.CellProblem(
                "This organization's parent is outside your access, so a file cannot change it; leave the cell "
                "empty to keep it. An administrator can move the organization."
            )
        return instance.parent

    def render(self, value, obj=None, **kwargs):
        # An export by the system (no person) names every parent; a person's names only those they may choose.
        if value is not None and not isinstance(value, int) and self.resource.actor is not None:
            value = value.pk
        return super().render(value, obj, **kwargs)


class LinksInSight(columns.References):
    """Links to other organizations' records (users at other legal entities). A person's export names only those
    they may see, and their import keeps the links they cannot see, as the admin page does; the system's name all."""

    def __init__(self, lookup, *, resource, name: str, **options):
        super().__init__(lookup, **options)
        self.resource, self.name = resource, name

    def clean(self, value, row=None, **kwargs):
        found = super().clean(value, row, **kwargs)
        instance = getattr(self.resource, "_instance", None)
        if self.resource.actor is None or instance is None:
            return found
        stored = getattr(instance, "_stored_links", {}).get(self.name, [])
        model = self.resource._meta.model._meta.get_field(self.name).related_model
        return found + [model(pk=pk) for pk in stored if self.lookup.get(pk) is None]

    def render(self, value, obj=None, **kwargs):
        if value is not None and hasattr(value, "all") and self.resource.actor is not None:
            value = [item.pk for item in value.all()]
        return super().render(value, obj, **kwargs)


class OrganizationResource(ScopedLookups, PortalResource):
    key = ("slug",)
    label_columns = ("slug", "name")
    title = "Organizations"
    select_related = ("parent",)

    class Meta(PortalResource.Meta):
        model = Organization

    def build_columns(self):
        return [
            self.column("name", example="Alpha Health Clinic"),
            self.column("slug", title="Short name (slug)", example="alpha-clinic"),
            self.column("kind", example="Ambulatory clinic"),
            self.column(
                "parent",
                widget=ParentReference(self),
                help="The parent's short name (slug) or EIN. Only an administrator adds an organization without one.",
                example="alpha-health",
            ),
            self.column("ein", widget=columns.Digits(9), example="12-3456789"),
            self.column("npi", widget=columns.Digits(10), example=""),
            self.column("street", example="1 Main Street"),
            self.column("city", example="Springfield"),
            self.column("state", widget=columns.Upper(), example="IL"),
            self.column("postal_code", widget=columns.Digits(5), example="62701"),
            self.column("phone"),
            self.column("notes"),
        ]

    def check_rules(self, instance):
        from django.core.exceptions import ValidationError

        if instance.parent_id is None and not access.may_place_at_top_level(self.actor, instance):
            raise ValidationError(
                "Only an administrator can add an organization without a parent; fill in 'Parent organization'."
            )


class ContactResource(OrganizationKeyed):
    key = ("organization", "role")
    label_columns = ("organization", "role", "name")
    title = "Contacts"
    select_related = ("organization",)

    class Meta(PortalResource.Meta):
        model = Contact

    def build_columns(self):
        return [
            self.organization_column(),
            self.column("role", example="Primary contact"),
            self.column("name", example="Dana Reyes"),
            self.column("title", example="Compliance Officer"),
            self.column("email", example="dana.reyes@example.org"),
            self.column("phone"),
        ]


class BaseMetricsResource(OrganizationKeyed):
    key = ("organization", "license_year")
    title = "Base metrics"
    select_related = ("organization",)

    class Meta(PortalResource.Meta):
        model = BaseMetrics

    def build_columns(self):
        return [
            self.organization_column(),
            self.column("license_year", example=2026),
            self.column("physicians", example=120),
            self.column("billing_providers", example=150),
            self.column("staffed_beds", example=""),
            self.column("employees", example="1,850"),
            self.column("source", example="HR roster 2026-01-05"),
        ]


class VendorResource(ScopedLookups, PortalResource):
    key = ("name",)
    title = "Vendors"

    class Meta(PortalResource.Meta):
        model = Vendor

    def build_columns(self):
        return [
            self.column("name", example="Epic Systems"),
            self.column("is_authorized_distributor", example="No"),
            self.column("distribution_agreement_expires", example=""),
            self.column("processing_fee_per_user", example="0.00"),
            self.column("website", example="https://www.example.com"),
            self.column("notes"),
        ]


class ApplicationResource(OrganizationKeyed):
    key = ("organization", "name")
    title = "Applications"
    select_related = ("organization", "vendor")
    prefetch_related = ("data_files", "users_at_other_entities")

    class Meta(PortalResource.Meta):
        model = Application

    def build_columns(self):
        data_files = self.cached(
            "data_files",
            lambda: columns.Lookup(
                access.restrict(DataFile.objects.all(), self.actor), [lambda df: df.code, lambda df: df.name]
            ),
        )
        return [
            self.organization_column(),
            self.column("name", example="Epic Ambulatory"),
            self.column("category", example="Ambulatory EHR"),
            self.column("vendor", widget=self.vendor_reference(), example="Epic Systems"),
            self.column("product_version", example="2026.1"),
            self.column("deployment", example="Hosted"),
            self.column("cpt_coverage", example="Own AMA license"),
            self.column(
                "data_files",
                widget=columns.References(
                    data_files,
                    render_key=lambda data_file: data_file.name,
                    missing="No AMA data file is called '{value}'. Use the names or codes of the AMA data files "
                    "page, separated by semicolons, e.g. CPT Standard; CPT RVUs.",
                ),
                help="The AMA data files the system uses, by name or code, separated by semicolons.",
                example="CPT Standard",
            ),
            self.column("internal_use", example="Charge capture and claim coding in the clinics."),
            self.column("internet_facing", example="No"),
            self.column("internet_use"),
            self.column("users_outside_us", example="No"),
            self.column("countries_outside_us"),
            self.column(
                "users_at_other_entities",
                widget=LinksInSight(
                    self.organizations(access.VIEW),
                    resource=self,
                    name="users_at_other_entities",
                    render_key=lambda org: org.slug,
                    missing="No organization you can see has the short name or EIN '{value}'. Separate several "
                    "with semicolons.",
                ),
                help="Short names (slugs) of the other legal entities whose staff use the system, separated by "
                "semicolons.",
            ),
            self.column("in_service_from", example="2019-07-01"),
            self.column("in_service_to"),
            self.column("owner", example="Revenue cycle"),
            self.column("notes"),
        ]

    def check_rules(self, instance):
        from licensing import royalty

        links = getattr(instance, "_import_links", {})
        if "data_files" in links or instance.pk is None:
            royalty.check_data_files(instance.cpt_coverage, links.get("data_files"))
        else:
            royalty.check_data_files(instance.cpt_coverage, getattr(instance, "_stored_links", {}).get("data_files"))


class UserCountResource(ApplicationKeyed):
    title = "User counts"

    class Meta(PortalResource.Meta):
        model = UserCount

    def build_columns(self):
        return [
            *self.application_columns(),
            self.column("method", example="Counted"),
            self.column("direct_users", example=40),
            self.column("program_users", example=12),
            self.column("output_users", example=3),
            self.column("base_metric", help="For a proxy count: the base metric the estimate starts from."),
            self.column("metric_value", help="For a proxy count: the base metric's value, e.g. 120 physicians."),
            self.column("metric_source"),
            self.column("factor", help="For a proxy count: users per unit of the base metric, e.g. 4."),
            self.column("counted_on", example="2026-01-15"),
            self.column("counted_by", example="Dana Reyes"),
            self.column("evidence", example="EHR access report 2026-01-15"),
        ]

    def check_rules(self, instance):
        # A count derived from a roster takes its figures from the roster's lines (services.roster_derive_count).
        derived = ["method", "direct_users", "program_users", "output_users", *PROXY_FIELDS]
        before = self._snapshot or {}
        if instance.roster_id is not None and any(before.get(name) != getattr(instance, name) for name in derived):
            from django.core.exceptions import ValidationError

            raise ValidationError(
                "This count is derived from a roster: its method and figures change with a new roster or the "
                "application's role mapping, not in a file. Leave those cells as exported, or import a new roster."
            )


class LicenseResource(ApplicationKeyed):
    title = "Licenses"
    select_related = ("application__organization", "distributor")

    class Meta(PortalResource.Meta):
        model = License

    def build_columns(self):
        return [
            *self.application_columns(),
            self.column("route", example="Direct (AMA)"),
            self.column("distributor", widget=self.vendor_reference()),
            self.column("status", example="Needed"),
            self.column("licensed_users", example=55),
            self.column("agreement_number"),
            self.column("starts_on"),
            self.column("ends_on"),
            self.column("not_required_reason"),
            self.column("notes"),
        ]


class RateScheduleResource(PortalResource):
    key = ("license_year",)
    title = "Rate schedules"
    administrators_only = True

    class Meta(PortalResource.Meta):
        model = RateSchedule

    def build_columns(self):
        return [
            self.column("license_year", example=2027),
            self.column("basis", example="Estimated"),
            self.column("entity_fee", example=""),
            self.column("entity_fee_estimated", example="Yes"),
            self.column("projection_step", example="0.50"),
            self.column("source", example="Projection from the 2026 rate sheet"),
            self.column("source_url"),
            self.column("notes"),
        ]


class ProxyFactorResource(PortalResource):
    key = ("category", "base_metric")
    title = "Proxy factors"
    administrators_only = True

    class Meta(PortalResource.Meta):
        model = ProxyFactor

    def build_columns(self):
        return [
            self.column("category", example="Ambulatory EHR"),
            self.column("base_metric", example="Physicians"),
            self.column("factor", example="4"),
            self.column("source", example="Practice Fusion AMA FAQ"),
            self.column("notes"),
        ]


# The names the import page, the command line and the URLs use; one resource per model.
RESOURCES: dict[str, type[PortalResource]] = {
    "organizations": OrganizationResource,
    "contacts": ContactResource,
    "base-metrics": BaseMetricsResource,
    "vendors": VendorResource,
    "applications": ApplicationResource,
    "user-counts": UserCountResource,
    "licenses": LicenseResource,
    "rate-schedules": RateScheduleResource,
    "proxy-factors": ProxyFactorResource,
    "rosters": RosterLineResource,
}


def for_model(model) -> tuple[str, type[PortalResource]] | None:
    for name, resource in RESOURCES.items():
        if resource._meta.model is model:
            return name, resource
    return None
