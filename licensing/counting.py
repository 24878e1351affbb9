"""Users of an application in a license year, from a head count or from the User Proxy Model.

AMA user definition (domain.md 1a): a user is anyone who (a) accesses CPT in the application,
(b) uses the application to produce output that relies on CPT, or (c) makes use of such output.
Each person is counted once, under the first kind that applies, so the kinds simply add up.
User Proxy Model (AMA, "CPT licensing for health care delivery organizations"): users are a
base metric times a factor; a part-user is a user, so the product is rounded up.
"""

import math
from decimal import Decimal

from django.core.exceptions import ValidationError

COUNTED = "counted"
PROXY = "proxy"
USER_KINDS = ("direct_users", "program_users", "output_users")
PROXY_FIELDS = ("base_metric", "metric_value", "factor")


def counted_users(direct: int | None, program: int | None, output: int | None) -> int:
    return sum(value or 0 for value in (direct, program, output))


def proxy_users(metric_value: Decimal | None, factor: Decimal | None) -> int | None:
    if metric_value is None or factor is None:
        return None
    return math.ceil(Decimal(metric_value) * Decimal(factor))


def users(count) -> int | None:
    """Users a UserCount gives; None when a proxy count lacks its inputs."""
    if count is None:
        return None
    if count.method == PROXY:
        return proxy_users(count.metric_value, count.factor)
    return counted_users(count.direct_users, count.program_users, count.output_users)


def explain(count) -> str:
    """One line a compliance officer can read out to the AMA: how the number was reached."""
    if count.method == PROXY:
        metric = count.get_base_metric_display().lower() if count.base_metric else "base metric"
        return f"{count.metric_value} {metric} x {count.factor} = {users(count)} users (User Proxy Model)"
    return (
        f"{count.direct_users or 0} (a) + {count.program_users or 0} (b) + {count.output_users or 0} (c)"
        f" = {users(count)} counted users"
    )


def normalize(count) -> None:
    """Clear the inputs of the method not in use, so a stored count has one explanation only."""
    if count.method == PROXY:
        for field in USER_KINDS:
            setattr(count, field, None)
    else:
        count.base_metric = ""
        count.metric_value = None
        count.factor = None
        count.metric_source = ""


def check(count) -> None:
    """Refuse a count that cannot be explained; messages name the field to fix."""
    errors = {}
    if count.method == PROXY:
        if not count.base_metric:
            errors["base_metric"] = "Choose the base metric the proxy estimate starts from, e.g. physicians."
        if count.metric_value is None:
            errors["metric_value"] = "Enter the base metric's value for this year, e.g. the number of physicians."
        if count.factor is None:
            errors["factor"] = "Enter the proxy factor (users per unit of the base metric); no default exists for this kind of application."
    else:
        negative = [field for field in USER_KINDS if (getattr(count, field) or 0) < 0]
        for field in negative:
            errors[field] = "Users cannot be negative."
        if not negative and counted_users(count.direct_users, count.program_users, count.output_users) == 0:
            errors["direct_users"] = (
                "A counted count needs at least one person under (a), (b) or (c). "
                "If nobody uses CPT in this system, mark its license as not required instead."
            )
    if errors:
        raise ValidationError(errors)


def proxy_defaults(*, application, license_year: int, base_metric: str):
    """The factor and metric value a proxy count would take from reference data, if any.

    Returns (metric_value, metric_source, factor), each None when nothing is on file.
    """
    from licensing.models import BaseMetrics, ProxyFactor

    factor = (
        ProxyFactor.objects.filter(category=application.category, base_metric=base_metric)
        .values_list("factor", flat=True)
        .first()
    )
    metrics = BaseMetrics.objects.filter(organization_id=application.organization_id, license_year=license_year).first()
    value = metrics.value_of(base_metric) if metrics else None
    source = (metrics.source or f"Base metrics {license_year}") if value is not None else None
    return (Decimal(value) if value is not None else None), source, factor
