"""The portal's admin site: its titles and site-wide choices, declared on one class instead of module side effects.

portal.apps.PortalAdminConfig makes it Django's default site, so `admin.site` and `@admin.register` use it.
It lives outside licensing.admin on purpose: building the default site must not import the modules that
register on it.
"""

from django.contrib import admin
from django.urls import path


class PortalAdminSite(admin.AdminSite):
    site_header = "CPT License Compliance Portal"
    site_title = "CPT compliance"
    index_title = "Applications, user counts and AMA licenses"
    # Lists carry many columns; the sidebar would push them off screen.
    enable_nav_sidebar = False
    # The index is the compliance dashboard (licensing.admin.dashboard_page), above the list of models.
    index_template = "admin/licensing/dashboard.html"

    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)
        # Deleting licensing records in bulk would erase evidence; single deletes stay possible for superusers.
        self.disable_action("delete_selected")

    def index(self, request, extra_context=None):
        # Imported here: building the default site must not import the modules that register on it.
        from licensing.admin.dashboard_page import dashboard_context

        return super().index(request, extra_context={**dashboard_context(request), **(extra_context or {})})

    def get_urls(self):
        # Imported here for the same reason as above: the pages' module reads the auth models.
        from portal import two_factor

        pages = [
            path(
                "two-factor/", self.admin_view(lambda request: two_factor.enrol_view(self, request)), name="two_factor"
            ),
            path(
                "two-factor/verify/",
                self.admin_view(lambda request: two_factor.verify_view(self, request)),
                name="two_factor_verify",
            ),
        ]
        return pages + super().get_urls()
