"""The organization's "Verify history" page: an auditor or officer checks its hash chains from the admin.

The check itself is licensing.audit.verification (the same one `manage.py verify_audit_trail` runs); this
page only scopes it to one organization the person may view and shows the result. It writes nothing.
"""

from dataclasses import dataclass

from django.db.models import Count
from django.utils import timezone

from licensing.admin.organization_pages import OrganizationPage
from licensing.audit import people, verification


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
    for model in people.organization_tracked_models():
        history_model = model.history.model
        pk_name = model._meta.pk.attname
        object_ids = people.organization_rows(history_model, organization_id).values(pk_name)
        totals = history_model.objects.filter(**{f"{pk_name}__in": object_ids}).aggregate(
            rows=Count("history_id"), chains=Count(pk_name, distinct=True)
        )
        rows += totals["rows"]
        chains += totals["chains"]
    return Checked(rows=rows, chains=chains)


class VerifyPage(OrganizationPage):
    """The page for one organization: GET shows what the check does, POST runs it and shows the result."""

    template_name = "admin/licensing/organization/verify.html"
    title = "Verify the history of {organization}"
    # Running the check writes nothing, so auditors may POST it.
    methods = ("GET", "POST")
    refusal = "Verifying history needs view access to this organization."

    def respond(self, request, organization):
        ran = request.method == "POST"
        return self.render(
            request,
            organization,
            ran=ran,
            breaks=verification.verify(organization_id=organization.pk) if ran else [],
            checked=checked_scope(organization.pk) if ran else None,
            checked_at=timezone.now() if ran else None,
        )
