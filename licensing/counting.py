"""Users of an application in a license year, from a head count or from the User Proxy Model.

AMA user definition (as quoted by licensees; see docs/rules.md): a user is anyone who (a) accesses
CPT in the application, (b) uses the application to produce output that relies on CPT, or (c) makes
use of such output.
Each person is counted once, under the first kind that applies, so the kinds simply add up.
User Proxy Model (AMA, "CPT licensing for health care delivery organizations"): users are a
base metric times a factor; a part-user is a user, so the product is rounded up.

Pure functions: they read the values they are given and never query (defaults from reference data
come from licensing.standing.proxy_defaults).
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError

from licensing.choices import BaseMetric, CountMethod, UserKind

if TYPE_CHECKING:
    from licensing.models import UserCount

COUNTED = CountMethod.COUNTED
PROXY = CountMethod.PROXY
USER_KINDS = ("direct_users", "program_users", "output_users")
PROXY_FIELDS = ("base_metric", "metric_value", "factor", "metric_source")

# People in one count field, licensed users, or units of a base metric (physicians, beds, employees): the
# largest US health systems have a few hundred thousand staff, so this refuses typos, not organizations.
# licensing.models.ranges derives the fields' validators from it.
MAX_PEOPLE = 10_000_000


def counted_users(direct: int | None, program: int | None, output: int | None) -> int:
    return sum(value or 0 for value in (direct, program, output))


def proxy_users(metric_value: Decimal | None, factor: Decimal | None) -> int | None:
    if metric_value is None or factor is None:
        return None
    return math.ceil(Decimal(metric_value) * Decimal(factor))


def users(count: UserCount | None) -> int | None:
    """Users a UserCount gives; None when a proxy count lacks its inputs."""
    if count is None:
        return None
    if count.method == PROXY:
        return proxy_users(count.metric_value, count.factor)
    return counted_users(count.direct_users, count.program_users, count.output_users)


def explain(count: UserCount) -> str:
    """One line a compliance officer can read out to the AMA: how the number was reached.

    A count derived from a roster names it (the caller loads `count.roster` with the count).
    """
    roster = count.roster if count.method == COUNTED and count.roster_id is not None else None
    if roster is not None:
        tally = RosterTally(
            direct=count.direct_users or 0,
            program=count.program_users or 0,
            output=count.output_users or 0,
            excluded=count.excluded_users or 0,
        )
        return roster_explanation(taken_on=roster.taken_on, source=roster.source, tally=tally)
    if count.method == PROXY:
        metric = count.get_base_metric_display().lower() if count.base_metric else "base metric"
        return f"{count.metric_value} {metric} x {count.factor} = {users(count)} users (User Proxy Model)"
    return (
        f"{count.direct_users or 0} (a) + {count.program_users or 0} (b) + {count.output_users or 0} (c)"
        f" = {users(count)} counted users"
    )


def _filled(value: object) -> bool:
    return value is not None and value != ""


def inputs_of_the_other_method(count: UserCount) -> list[str]:
    """Fields filled in for the method not chosen: a count has one explanation, so these would be lost."""
    other = USER_KINDS if count.method == PROXY else PROXY_FIELDS
    return [name for name in other if _filled(getattr(count, name))]


def check(count: UserCount) -> None:
    """Refuse a count that cannot be explained; messages name the field to fix.

    Negative numbers are the fields' own validators' to report (once); this adds what needs the whole count.
    """
    errors: dict[str, str] = {}
    mixed = inputs_of_the_other_method(count)
    if mixed:
        # Kept on the form and refused, never dropped: the person decides which explanation is the count's.
        if count.method == PROXY:
            mixed_message = (
                "This is a head count, but the count's method is User Proxy Model: clear it, or choose "
                "Counted users as the method and clear the base metric, its value, the factor and the source instead."
            )
        else:
            mixed_message = (
                "This is an input of the User Proxy Model, but the count's method is Counted users: clear it, or "
                "choose User Proxy Model as the method and clear (a), (b) and (c) instead."
            )
        for name in mixed:
            errors[name] = mixed_message
    if count.method == PROXY:
        if not count.base_metric:
            errors.setdefault("base_metric", "Choose the base metric the proxy estimate starts from, e.g. physicians.")
        if count.metric_value is None:
            errors.setdefault(
                "metric_value", "Enter the base metric's value for this year, e.g. the number of physicians."
            )
        if count.factor is None:
            errors.setdefault(
                "factor",
                "Enter the proxy factor (users per unit of the base metric); "
                "no default exists for this kind of application.",
            )
        estimate = proxy_users(count.metric_value, count.factor)
        if estimate is not None and estimate > MAX_PEOPLE:
            errors.setdefault(
                "factor",
                f"The estimate comes to {estimate:,} users, more than the {MAX_PEOPLE:,} a count may hold: "
                "check the base metric's value and the factor.",
            )
    else:
        negative = any((getattr(count, field) or 0) < 0 for field in USER_KINDS)
        if not negative and counted_users(count.direct_users, count.program_users, count.output_users) == 0:
            errors.setdefault(
                "direct_users",
                "A counted count needs at least one person under (a), (b) or (c). "
                "If nobody uses CPT in this system, mark its license as not required instead.",
            )
    if errors:
        raise ValidationError(errors)


# ---------------------------------------------------------------------------------------------
# Counts derived from rosters
# ---------------------------------------------------------------------------------------------

# The AMA user definition's order: a person is a user under the first kind that applies, (a) before (b) before
# (c); "not a user" applies only to someone no line of the roster makes a user.
KIND_ORDER: tuple[str, ...] = (UserKind.DIRECT, UserKind.PROGRAM, UserKind.OUTPUT, UserKind.NOT_A_USER)
COUNT_FIELD_OF_KIND = {
    UserKind.DIRECT: "direct_users",
    UserKind.PROGRAM: "program_users",
    UserKind.OUTPUT: "output_users",
}


@dataclass(frozen=True)
class RosterTally:
    """People of one roster by the kind they count under, each once; `excluded` are listed but not users.

    `listed_more_than_once` maps a person (as the caller keys them) to the number of lines that list them.
    """

    direct: int = 0
    program: int = 0
    output: int = 0
    excluded: int = 0
    listed_more_than_once: dict[Hashable, int] = field(default_factory=dict)
    kind_of: dict[Hashable, str] = field(default_factory=dict)

    @property
    def users(self) -> int:
        return counted_users(self.direct, self.program, self.output)

    @property
    def people(self) -> int:
        return self.users + self.excluded


def tally_roster(lines: Iterable[tuple[Hashable, str]]) -> RosterTally:
    """Count the people of a roster from its lines, each line a (person, kind) pair.

    Each person is counted once, under the first kind that applies (AMA user definition, as quoted by
    licensees: a user (a) accesses, uses or manipulates CPT content, (b) uses a program that embeds it to
    produce output, or (c) makes use of such output; AMA, "CPT licensing for health care delivery
    organizations", https://www.ama-assn.org/practice-management/cpt/cpt-licensing-health-care-delivery-organizations:
    licensing is per individual user and every type of use is counted for each application). A person listed
    under two roles (a physician who also runs reports) is one user, under (a); a person whose only lines are
    roles mapped as not users (service accounts) is excluded and counted separately.

    A kind outside UserKind (an unmapped role) raises ValueError: the import refuses such rosters first.
    """
    rank: dict[Hashable, int] = {}
    lines_of: dict[Hashable, int] = {}
    for person, kind in lines:
        if kind not in KIND_ORDER:
            raise ValueError(f"A roster line has no AMA user kind ({kind!r}): map its role first.")
        position = KIND_ORDER.index(kind)
        rank[person] = min(position, rank.get(person, position))
        lines_of[person] = lines_of.get(person, 0) + 1
    per_kind = dict.fromkeys(KIND_ORDER, 0)
    kind_of: dict[Hashable, str] = {}
    for person, position in rank.items():
        kind_of[person] = KIND_ORDER[position]
        per_kind[KIND_ORDER[position]] += 1
    return RosterTally(
        direct=per_kind[UserKind.DIRECT],
        program=per_kind[UserKind.PROGRAM],
        output=per_kind[UserKind.OUTPUT],
        excluded=per_kind[UserKind.NOT_A_USER],
        listed_more_than_once={person: n for person, n in lines_of.items() if n > 1},
        kind_of=kind_of,
    )


def roster_explanation(*, taken_on: datetime.date, source: str, tally: RosterTally) -> str:
    """E.g. "Roster of 2026-01-15 from Epic access list: 120 (a) + 40 (b) + 15 (c) = 175 users; 12 excluded
    as not users"."""
    text = (
        f"Roster of {taken_on:%Y-%m-%d} from {source}: {tally.direct} (a) + {tally.program} (b) + "
        f"{tally.output} (c) = {tally.users} {'user' if tally.users == 1 else 'users'}"
    )
    if tally.excluded:
        text += f"; {tally.excluded} excluded as not users"
    return text


# ---------------------------------------------------------------------------------------------
# Plausibility: a counted count against the User Proxy Model
# ---------------------------------------------------------------------------------------------

# The AMA page that says it sets user numbers with HIMSS Analytics, AHA, CMS attestation and public data.
AMA_HCDO_PAGE = "https://www.ama-assn.org/practice-management/cpt/cpt-licensing-health-care-delivery-organizations"
DEFAULT_PLAUSIBILITY_THRESHOLD = Decimal("0.5")


def _number(value: Decimal) -> str:
    return f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,}"


@dataclass(frozen=True)
class ProxyComparison:
    """A counted count's users beside the User Proxy Model's estimate for the same application and year."""

    users: int
    estimate: int
    base_metric: str
    metric_value: Decimal
    factor: Decimal
    threshold: Decimal

    @property
    def implausible(self) -> bool:
        return Decimal(self.users) < Decimal(self.estimate) * self.threshold

    @property
    def share(self) -> str:
        """The threshold in words: "half" for the default, else a percentage."""
        if self.threshold == Decimal("0.5"):
            return "half"
        return f"{_number(self.threshold * 100)}%"

    def sentence(self) -> str:
        """E.g. "175 users counted; the User Proxy Model from 120 physicians gives about 600 (estimate); under half
        — check the count"."""
        metric = BaseMetric(self.base_metric).label.lower() if self.base_metric in BaseMetric.values else "units"
        text = (
            f"{self.users:,} {'user' if self.users == 1 else 'users'} counted; the User Proxy Model from "
            f"{_number(self.metric_value)} {metric} gives about {self.estimate:,} (estimate)"
        )
        if self.implausible:
            return f"{text}; under {self.share} — check the count"
        return f"{text}; not far below it"


def compare_with_proxy(
    *,
    users: int,
    metrics: Mapping[str, int | Decimal | None],
    factors: Mapping[str, Decimal],
    threshold: Decimal = DEFAULT_PLAUSIBILITY_THRESHOLD,
) -> ProxyComparison | None:
    """Compare counted users with the User Proxy Model's estimate; None when no estimate can be made.

    The AMA offers the User Proxy Model (users = base metric x factor) for systems where counting is impractical,
    and when setting user numbers draws on HIMSS Analytics, the American Hospital Association, CMS Attestation
    Reports and public-domain information, so a self-reported count may be compared with them (AMA, "CPT licensing
    for health care delivery organizations", AMA_HCDO_PAGE). A count far below what the organization's own base
    metrics give is what such a comparison would question.

    `metrics` maps a base metric (BaseMetric value) to the organization's figure for the year; `factors` maps a base
    metric to the proxy factor of the application's kind. Where several metrics give an estimate, the lowest is the
    one compared: a count is flagged only when it is far below every estimate the factor table supports.
    """
    best: ProxyComparison | None = None
    for metric in BaseMetric.values:
        value, factor = metrics.get(metric), factors.get(metric)
        if value is None or factor is None or Decimal(value) <= 0:
            continue
        estimate = proxy_users(Decimal(value), factor)
        if estimate is None or (best is not None and estimate >= best.estimate):
            continue
        best = ProxyComparison(
            users=users,
            estimate=estimate,
            base_metric=metric,
            metric_value=Decimal(value),
            factor=Decimal(factor),
            threshold=threshold,
        )
    return best


def plausibility(
    count: UserCount,
    *,
    metrics: Mapping[str, int | Decimal | None],
    factors: Mapping[str, Decimal],
    threshold: Decimal = DEFAULT_PLAUSIBILITY_THRESHOLD,
) -> ProxyComparison | None:
    """compare_with_proxy for a user count: only a head count is compared (a proxy count is the estimate itself)."""
    if count.method != COUNTED:
        return None
    return compare_with_proxy(
        users=counted_users(count.direct_users, count.program_users, count.output_users),
        metrics=metrics,
        factors=factors,
        threshold=threshold,
    )


def acknowledged(count: UserCount, comparison: ProxyComparison) -> bool:
    """Whether the count's plausibility warning was acknowledged for these very figures.

    An acknowledgement is of a count beside an estimate: when either changes, the warning asks again.
    """
    return (
        bool(count.plausibility_reason.strip())
        and count.plausibility_acknowledged_users == comparison.users
        and count.plausibility_acknowledged_estimate == comparison.estimate
    )
