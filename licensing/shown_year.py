"""The license year a page shows: `?year=YYYY`, the current license year otherwise.

The dashboard, organization pages and the lists with the "year for position and attention" filter
(licensing.admin.filters.ShownYearFilter) show one year; column headings name it (licensing.admin.base.
with_year). The year is read once per request by ShownYearMiddleware; on those pages a value that is not
a license year is ignored (the page shows the current year), never an error. Other lists take no `year`
(Django's admin answers an unknown parameter by showing the whole list).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlencode

from licensing import standing
from licensing.models.years import FIRST_LICENSE_YEAR, LAST_LICENSE_YEAR

PARAMETER = "year"
_shown: ContextVar[int | None] = ContextVar("licensing_shown_year", default=None)


def parse(value: object) -> int | None:
    """The license year in `value` ("2026"), or None when it is not one."""
    text = str(value or "").strip()
    if not (text.isascii() and text.isdigit() and len(text) == 4):
        return None
    year = int(text)
    return year if FIRST_LICENSE_YEAR <= year <= LAST_LICENSE_YEAR else None


def shown_year() -> int:
    return _shown.get() or standing.current_license_year()


def choices() -> list[int]:
    """The years a selector offers: three past years, the current one and two ahead (projected rates)."""
    current = standing.current_license_year()
    return list(range(current - 3, current + 3))


def links(selected: int) -> list[dict]:
    """The year selector of a page: each offered year, the query string that shows it, and which is shown."""
    return [
        {"year": year, "url": f"?{urlencode({PARAMETER: year})}", "selected": year == selected} for year in choices()
    ]


class ShownYearMiddleware:
    """Sets the shown year for one request (settings.MIDDLEWARE)."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        token = _shown.set(parse(request.GET.get(PARAMETER)))
        try:
            return self.get_response(request)
        finally:
            _shown.reset(token)
