"""Organization page "Reconcile rosters": each person of the organization tree and the applications they use, the
organization-wide number of distinct people, and the findings an officer accepts with a reason
(licensing.reconciliation, licensing.reconciliation_selectors). Plus the read-only list of accepted findings."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect

from licensing import access, identifiers, services, shown_year
from licensing import reconciliation_selectors as selectors
from licensing.admin.base import ScopedAdmin, WrittenByThePortalMixin
from licensing.admin.organization_pages import OrganizationPage
from licensing.models.reconciliation import FindingAcceptance
from licensing.reconciliation import FindingKind

EXPLANATIONS = {
    FindingKind.OTHER_ENTITY: "Employed by a legal entity other than the organization that runs the application: the "
    "AMA application asks which other entities' staff use each system.",
    FindingKind.OUTSIDE_US: "Working from outside the US: the AMA application asks in which countries users sit.",
    FindingKind.LEFT: "On an application's roster but not on the directory roster: if the person has left, close the "
    "account; while it is open it is a user.",
    FindingKind.SHARED_ACCOUNT: "The identifier or name reads as a shared or generic login: the AMA counts each "
    "individual, so a shared login hides users and a test login is none.",
}


class ReconciliationPage(OrganizationPage):
    """GET: the reconciliation of one year (`?year=`), people paged (`?p=`), one finding listed (`?finding=`, paged
    by `?fp=`). POST (officers): accept a finding with a reason."""

    template_name = "admin/licensing/organization/reconciliation.html"
    title = "Reconcile rosters: {organization}"
    methods = ("GET", "POST")
    refusal = "Accepting or withdrawing a finding needs an officer's access to this organization."

    def allowed(self, request, organization) -> bool:
        if not super().allowed(request, organization):
            return False
        if request.method == "POST":
            return self.may_accept(request, organization)
        return True

    @staticmethod
    def may_accept(request, organization) -> bool:
        return request.user.has_perm("licensing.add_findingacceptance") and access.can(
            request.user, organization, access.CHANGE
        )

    def respond(self, request, organization):
        year = shown_year.parse(request.GET.get("year") or request.POST.get("year")) or shown_year.shown_year()
        if request.method == "POST" and "withdraw" in request.POST:
            return self.withdraw(request, organization, year)
        if request.method == "POST":
            return self.accept(request, organization, year)
        reconciliation = selectors.reconcile(organization, year, user=request.user)
        read = selectors.overview(reconciliation)
        totals, found = read.totals, read.found
        people_page = selectors.page_of(read.keys, request.GET.get("p"))
        accepted = selectors.acceptances(reconciliation)
        chosen = request.GET.get("finding")
        if chosen not in FindingKind.values:
            chosen = next((kind for kind in FindingKind.values if found[kind]), FindingKind.OTHER_ENTITY)
        findings_page = selectors.page_of(found[chosen], request.GET.get("fp"))
        # One read of the lines for both lists: the people of this page and of this page of findings.
        keys = list(dict.fromkeys([*people_page.object_list, *findings_page.object_list]))
        rows = {row.key: row for row in selectors.people(reconciliation, keys)}
        summary = [
            {
                "kind": kind,
                "label": FindingKind(kind).label,
                "explanation": EXPLANATIONS[kind],
                "total": len(found[kind]),
                "accepted": sum(1 for key in found[kind] if (kind, key) in accepted),
            }
            for kind in FindingKind.values
        ]
        return self.render(
            request,
            organization,
            license_year=year,
            years=shown_year.choices(),
            reconciliation=reconciliation,
            totals=totals,
            rosters=[(roster, totals.per_roster.get(roster.pk, 0)) for roster in reconciliation.rosters],
            people_page=people_page,
            people=[rows[key] for key in people_page.object_list],
            summary=summary,
            chosen=chosen,
            chosen_label=FindingKind(chosen).label,
            findings_page=findings_page,
            findings=[(rows[key], accepted.get((chosen, key))) for key in findings_page.object_list],
            may_accept=self.may_accept(request, organization),
        )

    def withdraw(self, request, organization, year):
        """Withdraw one of this organization's acceptances, with a reason: the finding is open again."""
        # A forged id (not digits, or past the database's range) finds nothing rather than failing.
        chosen = identifiers.record_id(request.POST.get("withdraw", ""))
        acceptance = (
            FindingAcceptance.objects.filter(organization=organization, license_year=year, pk=chosen).first()
            if chosen is not None
            else None
        )
        query = request.GET.copy()
        query["year"] = str(year)
        if acceptance is None:
            messages.error(request, "That acceptance is no longer recorded; reload the page. Nothing was changed.")
            return HttpResponseRedirect(f"{request.path}?{query.urlencode()}")
        query["finding"] = acceptance.kind
        try:
            services.finding_withdraw(acceptance=acceptance, actor=request.user, reason=request.POST.get("reason", ""))
        except ValidationError as problem:
            messages.error(request, " ".join(problem.messages) + " Nothing was changed.")
        else:
            messages.success(
                request, f"{acceptance.get_kind_display()}: the acceptance for {acceptance.identifier} is withdrawn."
            )
        return HttpResponseRedirect(f"{request.path}?{query.urlencode()}")

    def accept(self, request, organization, year):
        kind = request.POST.get("kind", "")
        identifier = request.POST.get("identifier", "")
        try:
            services.finding_accept(
                organization=organization,
                license_year=year,
                kind=kind,
                identifier=identifier,
                actor=request.user,
                reason=request.POST.get("reason", ""),
            )
        except ValidationError as problem:
            messages.error(request, " ".join(problem.messages) + " Nothing was saved.")
        else:
            messages.success(request, f"{FindingKind(kind).label}: the finding for {identifier} is accepted.")
        query = request.GET.copy()
        query["year"] = str(year)
        if kind in FindingKind.values:
            query["finding"] = kind
        return HttpResponseRedirect(f"{request.path}?{query.urlencode()}")


@admin.register(FindingAcceptance)
class FindingAcceptanceAdmin(WrittenByThePortalMixin, ScopedAdmin):
    """Accepted findings, read only: they are accepted on the organization's reconciliation page."""

    list_display = ["license_year", "kind", "person_name", "identifier", "organization", "accepted_by_name", "reason"]
    list_select_related = ["organization"]
    list_filter = ["license_year", "kind"]
    search_fields = ["=identifier", "person_name", "reason"]
    search_help_text = "Search by exact identifier, person or reason."
    ordering = ["-license_year", "kind", "identifier", "pk"]
    fields = [
        "organization",
        "license_year",
        "kind",
        "identifier",
        "person_name",
        "reason",
        "accepted_by_name",
        "accepted_at",
    ]
    readonly_fields = fields
