"""Horizontal bar charts as plain data for inline SVG (no chart library, readable without JavaScript)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

RISK_ORDER = ("critical", "high", "medium", "low", "info", "unknown")
BAR_WIDTH = 320  # SVG user units of the longest bar
ROW_HEIGHT = 24


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    width: int  # SVG units, proportional to value
    y: int
    css: str  # a class for the colour (risk levels get their own)
    href: str  # the cameras table filtered to this bar


@dataclass(frozen=True)
class Chart:
    title: str
    bars: list[Bar]
    height: int
    total: int


def _order(counts: Mapping[str, int], order: tuple[str, ...] | None) -> list[tuple[str, int]]:
    if order is None:
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    known = [(k, counts[k]) for k in order if k in counts]
    return known + sorted((kv for kv in counts.items() if kv[0] not in order), key=lambda kv: kv[0])


def bar_chart(
    title: str,
    counts: Mapping[str, int],
    *,
    param: str,
    order: tuple[str, ...] | None = None,
    css_prefix: str = "",
    labels: Mapping[str, str] | None = None,
    limit: int = 12,
) -> Chart:
    """Bars sorted by size (or by `order`), each linking to the cameras table filtered by `param`."""
    items = _order(counts, order)[:limit]
    top = max((v for _, v in items), default=0)
    bars = [
        Bar(
            label=(labels or {}).get(k, k or "(none)"),
            value=v,
            width=max(2, round(BAR_WIDTH * v / top)) if top and v else 0,
            y=i * ROW_HEIGHT,
            css=f"{css_prefix}{k}" if css_prefix else "bar",
            href=f"/cameras?{param}={quote(k)}",
        )
        for i, (k, v) in enumerate(items)
    ]
    return Chart(
        title=title, bars=bars, height=max(ROW_HEIGHT, len(bars) * ROW_HEIGHT), total=sum(counts.values())
    )
