"""The pages hanging off one organization (audit trail, as of a date, verify history, prepare application).

Each is an OrganizationPage: one access check (the organization must be in the person's scope, else 404,
and the page's permission must hold, else 403) and one base context, so a new sub-page states only what
it needs and what it shows.
"""

from abc import ABC, abstractmethod

from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed
from django.template.response import TemplateResponse
from django.urls import path

from licensing import access


class OrganizationPage(ABC):
    """One organization's sub-page; subclasses set the template and title and implement `respond`."""

    template_name = ""
    # Formatted with the organization: "Audit trail: {organization}".
    title = "{organization}"
    methods = ("GET",)
    # CHANGE for pages that write (prepare an application); VIEW for pages that only read.
    action = access.VIEW
    # A model permission the page needs on top of seeing the organization, e.g. "licensing.add_filing".
    permission: str | None = None
    refusal = "This page needs view access to the organization."

    def __init__(self, model_admin):
        self.model_admin = model_admin

    @classmethod
    def route(cls, model_admin, suffix: str, name: str):
        """The URL pattern of this page under the organization admin: <id>/<suffix>/."""
        return path(f"<int:object_id>/{suffix}/", model_admin.admin_site.admin_view(cls(model_admin)), name=name)

    def __call__(self, request, object_id):
        if request.method not in self.methods:
            return HttpResponseNotAllowed(self.methods)
        # get_object 404s for organizations outside the person's scope, so their ids reveal nothing.
        organization = self.model_admin.get_object(request, str(object_id))
        if not self.allowed(request, organization):
            raise PermissionDenied(self.refusal)
        return self.respond(request, organization)

    def allowed(self, request, organization) -> bool:
        if not self.model_admin.has_view_permission(request, organization):
            return False
        if self.action == access.CHANGE and not access.can(request.user, organization, access.CHANGE):
            return False
        return self.permission is None or request.user.has_perm(self.permission)

    @abstractmethod
    def respond(self, request, organization):
        """The page's response, for an organization the person may see and a permission they hold."""

    def render(self, request, organization, **context):
        base = {
            **self.model_admin.admin_site.each_context(request),
            "opts": self.model_admin.model._meta,
            "original": organization,
            "title": self.title.format(organization=organization),
        }
        return TemplateResponse(request, self.template_name, {**base, **context})
