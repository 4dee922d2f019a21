"""The compatible path's writes: instances written as save() would write them, in bulk.

Values are what save() sends: each field's `pre_save()` (auto_now, ...) then
`get_db_prep_save()`, a `db_default` as the column's DEFAULT; an update writes every
concrete field, as save() does. They travel as COPY text into a temporary table, then
one `INSERT ... SELECT ... RETURNING` (the new pks, in order) or `UPDATE ... FROM`;
values COPY cannot carry (JSON, intervals, ...) go as query parameters instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.db.models.expressions import DatabaseDefault

from batches.cells import (
    FieldError,
    column_fit,
    int_limits,
    prepared_value,
    render,
    storage_field,
)
from batches.dberrors import database_error_message
from batches.references import references_checked_once
from batches.writer import COPY_BLOCK_ROWS, WRITE_REFUSALS

STAGE = "batches_instances_stage"


def column(field: models.Field) -> str:
    return field.column or field.attname


def db_cast(field: models.Field) -> str:
    """The column's type without its modifier: varchar(20) -> varchar, so an over-long
    value is refused on assignment instead of cut by a cast."""
    return re.sub(r"\(.*?\)", "", field.db_type(connection) or "text")


def stage(cursor, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[str]]) -> None:
    """A temporary table `STAGE` (ord, then `columns`) holding `rows` as COPY text."""
    qn = connection.ops.quote_name
    definition = ", ".join(["ord bigint", *(f"{qn(name)} {cast}" for name, cast in columns)])
    cursor.execute(f"DROP TABLE IF EXISTS {STAGE}")
    cursor.execute(f"CREATE TEMP TABLE {STAGE} ({definition}) ON COMMIT DROP")
    names = ", ".join(["ord", *(qn(name) for name, _ in columns)])
    with cursor.copy(f"COPY {STAGE} ({names}) FROM STDIN") as copy:
        for start in range(0, len(rows), COPY_BLOCK_ROWS):
            block = rows[start : start + COPY_BLOCK_ROWS]
            copy.write(
                "".join(f"{start + i}\t" + "\t".join(row) + "\n" for i, row in enumerate(block))
            )


class _NeedsSave(Exception):
    """A value is an expression (F(), ...): that instance is saved on its own."""


@dataclass
class _Prepared:
    index: int
    defaults: tuple[str, ...]  # fields left to their DEFAULT (db_default)
    values: list


def instances_write(
    *, model: type[models.Model], objs: list[models.Model], new: bool, file_fields: list[str]
) -> dict[int, tuple[str, str]]:
    """Insert (or update by primary key) instances as save() would; {index: (field, why)}.

    A value the column cannot take is refused before writing, naming its field; a
    batch the database still refuses is halved until the refused instances are found.
    """
    meta = model._meta
    failed: dict[int, tuple[str, str]] = {}
    groups: dict[tuple, list[_Prepared]] = {}
    alone: list[int] = []
    plans = {
        pk_set: [
            _Step(
                f,
                "gives no value" if f.name in file_fields else f"the file has no column {f.name!r}",
            )
            for f in written_fields(meta, new=new, pk_set=pk_set)
        ]
        for pk_set in (True, False)
    }
    database = connections[DEFAULT_DB_ALIAS]  # once: each `connection.x` looks it up
    for index, obj in enumerate(objs):
        pk_set = obj._is_pk_set(meta)  # type: ignore[attr-defined]
        try:
            obj._prepare_related_fields_for_save(operation_name="save")  # type: ignore[attr-defined]
            prepared = _prepare(obj, index, plans[pk_set], new=new, database=database)
        except _NeedsSave:
            alone.append(index)
            continue
        except FieldError as exc:
            failed[index] = (getattr(exc, "field_name", ""), str(exc))
            continue
        except ValueError as exc:
            failed[index] = ("", str(exc))
            continue
        groups.setdefault((pk_set, prepared.defaults), []).append(prepared)

    def describe(exc: BaseException) -> tuple[str, str]:
        return "", database_error_message(exc, model=model, file_columns=file_fields)

    for (pk_set, defaults), rows in groups.items():
        fields = [f for f in written_fields(meta, new=new, pk_set=pk_set) if f.name not in defaults]

        def attempt(batch: list[_Prepared], fields=fields) -> None:
            if new:
                _insert(model, fields, batch, objs)
            else:
                _update(model, fields, batch)

        failed.update(_in_halves(rows, attempt, describe))
    for index in alone:
        try:
            with transaction.atomic():
                objs[index].save(force_insert=new)
        except WRITE_REFUSALS as exc:
            failed[index] = describe(exc)
    return failed


def written_fields(meta, *, new: bool, pk_set: bool) -> list[models.Field]:
    """The fields save() writes: on insert all but an unset auto pk, on update all but pk."""
    if new:
        return [
            f
            for f in meta.local_concrete_fields
            if not f.generated and (pk_set or f is not meta.auto_field)
        ]
    return [f for f in meta.local_concrete_fields if not f.primary_key and not f.generated]


# Django's own fields whose get_db_prep_save() gives a value of exactly this type back
# as the same value with the same COPY text (PostgreSQL's backend wraps integers in
# psycopg's Int2/Int4/Int8, int subclasses): such a value skips the call, a third of the
# compatible path's write. tests/batches/test_instances.py holds each Django version to
# that. A subclass of these fields, or any other field, is always called.
_SAME_VALUE: dict[type[models.Field], type] = {
    **dict.fromkeys(
        (models.IntegerField, models.SmallIntegerField, models.BigIntegerField,
         models.PositiveIntegerField, models.PositiveSmallIntegerField,
         models.PositiveBigIntegerField, models.AutoField, models.BigAutoField,
         models.SmallAutoField),
        int,
    ),
    models.CharField: str,
    models.TextField: str,
}  # fmt: skip


def same_value_type(f: models.Field) -> type | None:
    """The type whose values `f.get_db_prep_save()` returns unchanged, if it has one."""
    if type(f) in (models.ForeignKey, models.OneToOneField):
        return _SAME_VALUE.get(type(f.target_field))  # type: ignore[attr-defined]
    return _SAME_VALUE.get(type(f))


class _Step:
    """How one field's value is prepared: decided once per write, not per instance."""

    __slots__ = ("attname", "decimal", "field", "high", "limit", "low", "missing", "plain",
                 "same", "text")  # fmt: skip

    def __init__(self, field: models.Field, missing: str) -> None:
        self.field = field
        self.missing = missing  # how a missing value is told
        self.attname = field.attname
        # Field.pre_save() reads the attribute; a field that overrides it (auto_now...)
        # is asked.
        self.plain = type(field).pre_save is models.Field.pre_save
        self.same = same_value_type(field)
        # DecimalField itself gives a finite Decimal back as Decimal(value): equal, with
        # the same digits and exponent (tests/batches/test_instances.py).
        self.decimal = type(field) is models.DecimalField
        # Values column_fit() would give back unchanged, told without calling it: text
        # without NUL within the varchar's length, integers within the column's range.
        target = storage_field(field)
        self.text = isinstance(target, models.CharField | models.TextField)
        self.limit = target.max_length if isinstance(target, models.CharField) else None
        self.low, self.high = (
            int_limits(target) if isinstance(target, models.IntegerField) else (1, 0)
        )


_NOT_PREPARED = object()


def _prepare(obj, index: int, plan: list[_Step], *, new: bool, database=connection) -> _Prepared:
    """save()'s values for one instance."""
    defaults, values = [], []
    if not new:
        values.append(obj._meta.pk.get_db_prep_save(obj.pk, database))
    for step in plan:
        f = step.field
        value = getattr(obj, step.attname) if step.plain else f.pre_save(obj, new)
        same = type(value) is step.same
        if not same:
            if isinstance(value, DatabaseDefault) and new:
                defaults.append(f.name)
                continue
            if hasattr(value, "resolve_expression"):
                raise _NeedsSave
        if same or (step.decimal and type(value) is Decimal and value.is_finite()):
            prepped = value
        else:
            prepped = _NOT_PREPARED
        kind = type(prepped)
        if kind is str and step.text and "\x00" not in prepped:  # type: ignore[operator]
            if step.limit is None or len(prepped) <= step.limit:  # type: ignore[arg-type]
                values.append(prepped)
                continue
        elif kind is int and step.low <= prepped <= step.high:  # type: ignore[operator]
            values.append(prepped)
            continue
        try:
            if prepped is _NOT_PREPARED:
                prepped = prepared_value(f, value, database)
            values.append(column_fit(f, prepped, shown=value, missing=step.missing))
        except FieldError as exc:
            exc.field_name = f.name  # type: ignore[attr-defined]
            raise
    return _Prepared(index, tuple(defaults), values)


def _in_halves(
    rows: list[_Prepared], attempt: Callable, describe: Callable
) -> dict[int, tuple[str, str]]:
    if not rows:
        return {}
    try:
        with transaction.atomic():
            attempt(rows)
        return {}
    except WRITE_REFUSALS as exc:
        if len(rows) == 1:
            return {rows[0].index: describe(exc)}
    half = len(rows) // 2
    return {
        **_in_halves(rows[:half], attempt, describe),
        **_in_halves(rows[half:], attempt, describe),
    }


def _texts(rows: list[_Prepared]) -> list[list[str]] | None:
    """The rows' values as COPY text, or None if one cannot be written that way."""
    try:
        return [[render(value) for value in row.values] for row in rows]
    except TypeError:
        return None


def _insert(model, fields: list[models.Field], rows: list[_Prepared], objs) -> None:
    meta = model._meta
    qn = connection.ops.quote_name
    returning = meta.db_returning_fields
    columns = ", ".join(qn(column(f)) for f in fields)
    back = f" RETURNING {', '.join(qn(column(f)) for f in returning)}" if returning else ""
    table = qn(meta.db_table)
    texts = _texts(rows)
    with connection.cursor() as cursor:
        if texts is not None:
            # The foreign keys checked once per value, the per-row triggers off for the
            # insert, where batches.references allows it (as on the fast path).
            lines = ["\t".join(row) for row in texts]
            names = [column(f) for f in fields]
            with references_checked_once(table=table, columns=names, lines=lines):
                stage(cursor, [(column(f), db_cast(f)) for f in fields], texts)
                if fields:
                    sql = (
                        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {STAGE} "
                        "ORDER BY ord"
                    )
                else:
                    sql = f"INSERT INTO {table} SELECT FROM {STAGE} ORDER BY ord"  # all DEFAULT
                cursor.execute(sql + back)
        else:
            cells = "(" + ", ".join(["%s"] * len(fields)) + ")"
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([cells] * len(rows))}{back}",
                [value for row in rows for value in row.values],
            )
        results = cursor.fetchall() if returning else []
    for row, returned in zip(rows, results, strict=False):
        for field, value in zip(returning, returned, strict=True):
            setattr(objs[row.index], field.attname, value)
    for row in rows:
        objs[row.index]._state.adding = False
        objs[row.index]._state.db = connection.alias


def _update(model, fields: list[models.Field], rows: list[_Prepared]) -> None:
    if not fields:
        return
    meta = model._meta
    qn = connection.ops.quote_name
    pk = meta.pk
    assignments = ", ".join(f"{qn(column(f))} = s.{qn(column(f))}" for f in fields)
    table = qn(meta.db_table)
    texts = _texts(rows)
    with connection.cursor() as cursor:
        if texts is not None:
            stage(cursor, [("pk", db_cast(pk)), *((column(f), db_cast(f)) for f in fields)], texts)
            cursor.execute(
                f"UPDATE {table} AS t SET {assignments} FROM {STAGE} s "
                f"WHERE t.{qn(column(pk))} = s.pk"
            )
            return
        casts = [db_cast(pk), *(db_cast(f) for f in fields)]
        cell = "(" + ", ".join(f"%s::{cast}" for cast in casts) + ")"
        names = ", ".join(["pk", *(qn(column(f)) for f in fields)])
        cursor.execute(
            f"UPDATE {table} AS t SET {assignments} "
            f"FROM (VALUES {', '.join([cell] * len(rows))}) AS s({names}) "
            f"WHERE t.{qn(column(pk))} = s.pk",
            [value for row in rows for value in row.values],
        )
