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
    height: int = 72,
    threshold: float | None = None,
    digits: int = 2,
) -> SafeString:
    """A small line chart of (epoch seconds, value) between `since` and `until`."""
    worst = max((value for _, value in points), default=None)
    top = max(worst or 0.0, 1e-9)
    # A threshold far above the data would flatten the line: draw it only when near.
    show_threshold = bool(threshold) and threshold <= 2 * top
    if show_threshold:
        top = max(top, threshold)
    top *= 1.1
    span = max(until - since, 1.0)
    plot_height = height - 12  # room for the time axis labels

    def x(ts: float) -> float:
        return round((ts - since) / span * (width - 2) + 1, 1)

    def y(value: float) -> float:
        return round(plot_height - 1 - value / top * (plot_height - 14), 1)

    limit = f", threshold {threshold:.{digits}f}{unit}" if threshold else ""
    summary = (
        f"{label}: no data in this period{limit}"
        if worst is None
        else f"{label}: highest {worst:.{digits}f}{unit}{limit}"
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(summary)}" class="ops-chart">',
        f"<title>{escape(summary)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{plot_height}" fill="none" stroke="#ccc"/>',
        f'<text x="1" y="{height - 2}" font-size="9" fill="#555">24 h ago</text>',
        f'<text x="{width - 1}" y="{height - 2}" font-size="9" fill="#555" text-anchor="end">now</text>',
    ]
    if show_threshold and threshold:
        parts.append(
            f'<line x1="1" x2="{width - 1}" y1="{y(threshold)}" y2="{y(threshold)}" '
            'stroke="#c60" stroke-dasharray="4 3"/>'
        )
    if points:
        coords = " ".join(f"{x(ts)},{y(value)}" for ts, value in points)
        parts.append(f'<polyline fill="none" stroke="#246" stroke-width="1.5" points="{coords}"/>')
        if len(points) < 3:
            # A line needs two points; a fresh install has one bucket: show it as dots.
            parts.extend(
                f'<circle cx="{x(ts)}" cy="{y(value)}" r="2.5" fill="#246"/>'
                for ts, value in points
            )
    parts.append(f'<text x="4" y="11" font-size="10" fill="#333">{escape(summary)}</text>')
    parts.append("</svg>")
    # Safe: every value interpolated above is a number or escaped.
    return mark_safe("".join(parts))
