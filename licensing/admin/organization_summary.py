"""What an organization's page shows for the year chosen: its applications' royalty and positions, what needs
action, chargemaster posting, the forecast, and for a health system the roll-up of its affiliates.

The figures come from licensing.standing (the rules, per application) and licensing.overview (forecast
totals); this module only arranges them for the template. Every amount that rests on a projected rate or
an estimated entity fee says "(est.)".
"""

from __future__ import annotations

from licensing import access, royalty, shown_year, standing
from licensing.admin.base import dollars, position_badge


def year_summary_context(organization, *, viewer) -> dict:
    year = shown_year.shown_year()
    table = standing.rate_table()
    scope = access.scope(viewer) if viewer is not None else None
    family = [
        org
        for org in standing.with_affiliates(organization)
        if org.pk == organization.pk or (scope is not None and scope.allows(org.pk))
    ]
    rollup = standing.roll_up(family, year, table=table)
    own_year = rollup.entities[0][1]
    rates, rates_problem = standing.rates_for(table, year)
    return {
        "organization": organization,
        "year": year,
        "year_choices": shown_year.links(year),
        "rates": rates,
        "rates_problem": rates_problem,
        "lines": [application_line(item) for item in own_year.standings],
        "own": entity_row(organization, own_year),
        "uncounted": len(own_year.royalty.uncounted) if own_year.royalty else 0,
        "needing_action": [
            {"application": item.application, "position": item.position} for item in own_year.needing_action
        ],
        # Posting is a question about now: the current license year, whatever year is shown.
        "chargemaster": (
            rollup.chargemaster[organization.pk]
            if year == standing.current_license_year()
            else standing.chargemaster_posting([organization], standing.current_license_year())[organization.pk]
        ),
        "current_year": standing.current_license_year(),
        "rollup": rollup_rows(rollup) if len(family) > 1 else None,
        "forecast": forecast(rollup, table),
    }


def application_line(item: standing.Standing) -> dict:
    line = item.royalty
    estimate = bool(line and line.is_estimate)
    status = item.position
    return {
        "application": item.application,
        "coverage": item.application.get_cpt_coverage_display(),
        "users": item.users if item.users is not None else "not counted",
        "per_user": dollars(line.per_user, estimate=estimate) if line else "-",
        "royalty": dollars(line.amount, estimate=estimate) if line else "-",
        "note": line.note if line else item.rates_problem,
        "position": position_badge(status),
        "shortfall": status.shortfall or "",
        "true_up": dollars(status.true_up_cost, estimate=estimate) if status.true_up_cost else "",
    }


def entity_row(organization, year: standing.OrganizationYear) -> dict:
    result = year.royalty
    if result is None:
        return {"organization": organization, "applications": len(year.standings), "needing": len(year.needing_action)}
    return {
        "organization": organization,
        "applications": len(year.standings),
        "needing": len(year.needing_action),
        "applications_total": dollars(result.applications_total, estimate=result.applications_total_is_estimate),
        "entity_fee": dollars(result.entity_fee, estimate=result.entity_fee_is_estimate),
        "entity_fee_note": result.entity_fee_note,
        "total": dollars(result.total, estimate=result.is_estimate),
    }


def rollup_rows(rollup: standing.RollUp) -> dict:
    return {
        "rows": [entity_row(org, year) for org, year in rollup.entities],
        "needing": len(rollup.needing_action),
        "applications": sum(len(year.standings) for _, year in rollup.entities),
        "applications_total": dollars(
            royalty.money(
                sum((year.royalty.applications_total for _, year in rollup.entities if year.royalty), royalty.ZERO)
            ),
            estimate=any(year.royalty.applications_total_is_estimate for _, year in rollup.entities if year.royalty),
        ),
        "entity_fees": dollars(
            rollup.entity_fees,
            estimate=any(year.royalty.entity_fee_is_estimate for _, year in rollup.entities if year.royalty),
        ),
        "total": dollars(rollup.total, estimate=rollup.is_estimate),
    }


def forecast(rollup: standing.RollUp, table) -> list[dict]:
    """The next license years from this year's counts and licenses, at published or projected rates."""
    current = standing.current_license_year()
    if rollup.license_year != current:
        rollup = standing.roll_up([org for org, _ in rollup.entities], current, table=table)
    years = range(current + 1, current + 1 + standing.FORECAST_YEARS)
    own = standing.forecast([rollup.entities[0][1]], years, table=table)
    family = standing.forecast([year for _, year in rollup.entities], years, table=table)
    rows = []
    for year in years:
        if own[year] is None:
            rows.append({"year": year, "own": standing.rates_for(table, year)[1], "family": ""})
            continue
        rows.append(
            {
                "year": year,
                "rates": table.for_year(year).label,
                # A forecast is an estimate even at published rates: the counts are this year's.
                "own": dollars(own[year].total, estimate=True),
                "family": dollars(family[year].total, estimate=True) if len(rollup.entities) > 1 else "",
            }
        )
    return rows
