"""Inline SVG charts rendered on the server: no JavaScript, no CDN."""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


def line_chart_svg(
    points: list[tuple[float, float]],
    *,
    since: float,
    until: float,
    label: str,
    unit: str = "",
    width: int = 320,
    height: int = 60,
    threshold: float | None = None,
) -> SafeString:
    """A small line chart of (epoch seconds, value) between `since` and `until`."""
    top = max([value for _, value in points] + ([threshold] if threshold else []) + [1e-9])
    span = max(until - since, 1.0)

    def x(ts: float) -> float:
        return round((ts - since) / span * (width - 2) + 1, 1)

    def y(value: float) -> float:
        return round(height - 2 - value / top * (height - 14), 1)

    worst = max((value for _, value in points), default=None)
    summary = (
        f"{label}: no data in this period"
        if worst is None
        else f"{label}: highest {worst:.2f}{unit}, {len(points)} points"
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(summary)}" class="ops-chart">',
        f"<title>{escape(summary)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="none" stroke="#ccc"/>',
    ]
    if threshold:
        parts.append(
            f'<line x1="1" x2="{width - 1}" y1="{y(threshold)}" y2="{y(threshold)}" '
            'stroke="#c60" stroke-dasharray="4 3"/>'
        )
    if points:
        coords = " ".join(f"{x(ts)},{y(value)}" for ts, value in points)
        parts.append(f'<polyline fill="none" stroke="#246" stroke-width="1.5" points="{coords}"/>')
    parts.append(f'<text x="4" y="11" font-size="10" fill="#333">{escape(summary)}</text>')
    parts.append("</svg>")
    # Safe: every value interpolated above is a number or escaped.
    return mark_safe("".join(parts))
