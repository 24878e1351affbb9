"""Changelist filters for the year shown, compliance position and what needs attention (licensing.dashboard)."""

from django.contrib import admin
from django.db.models import QuerySet
from django.utils import timezone

from licensing import access, dashboard, overview, shown_year, standing
from licensing.models import Application


class ShownYearFilter(admin.SimpleListFilter):
    """The license year the list's positions, users, royalty and attention filters are for (default: the current
    one). It does not filter the rows by itself: "By license year" does that."""

    title = "year for position and attention"
    parameter_name = shown_year.PARAMETER

    def lookups(self, request, model_admin):
        return [(str(year), str(year)) for year in shown_year.choices()]

    def value(self):
        # A year the selector does not offer (typed into the address) still applies; nonsense is ignored.
        parsed = shown_year.parse(super().value())
        return str(parsed) if parsed is not None else None

    def queryset(self, request, queryset):
        return queryset

    def choices(self, changelist):
        current = str(shown_year.shown_year())
        for lookup, title in self.lookup_choices:
            yield {
                "selected": current == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }


class PositionFilter(admin.SimpleListFilter):
    """Compliance position in the year shown, computed by the database (licensing.overview): fixed queries."""

    title = "position"
    parameter_name = "position"

    def lookups(self, request, model_admin):
        return overview.POSITION_CHOICES

    def queryset(self, request, queryset):
        wanted = self.value()
        if wanted not in dict(overview.POSITION_CHOICES):
            return queryset
        year = shown_year.shown_year()
        if queryset.model is Application:
            return overview.filter_position(queryset, year, wanted)
        # Counts and licenses: those of the year shown, of applications in that position.
        applications = access.restrict(Application.objects.all(), request.user, access.VIEW)
        positioned = overview.filter_position(applications, year, wanted).values("pk")
        return queryset.filter(license_year=year, application__in=positioned)


class AttentionFilter(admin.SimpleListFilter):
    """The dashboard's figures for this list's model: the records behind each number (licensing.dashboard)."""

    title = "needs attention"
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return [(item.key, item.title) for item in dashboard.figures_for(model_admin.model, self.parameter_name)]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        item = dashboard.figure(queryset.model, self.parameter_name, self.value() or "")
        if item is None:
            return queryset
        return item.select(queryset, timezone.localdate(), shown_year.shown_year())


class ChargemasterFilter(admin.SimpleListFilter):
    """Organizations that may (or may not) post CPT codes in their chargemaster now (the current license year)."""

    title = "may post CPT in its chargemaster"
    parameter_name = "chargemaster"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() not in ("yes", "no"):
            return queryset
        allowed = overview.chargemaster_allowed(queryset, standing.current_license_year())
        return allowed.filter(may_post_chargemaster=self.value() == "yes")
