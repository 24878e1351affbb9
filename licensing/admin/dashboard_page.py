"""The admin index as a compliance dashboard: the person's organizations in the year shown.

Everything on it comes from selectors (licensing.dashboard figures, licensing.overview totals) over
querysets scoped through licensing.access; the page only arranges them. A fixed number of queries,
whatever the number of organizations.
"""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone

from licensing import access, charts, dashboard, overview, shown_year, standing
from licensing.admin.base import dollars
from licensing.choices import ApplicationCategory, Position
from licensing.models import Application, Organization, UserCount

PAST_YEARS = 3
PROJECTED_YEARS = 2


def changelist_url(model, **params) -> str:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return f"{url}?{urlencode(params)}"


def dashboard_context(request) -> dict:
    user = request.user
    if not (user.is_active and user.is_staff):
        return {}
    year = shown_year.shown_year()
    today = timezone.localdate()
    applications = access.restrict(Application.objects.all(), user, access.VIEW)
    table = standing.rate_table()

    figures = []
    # The position figures from one query (position_counts states the same rules as filter_position).
    positions = overview.position_counts(applications, year)
    for item in dashboard.FIGURES:
        if item.model is Application and item.param == "position":
            count = positions[item.key]
        else:
            scoped = access.restrict(item.model._default_manager.all(), user, access.VIEW)
            count = item.select(scoped, today, year).count()
        figures.append(
            {
                "figure": item,
                "count": count,
                "url": changelist_url(item.model, **{item.param: item.key, shown_year.PARAMETER: year}),
            }
        )

    totals = RoyaltyTotals(applications, table, royalty_years(year))
    rates, rates_problem = standing.rates_for(table, year)
    total = totals.of(year) if rates is not None else None
    under = under_licensed(applications, year, table)
    return {
        "dashboard": True,
        "shown_year": year,
        "year_choices": shown_year.links(year),
        "figures": figures,
        "royalty": total,
        "royalty_text": dollars(total.total, estimate=total.is_estimate) if total else "",
        "rates_problem": rates_problem,
        "under": under,
        "forecast": forecast(totals),
        # Posting is a question about now: the current license year, whatever year is shown.
        "chargemaster": chargemaster(user, standing.current_license_year()),
        "not_counted": positions[Position.NOT_COUNTED],
        "not_counted_url": changelist_url(Application, position=Position.NOT_COUNTED, **{shown_year.PARAMETER: year}),
        "under_url": changelist_url(Application, position=Position.UNDER_LICENSED, **{shown_year.PARAMETER: year}),
        "implausible": implausible(user, year),
        "users_chart": users_chart(applications, year),
        "royalty_chart": royalty_chart(totals),
    }


def under_licensed(applications, year, table) -> dict:
    """The under-licensed systems of the year with their shortfall and true-up cost (the rules, in Python)."""
    rows = list(
        overview.filter_position(applications, year, Position.UNDER_LICENSED).select_related("organization", "vendor")
    )
    by_pair = standing.standings(rows, [year], table=table)
    lines = []
    cost, estimate = Decimal("0"), False
    for application in rows:
        item = by_pair[application.pk, year]
        status = item.position
        lines.append(
            {
                "application": application,
                "shortfall": status.shortfall,
                "cost": dollars(status.true_up_cost, estimate=bool(item.rates and item.rates.is_estimate)),
            }
        )
        cost += status.true_up_cost
        estimate = estimate or bool(item.rates and item.rates.is_estimate)
    return {
        "lines": lines[:10],
        "more": max(len(lines) - 10, 0),
        "shortfall": sum(line["shortfall"] for line in lines),
        "cost": dollars(cost, estimate=estimate),
    }


def implausible(user, year) -> dict:
    """Counted counts of the year far below the User Proxy Model's estimate (three queries, whatever the number)."""
    counts = access.restrict(UserCount.objects.all(), user, access.VIEW).filter(license_year=year)
    rows = standing.implausible_counts(counts)
    return {
        "lines": rows[:10],
        "more": max(len(rows) - 10, 0),
        "total": len(rows),
        "open": sum(1 for row in rows if not row.acknowledged),
        "threshold": rows[0].comparison.share if rows else "",
    }


def royalty_years(shown: int) -> list[tuple[int, int | None]]:
    """Every (license year, basis year) the page prices: the year shown, the chart's past and current years, and
    the projected years of the chart and the forecast (priced from this year's counts)."""
    current = standing.current_license_year()
    keys: list[tuple[int, int | None]] = [(shown, None)]
    keys += [(year, None) for year in range(current - PAST_YEARS, current + 1)]
    keys += [
        (year, current) for year in range(current + 1, current + 1 + max(standing.FORECAST_YEARS, PROJECTED_YEARS))
    ]
    return list(dict.fromkeys(keys))


class RoyaltyTotals:
    """The royalty totals the page shows, computed together in two queries (overview.royalty_totals), so this
    year's total, the chart and the forecast share the work of reading the counts."""

    def __init__(self, applications, table, keys: list[tuple[int, int | None]]):
        self.table = table
        wanted = []
        for year, basis_year in keys:
            rates, _problem = standing.rates_for(table, year)
            if rates is not None:
                wanted.append((year, rates, basis_year))
        self._done = overview.royalty_totals(applications, wanted)

    def of(self, year: int, *, basis_year: int | None = None):
        """The total asked for at construction; None when no rates cover the year."""
        return self._done.get((year, basis_year))


def forecast(totals: RoyaltyTotals) -> list[dict]:
    """The next three license years' royalty from this year's counts and the rate projection (estimates)."""
    current = standing.current_license_year()
    rows = []
    for year in range(current + 1, current + 1 + standing.FORECAST_YEARS):
        total = totals.of(year, basis_year=current)
        if total is None:
            rows.append({"year": year, "text": standing.rates_for(totals.table, year)[1]})
            continue
        # A forecast is an estimate even where the year's rates are published: the counts are this year's.
        rows.append({"year": year, "text": dollars(total.total, estimate=True), "rates": total.rates_label})
    return rows


def chargemaster(user, year) -> dict:
    organizations = overview.chargemaster_allowed(access.organizations(user, access.VIEW), year)
    blocked = organizations.filter(may_post_chargemaster=False)
    return {
        "allowed": organizations.filter(may_post_chargemaster=True).count(),
        "blocked": blocked.count(),
        "blocked_list": list(blocked.order_by("name")[:10]),
        "year": year,
        "url": changelist_url(Organization, chargemaster="no"),
    }


def users_chart(applications, year):
    labels = dict(ApplicationCategory.choices)
    users = overview.users_by_category(applications, year)
    bars = [
        charts.Bar(labels.get(category, category), number, f"{number:,}")
        for category, number in sorted(users.items(), key=lambda pair: -pair[1])
    ]
    return charts.bar_chart(f"Users by application category, {year}", bars)


def royalty_chart(totals: RoyaltyTotals):
    current = standing.current_license_year()
    bars = []
    for year in range(current - PAST_YEARS, current + PROJECTED_YEARS + 1):
        projected = year > current
        total = totals.of(year, basis_year=current) if projected else totals.of(year)
        if total is None:
            continue
        estimate = projected or total.is_estimate
        label = f"{year} (projected)" if projected else str(year)
        bars.append(charts.Bar(label, total.total, dollars(total.total, estimate=estimate), estimate=estimate))
    return charts.bar_chart(
        "Royalty by license year",
        bars,
        description="Past years, the current year, and the next two projected from this year's counts.",
    )
