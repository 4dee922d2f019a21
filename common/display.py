"""How the admin pages show values: one place, so every page says it the same way."""

from __future__ import annotations

from datetime import timedelta


def duration_display(value: timedelta | float | None) -> str:
    """'49 ms', '12.3 s', '4:05 min', '1:02:05' (a timedelta or seconds); '-' for None."""
    if value is None:
        return "-"
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if round(seconds * 1000) < 1000:
        return f"{round(seconds * 1000)} ms"  # most task runs: "0.0 s" would say nothing
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d} min"


def span_display(value: timedelta | float) -> str:
    """A span people read at a glance, to the unit that matters: '40 s', '12 min',
    '9 h 05 min', '2 days 4 h' (for "in ..." and "... ago")."""
    seconds = max(0, int(value.total_seconds() if isinstance(value, timedelta) else value))
    if seconds < 60:
        return f"{seconds} s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if hours < 1:
        return f"{minutes} min"
    if days < 1:
        return f"{hours} h {minutes % 60:02d} min"
    return f"{days} day{'s' if days != 1 else ''} {hours % 24} h"
