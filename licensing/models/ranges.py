"""The values a person may type into dates, counts and amounts: each range defined once, its validators and its
message ("In service from must be between 1 January 1970 and 31 December 2027.") derived from it.

The same maximum holds on SQLite and PostgreSQL: without it SQLite stores any integer while PostgreSQL refuses
one past 2,147,483,647, so the same file or form would be accepted on one and fail on the other. Limits that
move with the calendar ("the end of next year") are functions evaluated when a value is checked, so a
migration never freezes the year it was written in. docs/rules.md lists every range for users.
"""

import datetime
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.core.validators import DecimalValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.deconstruct import deconstructible

from licensing.counting import MAX_PEOPLE

FIRST_DATE = datetime.date(1970, 1, 1)
# How far ahead a vendor's distribution agreement may run: such agreements are signed for several years.
AGREEMENT_YEARS_AHEAD = 10

Limit = Any  # a number, a date, or a function of no arguments giving one when a value is checked


def end_of_next_year() -> datetime.date:
    return datetime.date(timezone.localdate().year + 1, 12, 31)


def end_of_agreement_horizon() -> datetime.date:
    return datetime.date(timezone.localdate().year + AGREEMENT_YEARS_AHEAD, 12, 31)


def _now(limit: Limit) -> Any:
    return limit() if callable(limit) else limit


def shown(value: Any, *, money: bool = False) -> str:
    """A limit as people read it: 1 January 1970, 10,000,000, $999,999.99."""
    if isinstance(value, datetime.date):
        return f"{value.day} {value:%B %Y}"
    if money:
        return f"${Decimal(value):,.2f}"
    return f"{value:,}"


class _InRange:
    """One end of a range whose refusal states the whole range and names the field."""

    def __init__(self, label: str, low: Limit, high: Limit, *, money: bool = False):
        self.label, self.low, self.high, self.money = label, low, high, money

    def message(self) -> str:
        low, high = shown(_now(self.low), money=self.money), shown(_now(self.high), money=self.money)
        return f"{self.label} must be between {low} and {high}."

    def __call__(self, value: Any) -> None:
        if isinstance(value, datetime.datetime):
            value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
        if self.compare(value, _now(self.limit_value)):
            raise ValidationError(self.message(), code=self.code, params={"value": value})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, type(self)) and (self.label, self.low, self.high, self.money) == (
            other.label,
            other.low,
            other.high,
            other.money,
        )

    def __hash__(self) -> int:
        return hash((type(self), self.label))


# Subclasses of Django's own, so Django adds no database-range validator of its own beside them (it would
# say "less than or equal to 2147483647" on PostgreSQL only).
@deconstructible
class NotBelow(_InRange, MinValueValidator):
    def __init__(self, label: str, low: Limit, high: Limit, *, money: bool = False):
        _InRange.__init__(self, label, low, high, money=money)
        self.limit_value = low


@deconstructible
class NotAbove(_InRange, MaxValueValidator):
    def __init__(self, label: str, low: Limit, high: Limit, *, money: bool = False):
        _InRange.__init__(self, label, low, high, money=money)
        self.limit_value = high


def between(label: str, low: Limit, high: Limit, *, money: bool = False) -> list[Callable[[Any], None]]:
    """The validators of one field: `label` (as the page names the field) must lie within low..high."""
    return [NotBelow(label, low, high, money=money), NotAbove(label, low, high, money=money)]


def dates_in_service(label: str) -> list[Callable[[Any], None]]:
    return between(label, FIRST_DATE, end_of_next_year)


def dates_of_agreements(label: str) -> list[Callable[[Any], None]]:
    return between(label, FIRST_DATE, end_of_agreement_horizon)


def people(label: str) -> list[Callable[[Any], None]]:
    return between(label, 0, MAX_PEOPLE)


def at_most_people(name: str, *fields: str) -> models.CheckConstraint:
    """The database's own guard for `people` fields, for writes that skip the forms (bulk updates)."""
    condition = models.Q()
    for field in fields:
        condition &= models.Q(**{f"{field}__isnull": True}) | models.Q(**{f"{field}__lte": MAX_PEOPLE})
    return models.CheckConstraint(
        condition=condition,
        name=name,
        violation_error_message=f"Counts of people cannot exceed {shown(MAX_PEOPLE)}.",
    )


def amount(label: str, max_digits: int, decimal_places: int, *, low: str = "0") -> list[Callable[[Any], None]]:
    """Dollars up to what the field's digits hold, e.g. $999,999.99 for 8 digits with cents."""
    return between(label, Decimal(low), largest(max_digits, decimal_places), money=True)


def largest(max_digits: int, decimal_places: int) -> Decimal:
    return Decimal(10 ** (max_digits - decimal_places)) - Decimal(1).scaleb(-decimal_places)


if TYPE_CHECKING:
    # The type checker reads it as the DecimalField it is (Decimal, or None where null=True).
    RangedDecimalField = models.DecimalField
else:

    class RangedDecimalField(models.DecimalField):
        """A DecimalField whose range validators replace Django's "no more than 8 digits in total", in forms and
        in imports alike; the decimal places are still checked. Use it with `between` (or `amount`) validators
        whose upper end fits the digits."""

        @property
        def validators(self):
            kept = [v for v in super().validators if not isinstance(v, DecimalValidator)]
            return [*kept, DecimalValidator(None, self.decimal_places)]

        def formfield(self, **kwargs):
            return super().formfield(**{"max_digits": None, **kwargs})
