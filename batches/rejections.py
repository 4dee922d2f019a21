"""A rejected row and `import_data()`'s verdict on it, shared by both paths."""

from __future__ import annotations

from dataclasses import dataclass, field

from batches.cells import DATABASE, ERROR, INVALID, FieldError


@dataclass
class Rejected:
    row_number: int
    columns: list[str]
    message: str
    values: list[str]
    # column name -> problem, for the preview's per-field display
    field_errors: dict[str, str] = field(default_factory=dict)
    # import_data()'s verdict: "invalid" (a ValidationError naming `columns`) or "error"
    kind: str = ERROR


def row_verdict(
    row_number: int, problems: list[tuple[str, FieldError]], cells: list[str]
) -> Rejected:
    """A row's outcome from its cells' problems, in the Resource's field order.

    import_data() reads the fields in order: a ValueError marks the field invalid and
    goes on, any other exception ends the row (an error); the database is met only if
    every field was read without a problem.
    """
    invalid = []
    stopped = None
    for name, problem in problems:
        if problem.kind == INVALID:
            invalid.append((name, problem))
        elif problem.kind == ERROR:
            stopped = (name, problem)
            break
    if stopped is not None:
        shown, kind = [*invalid, stopped], ERROR
    elif invalid:
        shown, kind = invalid, INVALID
    else:
        shown, kind = [p for p in problems if p[1].kind == DATABASE], ERROR
    return Rejected(
        row_number,
        [name for name, _ in shown],
        "; ".join(f"row {row_number}, column {name!r}: {problem}" for name, problem in shown),
        cells,
        {name: str(problem) for name, problem in shown},
        kind,
    )
