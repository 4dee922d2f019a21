"""A file's header against a dataset: known columns, required ones, problems in words."""

from __future__ import annotations


class HeaderError(ValueError):
    """The header cannot be imported into the dataset: missing/extra/duplicated columns."""


def known_columns(resource) -> set[str]:
    """Every column name the Resource reads or may ignore (readonly, export-only fields)."""
    return {f.column_name for f in resource.get_import_fields()} | {
        f.column_name for f in resource.fields.values()
    }


def check_header(
    header: list[str],
    *,
    known: set[str],
    required: list[str],
    expected: list[str],
    ignore_extra_columns: bool,
) -> dict[str, int]:
    """Column positions by name; raise HeaderError naming every problem of the header.

    A file of rejected rows downloaded from an earlier import starts with the columns
    `row` and `error`: unless the Resource has such columns, they are read and ignored,
    so the corrected file imports again as it is.
    """
    if [name.strip() for name in header[:2]] == ["row", "error"] and not {"row", "error"} & known:
        known = known | {"row", "error"}
    problems = []
    positions: dict[str, list[int]] = {}
    for index, name in enumerate(header):
        positions.setdefault(name.strip(), []).append(index)
    for name, where in positions.items():
        if len(where) > 1:
            numbers = " and ".join(str(i + 1) for i in where)
            problems.append(f"column {name!r} appears more than once (columns {numbers})")
    for index, name in enumerate(header):
        if name.strip() not in known and not ignore_extra_columns:
            label = repr(name.strip()) if name.strip() else "(empty name)"
            problems.append(f"unexpected column {label} (column {index + 1})")
    problems += [f"missing column {name!r}" for name in required if name not in positions]
    if problems:
        raise HeaderError("; ".join(problems) + f". Expected columns: {', '.join(expected)}.")
    return {name: where[0] for name, where in positions.items()}
