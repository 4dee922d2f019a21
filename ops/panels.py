"""Dashboard panels that apps above ops add: a title, columns and rows of text or links.

Ops never imports those apps; they call `register(name=..., title=..., rows=...)` from
their `AppConfig.ready()` (batches adds "Recent import failures").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Cell:
    text: str
    url: str = ""


@dataclass
class Panel:
    name: str
    title: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    empty: str = "None."
    error: str = ""


@dataclass(frozen=True)
class _Registered:
    title: str
    columns: list[str]
    rows: Callable[[], list[list[Cell]]]
    empty: str


_panels: dict[str, _Registered] = {}


def register(
    *,
    name: str,
    title: str,
    columns: list[str],
    rows: Callable[[], list[list[Cell]]],
    empty: str = "None.",
) -> None:
    """Show `rows()` as a table titled `title` on the ops dashboard; one query, please."""
    _panels[name] = _Registered(title=title, columns=columns, rows=rows, empty=empty)


def panels_render() -> list[Panel]:
    """Every registered panel with its rows; a panel that fails says so and the rest show."""
    rendered = []
    for name, panel in _panels.items():
        shown = Panel(name=name, title=panel.title, columns=panel.columns, empty=panel.empty)
        try:
            shown.rows = panel.rows()
        except Exception as exc:
            shown.error = f"could not be read: {type(exc).__name__}"
        rendered.append(shown)
    return rendered
