"""The organization's "As of a date" page: what it looked like at a chosen moment, on screen or as CSV.

The reconstruction is licensing.audit.as_of (history rows only); this page scopes it to one organization
the person may view, turns it into rows and renders them. It writes nothing.
"""

from dataclasses import dataclass

from django import forms
from django.http import HttpResponse
from django.utils import timezone

from licensing import royalty
from licensing.admin.base import dollars
from licensing.admin.organization_pages import OrganizationPage
from licensing.audit import as_of, exports
from licensing.models.years import FIRST_LICENSE_YEAR, LAST_LICENSE_YEAR

MOMENT_FORMAT = "%Y-%m-%dT%H:%M:%S"


class MomentForm(forms.Form):
    at = forms.DateTimeField(
        label="As of",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}, format=MOMENT_FORMAT),
        error_messages={
            "invalid": "That is not a date and time. Enter one like 2026-03-01 14:30, or pick it in the calendar."
        },
        help_text="Local time. Leave empty for now.",
    )

    def clean_at(self):
        at = self.cleaned_data["at"]
        # License years run from FIRST_LICENSE_YEAR to LAST_LICENSE_YEAR; nothing can be recorded outside them.
        if at is not None and not FIRST_LICENSE_YEAR <= at.year <= LAST_LICENSE_YEAR:
            raise forms.ValidationError(
                f"Choose a moment between {FIRST_LICENSE_YEAR} and {LAST_LICENSE_YEAR}, "
                "the license years the portal covers."
            )
        return at


@dataclass(frozen=True)
class Row:
    """One application as the page and the CSV show it."""

    item: as_of.ApplicationThen

    @property
    def name(self) -> str:
        return self.item.application.name

    @property
    def category(self) -> str:
        return self.item.application.get_category_display()

    @property
    def coverage(self) -> str:
        return self.item.application.get_cpt_coverage_display()

    @property
    def method(self) -> str:
        return self.item.count.get_method_display() if self.item.count is not None else ""

    @property
    def license_status(self) -> str:
        return self.item.license.get_status_display() if self.item.license is not None else "No license"

    @property
    def licensed_users(self) -> int | None:
        return self.item.license.licensed_users if self.item.license is not None else None

    @property
    def true_up_is_estimate(self) -> bool:
        # Priced per user at the year's rates: an estimate when they are projected.
        rates = self.item.standing.rates
        return bool(rates and rates.is_estimate)

    @property
    def per_user_text(self) -> str:
        line = self.item.royalty
        return dollars(line.per_user, estimate=line.is_estimate) if line else ""

    @property
    def royalty_text(self) -> str:
        line = self.item.royalty
        return dollars(line.amount, estimate=line.is_estimate) if line else ""

    @property
    def true_up_text(self) -> str:
        status = self.item.position
        if status is None or not status.true_up_cost:
            return ""
        return dollars(status.true_up_cost, estimate=self.true_up_is_estimate)

    def csv_values(self) -> list:
        """The row's cells; amounts stay numbers, each followed by its basis (royalty.basis_label)."""
        item, line, status = self.item, self.item.royalty, self.item.position
        true_up = status.true_up_cost if status and status.true_up_cost else None
        return [
            self.name,
            self.category,
            self.coverage,
            "yes" if item.in_service else "no",
            item.users,
            self.method,
            item.basis,
            self.license_status,
            self.licensed_users,
            line.per_user if line else None,
            royalty.basis_label(line.is_estimate) if line else None,
            line.amount if line else None,
            royalty.basis_label(line.is_estimate) if line and line.amount is not None else None,
            line.note if line else None,
            status.label if status else None,
            status.reason if status else None,
            true_up,
            royalty.basis_label(self.true_up_is_estimate) if true_up is not None else None,
            "yes" if item.deleted_since else "no",
        ]


def csv_header(year: int) -> list[str]:
    return [
        "Application",
        "Category",
        "CPT covered by",
        f"In service {year}",
        "Users",
        "Method",
        "How the users were derived",
        "License status",
        "Licensed users",
        "Per user",
        "Per user basis",
        "Royalty",
        "Royalty basis",
        "Royalty note",
        "Position",
        "Position detail",
        "True-up cost",
        "True-up cost basis",
        "Deleted since",
    ]


def csv_response(snapshot: as_of.OrganizationThen, rows: list[Row]) -> HttpResponse:
    stamp = timezone.localtime(snapshot.moment).strftime("%Y-%m-%dT%H%M")
    header = csv_header(snapshot.license_year)
    lines = [row.csv_values() for row in rows]
    total = snapshot.royalty
    if total is not None and rows:
        royalty_column, basis_column = header.index("Royalty"), header.index("Royalty basis")
        note_column = header.index("Royalty note")
        for label, amount, estimate, note in [
            ("Applications total", total.applications_total, total.applications_total_is_estimate, ""),
            ("Entity fee", total.entity_fee, total.entity_fee_is_estimate, total.entity_fee_note),
            ("Total", total.total, total.is_estimate, ""),
        ]:
            cells = [""] * len(header)
            cells[0], cells[royalty_column], cells[note_column] = label, amount, note
            cells[basis_column] = royalty.basis_label(estimate)
            lines.append(cells)
    filename = f"{snapshot.organization.slug}_as-of_{stamp}.csv"
    return exports.csv_response(filename, header, lines, stream=False)


def totals(total) -> list[tuple[str, str]]:
    """The footer lines of the page: applications, entity fee once, total (royalty.organization_royalty)."""
    return [
        ("Applications", dollars(total.applications_total, estimate=total.applications_total_is_estimate)),
        (total.entity_fee_note, dollars(total.entity_fee, estimate=total.entity_fee_is_estimate)),
        ("Total", dollars(total.total, estimate=total.is_estimate)),
    ]


class AsOfPage(OrganizationPage):
    """The page for one organization: GET with `at` (a date-time) and optionally `format=csv`."""

    template_name = "admin/licensing/organization/as_of.html"
    title = "{organization} as of a date"
    refusal = "Looking at an organization as of a date needs view access to it."

    def respond(self, request, organization):
        if request.GET.get("at", "").strip():
            form = MomentForm(request.GET)
            moment = form.cleaned_data["at"] if form.is_valid() else None
        else:
            moment = timezone.now()
            form = MomentForm(initial={"at": moment})
        snapshot = as_of.organization_as_of(organization, moment) if moment is not None else None
        rows = [Row(item) for item in snapshot.applications] if snapshot else []
        if snapshot is not None and request.GET.get("format") == "csv":
            return csv_response(snapshot, rows)
        return self.render(
            request,
            organization,
            form=form,
            snapshot=snapshot,
            rows=rows,
            total=snapshot.royalty if snapshot else None,
            # With its offset, so the CSV is of exactly this moment whatever the time zone does that day.
            moment_value=timezone.localtime(moment).isoformat() if moment else "",
            totals=totals(snapshot.royalty) if snapshot and snapshot.royalty else [],
        )
