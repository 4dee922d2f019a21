"""Severity levels, and what a condition function returns."""

from __future__ import annotations

GREEN, AMBER, RED = "green", "amber", "red"
_RANK = {GREEN: 0, AMBER: 1, RED: 2}

# {subject: (severity, message)} for every subject of one kind firing now.
Firing = dict[str, tuple[str, str]]


def worst(levels: list[str]) -> str:
    """The most severe of GREEN/AMBER/RED levels (GREEN when there are none)."""
    return max(levels, key=_RANK.__getitem__, default=GREEN)
