"""Bar charts drawn on the server as SVG: no script, no CDN, readable without colour.

Every bar carries its value as text; estimated bars are hatched and labelled "(est.)", so nothing depends
on telling colours apart. Labels are escaped (format_html).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

ROW_HEIGHT = 26
LABEL_WIDTH = 210
BAR_WIDTH = 300
VALUE_WIDTH = 150


@dataclass(frozen=True)
class Bar:
    label: str
    value: Decimal | int
    text: str  # the value as printed, e.g. "1,250" or "$21,480.00 (est.)"
    estimate: bool = False


def bar_chart(title: str, bars: list[Bar], *, description: str = "") -> SafeString:
    """A horizontal bar chart with a title, one row per bar, values printed at the end of each bar."""
    chart_id = _slug(title)
    values = "; ".join(f"{bar.label}: {bar.text}" for bar in bars) + "." if bars else ""
    largest = max((float(bar.value) for bar in bars), default=0.0) or 1.0
    height = ROW_HEIGHT * max(len(bars), 1) + 34
    width = LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH
    rows = []
    for index, bar in enumerate(bars):
        y = 30 + index * ROW_HEIGHT
        length = max(int(BAR_WIDTH * float(bar.value) / largest), 1 if bar.value else 0)
        rows.append(
            format_html(
                '<g class="bar{}"><text x="{}" y="{}" text-anchor="end" fill="currentColor">{}</text>'
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}" stroke="#1f2d3d"{}/>'
                '<text x="{}" y="{}" fill="currentColor">{}</text></g>',
                " estimate" if bar.estimate else "",
                LABEL_WIDTH - 8,
                y + 14,
                bar.label,
                LABEL_WIDTH,
                y,
                length,
                ROW_HEIGHT - 8,
                f"url(#{chart_id}-hatch)" if bar.estimate else "#417690",
                mark_safe(' stroke-dasharray="4 2"') if bar.estimate else "",  # noqa: S308  # nosec B308 # a constant
                LABEL_WIDTH + length + 6,
                y + 14,
                bar.text,
            )
        )
    if not bars:
        rows.append(format_html('<text x="8" y="44" fill="currentColor">{}</text>', "Nothing to show for this year."))
    return format_html(
        '<figure class="chart"><svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="{id}-title"'
        ' viewBox="0 0 {w} {h}" width="{w}" height="{h}" font-family="sans-serif" font-size="13">'
        '<title id="{id}-title">{title}</title>{desc}'
        '<defs><pattern id="{id}-hatch" width="6" height="6" patternUnits="userSpaceOnUse"'
        ' patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#417690" stroke-width="3"/></pattern></defs>'
        '<text x="0" y="16" font-weight="bold" fill="currentColor">{title}</text>{rows}</svg></figure>',
        id=chart_id,
        w=width,
        h=height,
        title=title,
        # Screen readers read the values from the description: the picture itself is one image to them.
        desc=format_html("<desc>{}</desc>", " ".join(part for part in [description, values] if part)),
        rows=format_html_join("", "{}", ((row,) for row in rows)),
    )


def _slug(text: str) -> str:
    return "".join(character if character.isalnum() else "-" for character in text.lower()).strip("-")[:40]
