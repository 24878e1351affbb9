"""The portal's admin site: its titles and site-wide choices, declared on one class instead of module side effects.

portal.apps.PortalAdminConfig makes it Django's default site, so `admin.site` and `@admin.register` use it.
It lives outside licensing.admin on purpose: building the default site must not import the modules that
register on it.
"""

from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.contrib.contenttypes.views import shortcut
from django.core.exceptions import ValidationError
from django.db import models
from django.http import Http404
from django.urls import path
from django.utils.functional import SimpleLazyObject


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

    def each_context(self, request):
        """Django's context of every admin page, the list of apps built only if a template reads it: it feeds the
        navigation sidebar, which is off here, and costs about 2 ms a page (each model's permissions and URLs)."""
        script_name = request.META["SCRIPT_NAME"]
        site_url = script_name if self.site_url == "/" and script_name else self.site_url
        return {
            "site_title": self.site_title,
            "site_header": self.site_header,
            "site_url": site_url,
            "has_permission": self.has_permission(request),
            "available_apps": SimpleLazyObject(lambda: self.get_app_list(request)),
            "is_popup": False,
            "is_nav_sidebar_enabled": self.enable_nav_sidebar,
            "log_entries": self.get_log_entries(request),
        }

    def get_urls(self):
        # Built once every admin is registered. Imported here: building the site must not import licensing.admin
        # (nor the two-factor pages, which read the auth models).
        from licensing.admin.widgets import SafeModelMultipleChoiceField

        for model_admin in self._registry.values():
            # Django's own admins too (groups' permissions): a many-to-many value that cannot be an id is a form
            # error, not a 500 (SQLite overflows past 64 bits).
            overrides = model_admin.formfield_overrides.setdefault(models.ManyToManyField, {})
            overrides.setdefault("form_class", SafeModelMultipleChoiceField)
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
        urls = pages + super().get_urls()
        # Django's "view on site" redirects for any record and 404s for missing ones: an existence oracle.
        route = "r/<path:content_type_id>/<path:object_id>/"
        ours = path(route, self.admin_view(self.view_on_site), name="view_on_site")
        return [ours if getattr(url, "name", None) == "view_on_site" else url for url in urls]

    def autocomplete_view(self, request):
        if "\x00" in request.GET.get("term", ""):
            # No name holds a NUL character, and PostgreSQL refuses text that does (Django's own admins too).
            request.GET = request.GET.copy()
            request.GET["term"] = request.GET["term"].replace("\x00", "")
        return super().autocomplete_view(request)

    def view_on_site(self, request, content_type_id, object_id):
        """Django's shortcut, for records the person may see in this admin; any other id is missing alike."""
        try:
            model = ContentType.objects.get_for_id(int(content_type_id)).model_class()
        except (ValueError, OverflowError, ContentType.DoesNotExist):
            raise Http404("No such record.") from None
        model_admin = self._registry.get(model)
        if model_admin is None or not model_admin.has_view_or_change_permission(request):
            raise Http404("No such record.")
        try:
            visible = model_admin.get_queryset(request).filter(pk=model._meta.pk.to_python(object_id)).exists()
        except (ValidationError, ValueError, OverflowError):
            visible = False
        if not visible:
            raise Http404("No such record, or it belongs to an organization you do not have access to.")
        return shortcut(request, content_type_id, object_id)

    def index(self, request, extra_context=None):
        # Imported here: building the default site must not import the modules that register on it.
        from licensing.admin.dashboard_page import dashboard_context

        return super().index(request, extra_context={**dashboard_context(request), **(extra_context or {})})
