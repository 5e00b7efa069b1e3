"""A dependency-free SVG bar chart of one benchmark run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path

from loadgen import Result

_COLORS = {"healthz": "#8c96a3", "decide-1": "#2f6fdf", "decide-10": "#6a4fd0", "token": "#1c9a6b"}


def write_chart(
    path: Path,
    bars: Sequence[tuple[str, Result]],
    *,
    title: str,
    ratios: Mapping[str, float],
    images: Mapping[str, int] | None = None,
) -> None:
    """Requests/s per target, each bar labelled with its ratio to /healthz and latencies.

    A dashed tick on a bar marks the issue's target throughput (a ratio of /healthz).
    """
    images = images or {}
    base = next((r for _, r in bars if r.target == "healthz"), None)
    width, left, right, top, row, bar_h = 900, 250, 40, 70, 64, 34
    height = top + row * len(bars) + 50
    scale_max = max(r.rps for _, r in bars) * 1.08 or 1
    plot_w = width - left - right

    def x(rps: float) -> float:
        return left + plot_w * rps / scale_max

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="20" y="30" font-size="17" font-weight="bold" fill="#1d2330">'
        f"{escape(title)}</text>",
        '<text x="20" y="52" font-size="12" fill="#5b6472">requests per second (longer is better);'
        " dashed tick: the target share of /healthz; p50 / p99 latency under each bar</text>",
    ]
    # grid
    step = _nice_step(scale_max)
    tick = 0.0
    while tick <= scale_max:
        gx = x(tick)
        parts.append(
            f'<line x1="{gx:.1f}" y1="{top - 8}" x2="{gx:.1f}" y2="{top + row * len(bars) - 10}" '
            'stroke="#e3e6eb" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{gx:.1f}" y="{top + row * len(bars) + 8}" font-size="11" fill="#5b6472" '
            f'text-anchor="middle">{tick:,.0f}</text>'
        )
        tick += step
    for index, (label, result) in enumerate(bars):
        y = top + index * row
        color = _COLORS.get(result.target, "#2f6fdf")
        parts.append(
            f'<text x="{left - 12}" y="{y + bar_h / 2 + 5:.1f}" font-size="13" fill="#1d2330" '
            f'text-anchor="end">{escape(label)}</text>'
        )
        parts.append(
            f'<rect x="{left}" y="{y}" width="{x(result.rps) - left:.1f}" height="{bar_h}" '
            f'fill="{color}" rx="3"/>'
        )
        share = f" ({result.rps / base.rps:.0%} of /healthz)" if base and base.rps else ""
        inside = f"{result.rps:,.0f} req/s{share}"
        if images.get(result.target, 1) > 1:
            inside += f" = {result.rps * images[result.target]:,.0f} images/s"
        parts.append(
            f'<text x="{left + 8}" y="{y + bar_h / 2 + 5:.1f}" font-size="12" fill="#ffffff" '
            f'font-weight="bold">{escape(inside)}</text>'
        )
        latency = f"p50 {result.p50_ms:.1f} ms / p99 {result.p99_ms:.1f} ms"
        parts.append(
            f'<text x="{left}" y="{y + bar_h + 14}" font-size="11" fill="#5b6472">'
            f"{escape(latency)}</text>"
        )
        goal = ratios.get(result.target)
        if goal and base:
            gx = x(base.rps * goal)
            parts.append(
                f'<line x1="{gx:.1f}" y1="{y - 4}" x2="{gx:.1f}" y2="{y + bar_h + 4}" '
                'stroke="#d43c3c" stroke-width="2" stroke-dasharray="4 3"/>'
            )
    parts.append("</svg>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts) + "\n")


def _nice_step(maximum: float) -> float:
    raw = maximum / 6
    magnitude = 10 ** (len(str(int(raw))) - 1) if raw >= 1 else 1
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return float(factor * magnitude)
    return float(10 * magnitude)
