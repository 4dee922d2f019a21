"""Panels that apps above ops add to the ops dashboard and the admin home: a title, a
link to the app's own page, columns and rows of text or links.

Ops never imports those apps; they call `register(name=..., title=..., rows=...)` from
their `AppConfig.ready()` (batches adds "Recent import failures" to the dashboard and
the day's imports to the admin home, reporting the next report sends). A panel says
which permissions may see it, so a person sees on the home page what they may open.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from django.db.models import QuerySet

from common.windows import counts_by_window, day_windows

Place = Literal["dashboard", "home"]
DASHBOARD: Literal["dashboard"] = "dashboard"
HOME: Literal["home"] = "home"


@dataclass(frozen=True)
class Cell:
    text: str
    url: str = ""
    # "green" / "amber" / "red" marks the cell with its word and colour; empty: plain.
    state: str = ""


# (column label, the statuses it counts, the colour of a count above 0)
Outcome = tuple[str, tuple[str, ...], str]


def outcomes_by_day(
    queryset: QuerySet, *, field: str, outcomes: list[Outcome], changelist: str
) -> list[list[Cell]]:
    """Rows "today" and "yesterday" with the rows of `queryset` (by `field`) counted per
    outcome, each count linking to `changelist` filtered to what it counts; one query."""
    windows = day_windows()
    counts = counts_by_window(queryset, field=field, windows=windows)
    rows = []
    for window in windows:
        row = [Cell(window.label)]
        for _label, statuses, colour in outcomes:
            number = sum(counts[window.label].get(status, 0) for status in statuses)
            query = window.query(field, status__in=",".join(statuses))
            row.append(
                Cell(f"{number:,}", changelist + query if number else "", colour if number else "")
            )
        rows.append(row)
    return rows


@dataclass
class Panel:
    name: str
    title: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    empty: str = "None."
    error: str = ""
    url: str = ""  # the app's page this panel summarises
    link_text: str = ""


@dataclass(frozen=True)
class _Registered:
    title: str
    columns: list[str]
    rows: Callable[[], list[list[Cell]]]
    empty: str
    place: Place
    permissions: tuple[str, ...]
    url: Callable[[], str] | None
    link_text: str
    order: int


_panels: dict[str, _Registered] = {}


def register(
    *,
    name: str,
    title: str,
    columns: list[str],
    rows: Callable[[], list[list[Cell]]],
    empty: str = "None.",
    place: Place = DASHBOARD,
    permissions: tuple[str, ...] = (),
    url: Callable[[], str] | None = None,
    link_text: str = "",
    order: int = 100,
) -> None:
    """Show `rows()` as a table titled `title` on the ops dashboard (or, with
    place="home", on the admin home), in `order`; one query per panel, please.

    `permissions`: a person needs one of them to see the panel (none: anyone allowed
    the page). `url()`: the page the panel summarises, linked as `link_text`.
    """
    _panels[name] = _Registered(
        title=title,
        columns=columns,
        rows=rows,
        empty=empty,
        place=place,
        permissions=permissions,
        url=url,
        link_text=link_text,
        order=order,
    )


def _allowed(user: Any, permissions: tuple[str, ...]) -> bool:
    return not permissions or any(user.has_perm(permission) for permission in permissions)


def panels_render(*, place: Place = DASHBOARD, user: Any = None) -> list[Panel]:
    """The registered panels of `place` that `user` may see, with their rows; a panel
    that fails says so and the rest show."""
    rendered = []
    chosen = [(name, panel) for name, panel in _panels.items() if panel.place == place]
    for name, panel in sorted(chosen, key=lambda item: item[1].order):
        if user is not None and not _allowed(user, panel.permissions):
            continue
        shown = Panel(
            name=name,
            title=panel.title,
            columns=panel.columns,
            empty=panel.empty,
            link_text=panel.link_text,
        )
        try:
            shown.url = panel.url() if panel.url else ""
            shown.rows = panel.rows()
        except Exception as exc:
            shown.error = f"could not be read: {type(exc).__name__}"
        rendered.append(shown)
    return rendered
