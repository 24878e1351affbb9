"""The organization's "Verify history" page: an auditor or officer checks its hash chains from the admin.

The check itself is licensing.verification (the same one `manage.py verify_audit_trail` runs); this
page only scopes it to one organization the person may view and shows the result. It writes nothing.
"""

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from licensing import verification


@dataclass(frozen=True)
class Checked:
    """How much of the organization's history a run covered."""

    rows: int
    chains: int


def checked_scope(organization_id: int) -> Checked:
    """History rows and chains verify(organization_id=...) walks: one query per tracked model.

    Mirrors verification.verify_model's selection: every row of each object that has at least one row
    stamped with this organization.
    """
    rows = chains = 0
    for model in verification.tracked_models():
        history_model = model.history.model
        pk_name = model._meta.pk.attname
        object_ids = history_model.objects.filter(organization_id=organization_id).values(pk_name)
        totals = history_model.objects.filter(**{f"{pk_name}__in": object_ids}).aggregate(
            rows=Count("history_id"), chains=Count(pk_name, distinct=True)
        )
        rows += totals["rows"]
        chains += totals["chains"]
    return Checked(rows=rows, chains=chains)


def verify_view(model_admin):
    """The page for one organization: GET shows what the check does, POST runs it and shows the result."""

    @require_http_methods(["GET", "POST"])
    def view(request, object_id):
        # get_object 404s for organizations outside the person's scope, so their ids reveal nothing.
        organization = model_admin.get_object(request, str(object_id))
        if not model_admin.has_view_permission(request, organization):
            raise PermissionDenied("Verifying history needs view access to this organization.")
        ran = request.method == "POST"
        breaks = verification.verify(organization_id=organization.pk) if ran else []
        checked = checked_scope(organization.pk) if ran else None
        context = {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.model._meta,
            "original": organization,
            "title": f"Verify the history of {organization}",
            "ran": ran,
            "breaks": breaks,
            "checked": checked,
            "checked_at": timezone.now() if ran else None,
        }
        return TemplateResponse(request, "admin/licensing/organization/verify.html", context)

    return view
