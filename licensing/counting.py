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

import math
from decimal import Decimal
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError

from licensing.choices import CountMethod

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
    """One line a compliance officer can read out to the AMA: how the number was reached."""
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
