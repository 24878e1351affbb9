"""The license year: the calendar year of one annual CPT release (AMA rate sheet 2024-2026)."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

FIRST_LICENSE_YEAR = 2000
LAST_LICENSE_YEAR = 2100

LICENSE_YEAR_VALIDATORS = [
    MinValueValidator(FIRST_LICENSE_YEAR, f"License years start at {FIRST_LICENSE_YEAR}."),
    MaxValueValidator(LAST_LICENSE_YEAR, f"License years end at {LAST_LICENSE_YEAR}."),
]


def license_year_constraint(prefix: str, field: str = "license_year") -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=models.Q(**{f"{field}__gte": FIRST_LICENSE_YEAR, f"{field}__lte": LAST_LICENSE_YEAR}),
        name=f"{prefix}_{field}_in_range",
        violation_error_message=f"The year must be between {FIRST_LICENSE_YEAR} and {LAST_LICENSE_YEAR}.",
    )
