"""Geometry for the Usage page's charts, drawn by the template as inline SVG.

Pure Python (no Django): the template only places the rectangles and labels computed here, so
the charts need no JavaScript and no third-party library, and render under the Content
Security Policy (SVG markup with classes and presentation attributes, no inline style).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# The outcomes a chart stacks, bottom to top; each is also the CSS class suffix of its bars.
# Denials sit on the baseline so they compare from day to day, however many pulls succeed.
SERIES = ("denied", "would_deny", "allowed")

COLUMN_WIDTH, COLUMN_HEIGHT = 720, 240
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 52, 696, 12, 206
ROW_WIDTH, ROW_HEIGHT, ROW_GAP = 720, 22, 12
ROW_LABEL_WIDTH, ROW_VALUE_WIDTH = 190, 70


def nice_step(value: float) -> int:
    """The smallest of 1, 2, 2.5 (from 25 up) or 5 times a power of ten at or above ``value``.

    Grid lines at multiples of such a step read as round numbers (0, 50, 100, ...).
    """
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    steps = (1, 2, 2.5, 5, 10) if power >= 10 else (1, 2, 5, 10)
    return next(int(step * power) for step in steps if step * power >= value)


def axis(top_value: int, lines: int = 5) -> tuple[int, int]:
    """``(maximum, step)`` of a value axis: at most ``lines`` round steps covering the data."""
    step = nice_step(top_value / lines)
    return max(1, math.ceil(top_value / step)) * step, step


def short_number(value: int) -> str:
    """``950``, ``1.2k``, ``35k``, ``1.5M``: axis labels stay narrow."""
    if value < 1000:
        return str(value)
    if value < 1_000_000:
        return f"{value / 1000:.1f}".rstrip("0").rstrip(".") + "k"
    return f"{value / 1_000_000:.1f}".rstrip("0").rstrip(".") + "M"


@dataclass(frozen=True)
class Segment:
    """One outcome's part of a bar."""

    series: str
    value: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Column:
    """One day's stacked bar."""

    day: dt.date
    x: float
    width: float
    total: int
    segments: tuple[Segment, ...]
    counts: Mapping[str, int]


@dataclass(frozen=True)
class Tick:
    """A horizontal grid line with its value."""

    y: float
    label: str


@dataclass(frozen=True)
class AxisLabel:
    """A date under the x axis."""

    x: float
    label: str


@dataclass(frozen=True)
class ColumnChart:
    """A stacked column chart of outcomes per day."""

    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int
    columns: tuple[Column, ...]
    ticks: tuple[Tick, ...]
    dates: tuple[AxisLabel, ...]
    maximum: int


def column_chart(
    days: Sequence[dt.date], counts: Mapping[dt.date, Mapping[str, int]]
) -> ColumnChart:
    """Lay out one stacked column per day (zero days keep their slot so gaps show)."""
    totals = [sum(counts.get(day, {}).values()) for day in days]
    maximum, step = axis(max(totals, default=0))
    plot_height = PLOT_BOTTOM - PLOT_TOP
    slot = (PLOT_RIGHT - PLOT_LEFT) / max(len(days), 1)
    # A gap between bars keeps 90 thin bars distinguishable; very thin bars still get 1 unit.
    bar = max(slot * 0.72, 1.0)
    columns = []
    for index, day in enumerate(days):
        day_counts = {series: counts.get(day, {}).get(series, 0) for series in SERIES}
        x = PLOT_LEFT + index * slot + (slot - bar) / 2
        top = float(PLOT_BOTTOM)
        segments = []
        for series in SERIES:
            value = day_counts[series]
            if not value:
                continue
            height = value / maximum * plot_height
            top -= height
            segments.append(
                Segment(series, value, round(x, 2), round(top, 2), round(bar, 2), round(height, 2))
            )
        columns.append(
            Column(
                day,
                round(x, 2),
                round(bar, 2),
                sum(day_counts.values()),
                tuple(segments),
                day_counts,
            )
        )
    ticks = tuple(
        Tick(round(PLOT_BOTTOM - plot_height * value / maximum, 2), short_number(value))
        for value in range(0, maximum + 1, step)
    )
    dates = tuple(
        AxisLabel(round(PLOT_LEFT + (index + 0.5) * slot, 2), f"{days[index].day} {days[index]:%b}")
        for index in _labelled_indexes(len(days))
    )
    return ColumnChart(
        COLUMN_WIDTH,
        COLUMN_HEIGHT,
        PLOT_LEFT,
        PLOT_RIGHT,
        PLOT_TOP,
        PLOT_BOTTOM,
        tuple(columns),
        ticks,
        dates,
        maximum,
    )


def _labelled_indexes(count: int, wanted: int = 7) -> list[int]:
    """About ``wanted`` evenly spaced indexes, always the first and the last one."""
    if count == 0:
        return []
    every = max(1, math.ceil(count / wanted))
    indexes = list(range(0, count, every))
    if indexes[-1] != count - 1:
        # A last label squeezed next to its neighbour would overlap it: move that one instead.
        if count - 1 - indexes[-1] < every / 2 and len(indexes) > 1:
            indexes[-1] = count - 1
        else:
            indexes.append(count - 1)
    return indexes


@dataclass(frozen=True)
class Row:
    """One labelled horizontal stacked bar."""

    key: str
    label: str
    y: float
    text_y: float
    total: int
    segments: tuple[Segment, ...]
    counts: Mapping[str, int]


@dataclass(frozen=True)
class RowChart:
    """Horizontal stacked bars, one per row (the categories)."""

    width: int
    height: int
    label_width: int
    bar_left: int
    bar_right: int
    value_x: int
    rows: tuple[Row, ...]


def row_chart(rows: Sequence[tuple[str, str, Mapping[str, int]]]) -> RowChart:
    """Lay out ``(key, label, counts)`` rows as bars scaled to the largest total."""
    bar_left = ROW_LABEL_WIDTH
    bar_right = ROW_WIDTH - ROW_VALUE_WIDTH
    span = bar_right - bar_left
    maximum = max((sum(counts.values()) for _, _, counts in rows), default=0) or 1
    laid_out = []
    for index, (key, label, counts) in enumerate(rows):
        y = ROW_GAP / 2 + index * (ROW_HEIGHT + ROW_GAP)
        x = float(bar_left)
        segments = []
        for series in SERIES:
            value = counts.get(series, 0)
            if not value:
                continue
            # A tiny share still gets a visible sliver, so a few denials never vanish.
            width = max(value / maximum * span, 2.0)
            segments.append(
                Segment(series, value, round(x, 2), round(y, 2), round(width, 2), ROW_HEIGHT)
            )
            x += width
        laid_out.append(
            Row(
                key,
                label,
                round(y, 2),
                round(y + ROW_HEIGHT * 0.7, 2),
                sum(counts.get(series, 0) for series in SERIES),
                tuple(segments),
                {series: counts.get(series, 0) for series in SERIES},
            )
        )
    height = int(len(rows) * (ROW_HEIGHT + ROW_GAP)) or ROW_HEIGHT
    return RowChart(
        ROW_WIDTH, height, ROW_LABEL_WIDTH - 10, bar_left, bar_right, bar_right + 8, tuple(laid_out)
    )
