"""Selectors for many applications at once, computed by the database: users, compliance position, royalty.

The rules are licensing.counting, licensing.position and licensing.royalty (pure functions over one
application). A dashboard or a filtered list over tens of thousands of applications cannot load each one
to ask them, so this module states the same rules as SQL expressions, for querysets. They must agree:
tests/test_overview.py compares them with the pure functions on every demo application and year and on
the edge cases (proxy rounding, lapsed vendors, every license status); change both together.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    FilteredRelation,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, ExtractYear, Greatest, Least, Round

from licensing import position, royalty
from licensing.attention import in_service
from licensing.choices import CountMethod, Coverage, LicenseStatus, Position
from licensing.models import Application, License

MONEY = DecimalField(max_digits=20, decimal_places=2)
NEEDS_ACTION = "needs_action"


def with_users(applications: QuerySet[Application], license_year: int) -> QuerySet[Application]:
    """Annotate `year_users`: the users the application's count for the year gives (NULL without a count),
    as licensing.counting.users: counted = (a) + (b) + (c); proxy = metric x factor rounded up."""
    return applications.annotate(
        year_count=FilteredRelation("user_counts", condition=Q(user_counts__license_year=license_year)),
    ).annotate(year_users=_users("year_count"))


def _users(count_relation: str) -> Case:
    """The users of the count joined as `count_relation` (NULL without one), as licensing.counting.users."""
    count = f"{count_relation}__"
    # Exact in integers: metric has 2 decimals and factor 3, so their product times 100,000 is whole.
    scaled = Cast(Round(F(f"{count}metric_value") * 100), BigIntegerField()) * Cast(
        Round(F(f"{count}factor") * 1000), BigIntegerField()
    )
    proxy = ExpressionWrapper((scaled + 99_999) / 100_000, output_field=BigIntegerField())
    counted = (
        Coalesce(F(f"{count}direct_users"), 0)
        + Coalesce(F(f"{count}program_users"), 0)
        + Coalesce(F(f"{count}output_users"), 0)
    )
    return Case(
        When(**{f"{count}id__isnull": True}, then=Value(None)),
        When(Q(**{f"{count}method": CountMethod.PROXY}), then=proxy),
        default=counted,
        output_field=BigIntegerField(),
    )


def with_positions(applications: QuerySet[Application], license_year: int) -> QuerySet[Application]:
    """Annotate `year_users`, `year_licensed`, `year_position` (a Position value; NULL for a system not in
    service that year, which is neither counted nor flagged) and `year_shortfall`, as
    licensing.position.application_position decides them."""
    status = "year_license__status"
    vendor_covers = Q(vendor__is_authorized_distributor=True) & (
        Q(vendor__distribution_agreement_expires__isnull=True)
        | Q(vendor__distribution_agreement_expires__gte=datetime.date(license_year, 1, 1))
    )
    annotated = with_users(applications, license_year).annotate(
        year_license=FilteredRelation("licenses", condition=Q(licenses__license_year=license_year)),
    )
    annotated = annotated.annotate(year_licensed=Coalesce(F("year_license__licensed_users"), 0))
    annotated = annotated.annotate(
        year_position=Case(
            When(~in_service(license_year), then=Value(None)),
            When(cpt_coverage=Coverage.NO_CPT, then=Value(Position.NOT_REQUIRED)),
            When(Q(**{status: LicenseStatus.NOT_REQUIRED}), then=Value(Position.NOT_REQUIRED)),
            When(
                Q(cpt_coverage=Coverage.VENDOR) | Q(**{status: LicenseStatus.COVERED_BY_VENDOR}),
                then=Case(
                    When(vendor_covers, then=Value(Position.COVERED_BY_VENDOR)), default=Value(Position.UNLICENSED)
                ),
            ),
            When(year_users__isnull=True, then=Value(Position.NOT_COUNTED)),
            When(
                Q(year_license__id__isnull=True)
                | ~Q(**{f"{status}__in": [LicenseStatus.ACTIVE, LicenseStatus.EXPIRED]}),
                then=Value(Position.UNLICENSED),
            ),
            When(year_licensed__lt=F("year_users"), then=Value(Position.UNDER_LICENSED)),
            When(year_licensed__gt=F("year_users"), then=Value(Position.OVER_LICENSED)),
            default=Value(Position.COMPLIANT),
        )
    )
    return annotated.annotate(
        year_shortfall=Case(
            When(year_position=Position.UNDER_LICENSED, then=F("year_users") - F("year_licensed")),
            When(year_position=Position.UNLICENSED, then=Coalesce(F("year_users"), 0)),
            default=Value(0),
            output_field=BigIntegerField(),
        )
    )


def filter_position(applications: QuerySet[Application], license_year: int, wanted: str) -> QuerySet[Application]:
    """The applications in `wanted` position that year: a Position value, or NEEDS_ACTION for any that needs it."""
    annotated = with_positions(applications, license_year)
    if wanted == NEEDS_ACTION:
        return annotated.filter(year_position__in=sorted(NEEDS_ACTION_POSITIONS))
    return annotated.filter(year_position=wanted)


NEEDS_ACTION_POSITIONS = {Position.UNDER_LICENSED, Position.UNLICENSED, Position.NOT_COUNTED}
POSITION_CHOICES = [*Position.choices, (NEEDS_ACTION, "Needs action")]


def position_counts(applications: QuerySet[Application], license_year: int) -> dict[str, int]:
    """How many applications are in each position that year (one query); NEEDS_ACTION sums those needing it."""
    rows = (
        with_positions(applications, license_year)
        .exclude(year_position__isnull=True)
        .values("year_position")
        .annotate(number=Count("pk"))
        .order_by()
    )
    counts = {value: 0 for value, _label in Position.choices}
    for row in rows:
        counts[row["year_position"]] = row["number"]
    counts[NEEDS_ACTION] = sum(counts[value] for value in NEEDS_ACTION_POSITIONS)
    return counts


@dataclass(frozen=True)
class RoyaltyTotal:
    """The royalty of many applications in one year, as licensing.royalty.organization_royalty adds it up."""

    license_year: int
    applications: Decimal
    entity_fees: Decimal
    legal_entities: int
    is_estimate: bool
    rates_label: str
    basis_year: int

    @property
    def total(self) -> Decimal:
        return royalty.money(self.applications + self.entity_fees)


def royalty_total(
    applications: QuerySet[Application],
    license_year: int,
    rates: royalty.YearRates,
    *,
    basis_year: int | None = None,
) -> RoyaltyTotal:
    """The year's royalty of `applications` in service (two queries): per-user rates of each system's data
    files times its users, plus vendor or distributor pass-through fees, plus flat fees of direct licenses,
    plus the entity fee once per legal entity with a direct license.

    `basis_year` (a forecast): the users and licenses of that year, priced at `license_year`'s rates.
    """
    return royalty_totals(applications, [(license_year, rates, basis_year)])[license_year, basis_year]


def royalty_totals(
    applications: QuerySet[Application],
    wanted: Iterable[tuple[int, royalty.YearRates, int | None]],
) -> dict[tuple[int, int | None], RoyaltyTotal]:
    """Several royalty totals at once, as royalty_total computes each, keyed by (license_year, basis_year) as
    asked: two queries, whatever the number of years and basis years (the dashboard's year shown, past years
    and forecast from this year's counts cost what one year's total does).

    The database adds up, for the systems that pay in each basis year, users per data file and per year in
    service (and how many direct licenses use each file), pass-through fees times users, and the legal
    entities with a direct license; each year's rates are applied to those sums here. Users are whole numbers,
    so users times a rate summed per file is the same amount as each system's per-user price times its users.
    """
    asked = [
        (license_year, rates, basis_year, basis_year or license_year) for license_year, rates, basis_year in wanted
    ]
    if not asked:
        return {}
    per_file, amounts = _royalty_sums(applications, sorted({(basis, year) for year, _r, _b, basis in asked}))
    return {
        (license_year, basis_year): priced_total(
            license_year,
            rates,
            basis,
            {
                code: (sums[f"users_{license_year}"], sums[f"direct_{license_year}"])
                for code, sums in per_file.get(basis, {}).items()
            },
            amounts[f"pass_{basis}_{license_year}"],
            amounts[f"entities_{basis}_{license_year}"],
        )
        for license_year, rates, basis_year, basis in asked
    }


def priced_total(
    license_year: int,
    rates: royalty.YearRates,
    basis: int,
    per_file: dict[str | None, tuple[int, int]],
    passed: Decimal | None,
    entities: int,
) -> RoyaltyTotal:
    """The year's total from the database's sums for it: (users, direct licenses) per data file code, the
    pass-through amount (None without any) and the number of legal entities with a direct license."""
    users_part = Decimal("0")
    for code, (users, direct) in per_file.items():
        if code in rates.per_user:
            users_part += rates.per_user[code] * users + rates.flat_fee.get(code, Decimal("0")) * direct
    applications_total = royalty.money(users_part + (passed or 0))
    fee = royalty.money(rates.entity_fee) if rates.entity_fee is not None else royalty.ZERO
    return RoyaltyTotal(
        license_year=license_year,
        applications=applications_total,
        entity_fees=royalty.money(fee * entities),
        legal_entities=entities,
        # As royalty.organization_royalty: an estimate when an amount it adds is one.
        is_estimate=(rates.is_estimate and applications_total > 0)
        or (entities > 0 and fee > 0 and rates.entity_fee_estimated),
        rates_label=rates.label,
        basis_year=basis,
    )


def _royalty_sums(applications: QuerySet[Application], pairs: list[tuple[int, int]]) -> tuple[dict, dict]:
    """For each (basis year, license year) of `pairs`, the systems paying in the basis year (its counts and
    licenses) that are in service in the license year: users and direct licenses per basis year and data file
    code (one query), pass-through amounts and legal entities with a direct license (one query)."""
    bases = sorted({basis for basis, _year in pairs})
    years = sorted({year for _basis, year in pairs})
    # Each system once per basis year it has a count for (once, with NULLs, when it has none), beside the
    # license of the count's year: one pass over the applications for every basis year.
    paying = (
        applications.annotate(
            basis_count=FilteredRelation("user_counts", condition=Q(user_counts__license_year__in=bases)),
            basis_license=FilteredRelation(
                "licenses", condition=Q(licenses__license_year=F("basis_count__license_year"))
            ),
        )
        # Through an annotation, so the license joined above is tested, not a subquery per row (exclude's way
        # across a relation); a system without a license for the year stays in.
        .annotate(basis_users=_users("basis_count"), basis_status=Coalesce(F("basis_license__status"), Value("")))
        .exclude(cpt_coverage=Coverage.NO_CPT)
    )
    required = ~Q(basis_status=LicenseStatus.NOT_REQUIRED)
    serving = {year: in_service(year) for year in years}
    # Each system's first and last year in service, within the years asked: it is in service in year Y of them
    # when first <= Y <= last (attention.in_service). Grouping by those two, the users expression is summed once
    # instead of once per year (a FILTER column each): the query costs a fraction to build and compile.
    first = Greatest(Coalesce(ExtractYear("in_service_from"), Value(years[0])), Value(years[0]))
    last = Least(Coalesce(ExtractYear("in_service_to"), Value(years[-1])), Value(years[-1]))
    per_file: dict[int, dict] = {}
    for row in (
        paying.filter(required, basis_users__isnull=False)
        .values(
            basis=F("basis_count__license_year"),
            code=F("data_files__code"),
            first=first,
            last=last,
            coverage=F("cpt_coverage"),
        )
        .annotate(users=Sum("basis_users", default=0), systems=Count("pk"))
        .order_by()
    ):
        sums = per_file.setdefault(row["basis"], {}).setdefault(
            row["code"], {**{f"users_{y}": 0 for y in years}, **{f"direct_{y}": 0 for y in years}}
        )
        for year in years:
            if row["first"] <= year <= row["last"]:
                sums[f"users_{year}"] += row["users"]
                if row["coverage"] == Coverage.DIRECT:
                    sums[f"direct_{year}"] += row["systems"]
    pass_through = Case(
        When(
            cpt_coverage=Coverage.VENDOR,
            vendor__isnull=False,
            then=F("vendor__processing_fee_per_user"),
        ),
        When(
            cpt_coverage=Coverage.DISTRIBUTOR,
            basis_license__distributor__isnull=False,
            then=F("basis_license__distributor__processing_fee_per_user"),
        ),
        default=Value(Decimal("0")),
        output_field=MONEY,
    )
    passed = ExpressionWrapper(pass_through * F("basis_users"), output_field=MONEY)
    # A system without a count in a basis year has no row of that year, yet its legal entity counts: the entity
    # fee is tested on each system's row(s), its "not required" license of the basis year found by id.
    not_required = {
        basis: License.objects.filter(license_year=basis, status=LicenseStatus.NOT_REQUIRED).values("application_id")
        for basis in bases
    }
    # Annotated once and summed by name: each sum resolving its own copy of the expression cost more than the query.
    amounts = paying.annotate(basis_passed=passed).aggregate(
        **{
            f"pass_{basis}_{year}": Sum(
                # Without users the product is NULL, which SUM skips: testing them would repeat their expression.
                "basis_passed",
                filter=Q(basis_count__license_year=basis) & required & serving[year],
                output_field=MONEY,
            )
            for basis, year in pairs
        },
        **{
            f"entities_{basis}_{year}": Count(
                "organization_id",
                distinct=True,
                filter=serving[year] & Q(cpt_coverage=Coverage.DIRECT) & ~Q(pk__in=not_required[basis]),
            )
            for basis, year in pairs
        },
    )
    return per_file, amounts


def users_by_category(applications: QuerySet[Application], license_year: int) -> dict[str, int]:
    """Users counted for the year per application category, of systems in service that use CPT (one query)."""
    rows = (
        with_users(applications, license_year)
        .filter(in_service(license_year), year_users__isnull=False)
        .exclude(cpt_coverage=Coverage.NO_CPT)
        .values("category")
        .annotate(users=Sum("year_users"))
        .order_by()
    )
    return {row["category"]: int(row["users"] or 0) for row in rows}


def chargemaster_allowed(organizations: QuerySet, license_year: int) -> QuerySet:
    """Annotate `may_post_chargemaster`, as licensing.position.may_post_chargemaster decides it: an active
    license for the year held by one of the organization's chargemaster or billing/revenue-cycle systems."""
    active = License.objects.filter(
        application__organization_id=OuterRef("pk"),
        application__category__in=sorted(position.CHARGEMASTER_CATEGORIES),
        license_year=license_year,
        status=LicenseStatus.ACTIVE,
    )
    return organizations.annotate(may_post_chargemaster=Exists(active))
