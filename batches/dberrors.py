"""Database errors in words: which model field, which value, what to do.

PostgreSQL reports the column, constraint and key of a failed write in its error's
diagnostics; these are turned into the model's field names, and, for a NOT NULL
failure, whether the file has the column at all.
"""

from __future__ import annotations

from collections.abc import Collection

from django.db import models

_PLAIN = {
    "22001": "a value is too long for its column",
    "22003": "a number is out of range for its column",
    "22007": "a date or time is not valid",
    "22008": "a date or time is out of range",
    "22P02": "a value is not valid for its column's type",
    "40001": "the write conflicted with another transaction; it will be retried",
    "40P01": "the write deadlocked with another transaction; it will be retried",
}


def _diagnostics(exc: BaseException):
    for candidate in (exc, exc.__cause__, exc.__context__):
        diag = getattr(candidate, "diag", None)
        if diag is not None and getattr(candidate, "sqlstate", None):
            return candidate.sqlstate, diag  # type: ignore[union-attr]
    return None, None


def _field_label(model: type[models.Model] | None, column: str | None) -> tuple[str, str]:
    """("Model.field", field name) of a database column."""
    if model is None or not column:
        return column or "a column", column or ""
    for field in model._meta.concrete_fields:
        if field.column == column:
            return f"{model.__name__}.{field.name}", field.name
    return f"{model.__name__}.{column}", column


def database_error_message(
    exc: BaseException,
    *,
    model: type[models.Model] | None = None,
    file_columns: Collection[str] | None = None,
) -> str:
    """One sentence for a database error of an import write."""
    sqlstate, diag = _diagnostics(exc)
    if diag is None:
        return f"{type(exc).__name__}: {str(exc).strip()}"
    label, name = _field_label(model, diag.column_name)
    detail = (diag.message_detail or "").strip()
    if sqlstate == "23502":
        if file_columns is not None and name not in file_columns:
            return (
                f"{label} cannot be empty (NOT NULL): the file has no column {name!r} and "
                "the field has no default. Add the column, or give the field a default "
                "(or null=True)"
            )
        return f"{label} cannot be empty (NOT NULL) and the row gives no value for it"
    if sqlstate == "23505":
        return (
            f"a row with the same unique value already exists in "
            f"{getattr(model, '__name__', 'the table')} ({detail or diag.constraint_name})"
        )
    if sqlstate == "23503":
        return f"a related row does not exist ({detail or diag.constraint_name})"
    if sqlstate == "23514":
        return (
            f"the row breaks the check {diag.constraint_name!r} of "
            f"{getattr(model, '__name__', 'the table')}"
        )
    plain = _PLAIN.get(sqlstate or "")
    primary = (diag.message_primary or str(exc)).strip()
    if plain:
        return f"{plain} ({primary}{'; ' + detail if detail else ''})"
    return f"the database refused the write: {primary}{'; ' + detail if detail else ''}"
