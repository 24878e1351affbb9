"""The records a file may name (organizations, vendors), read once per import through licensing.access."""

from licensing import access
from licensing.models import Organization, Vendor
from licensing.resources import columns

NOT_YOURS = (
    "No organization you manage has the short name or EIN '{value}'. Check the value (the Organizations page "
    "shows both), or ask an administrator for access."
)


class ScopedLookups:
    """The records a file may name, read once per import through licensing.access."""

    def organizations(self, action=access.CHANGE) -> columns.Lookup:
        return self.cached(
            f"organizations:{action}",
            lambda: columns.Lookup(
                access.restrict(Organization.objects.select_related("parent__parent"), self.actor, action),
                [lambda org: org.slug, lambda org: org.ein, lambda org: org.name],
            ),
        )

    def organization_reference(self, *, action=access.CHANGE, missing=NOT_YOURS) -> columns.Reference:
        return columns.Reference(self.organizations(action), render_key=lambda org: org.slug, missing=missing)

    def vendors(self) -> columns.Lookup:
        return self.cached(
            "vendors",
            lambda: columns.Lookup(access.restrict(Vendor.objects.all(), self.actor), [lambda vendor: vendor.name]),
        )

    def vendor_reference(self) -> columns.Reference:
        return columns.Reference(
            self.vendors(),
            render_key=lambda vendor: vendor.name,
            missing="No vendor is named '{value}'. Check the spelling against the Vendors page, or add the vendor "
            "there (or import it in a vendors file) first.",
        )
