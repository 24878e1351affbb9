"""Amounts in templates, worded by licensing.royalty.dollars: `{% dollars line.amount line.estimate %}`."""

from decimal import Decimal, InvalidOperation

from django import template

from licensing import royalty

register = template.Library()


@register.simple_tag
def dollars(amount, estimate=False) -> str:
    """The amount as "$1,234.50", with " (est.)" when `estimate` is true; snapshots hold amounts as strings.

    A snapshot frozen before its rows carried an estimate flag has none: the missing flag reads as no label.
    """
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return str(amount)
    return royalty.dollars(value, estimate=bool(estimate))
