"""A chunk's foreign keys checked once per distinct value, not once per row.

PostgreSQL checks a foreign key with a trigger per written row (at commit: Django's
constraints are DEFERRABLE INITIALLY DEFERRED), a `SELECT … FOR KEY SHARE` of the
referenced row: about 8 µs a row, a quarter of a wide chunk's time. The fast path
checks each distinct referenced value of the chunk once instead, locking its row
FOR KEY SHARE in the chunk's transaction (so it cannot be deleted or re-keyed before
the commit, which is what the trigger's lock guarantees), and writes with the
triggers off (`session_replication_role = replica`, as `pg_restore
--disable-triggers` does), for the write statements only.

Taken only when all of these hold, else the triggers run as before:

- every trigger on the table is the insert or update check of one of its own
  single-column foreign keys (no trigger of the team's, no deferrable unique
  constraint, no table referencing this one) and the table has no rule;
- the chunk writes every such foreign key's column;
- the database lets this user set `session_replication_role` (a superuser, or on
  PostgreSQL 15+ `GRANT SET ON PARAMETER session_replication_role TO <user>`);
- every distinct value has its row, and none is written with a COPY escape.

A value without its row leaves the triggers on, so the database refuses the write
and the writer finds and names the row, as before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import DatabaseError, connection, transaction

from batches.cells import NULL

_CHECK_TRIGGERS = ("RI_FKey_check_ins", "RI_FKey_check_upd")
_tables: dict[tuple[str, tuple[str, ...]], list[Reference] | None] = {}
_may_disable: dict[str, bool] = {}


@dataclass(frozen=True)
class Reference:
    position: int  # the column's place in the chunk's COPY lines
    table: str  # quoted
    column: str  # quoted
    type: str


@contextlib.contextmanager
def references_checked_once(*, table: str, columns: list[str], lines: list[str]) -> Iterator[bool]:
    """Around a chunk's write statements, inside the caller's savepoint: the
    references checked once per value and the triggers off (yields True), or
    nothing changed (False). An error inside is left to the caller's savepoint,
    whose rollback undoes the setting and the locks."""
    references = _references(table, tuple(columns))
    if not references or not _triggers_may_be_disabled() or not _all_found(references, lines):
        yield False
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
    yield True
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = origin")


def _all_found(references: list[Reference], lines: list[str]) -> bool:
    """Every distinct value of each reference has its row, now locked FOR KEY SHARE."""
    with connection.cursor() as cursor:
        for reference in references:
            at = reference.position
            values = {line.split("\t", at + 1)[at] for line in lines}
            values.discard(NULL)
            if any("\\" in value for value in values):
                return False  # an escaped value: let the trigger read it
            if not values:
                continue
            cursor.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM {reference.table} "
                f"WHERE {reference.column} = ANY(%s::text[]::{reference.type}[]) "
                f"FOR KEY SHARE) AS found",
                [sorted(values)],
            )
            if cursor.fetchone()[0] != len(values):
                return False
    return True


def _references(table: str, columns: tuple[str, ...]) -> list[Reference] | None:
    """The table's foreign keys as positions in `columns`; None if the triggers must
    stay (see the module's conditions). Read once per process and column list."""
    cache_key = (table, columns)
    if cache_key not in _tables:
        _tables[cache_key] = _read_references(table, columns)
    return _tables[cache_key]


def _read_references(table: str, columns: tuple[str, ...]) -> list[Reference] | None:
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.tgfoid::regproc::text, c.contype, c.conrelid = t.tgrelid, "
            "cardinality(c.conkey) FROM pg_trigger t "
            "LEFT JOIN pg_constraint c ON c.oid = t.tgconstraint "
            "WHERE t.tgrelid = %s::regclass",
            [table],
        )
        triggers = cursor.fetchall()
        if not triggers:
            return None  # nothing to spare
        for function, kind, own, width in triggers:
            if function.strip('"') not in _CHECK_TRIGGERS or kind != "f" or not own or width != 1:
                return None
        cursor.execute("SELECT count(*) FROM pg_rewrite WHERE ev_class = %s::regclass", [table])
        if cursor.fetchone()[0]:
            return None
        cursor.execute(
            "SELECT a.attname, c.confrelid::regclass::text, r.attname, "
            "format_type(r.atttypid, r.atttypmod) FROM pg_constraint c "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
            "JOIN pg_attribute r ON r.attrelid = c.confrelid AND r.attnum = c.confkey[1] "
            "WHERE c.conrelid = %s::regclass AND c.contype = 'f'",
            [table],
        )
        references = []
        for name, referenced, referenced_column, type_ in cursor.fetchall():
            if name not in columns:
                return None  # written by its default: the trigger checks it
            references.append(
                Reference(columns.index(name), referenced, qn(referenced_column), type_)
            )
    return references or None


def _triggers_may_be_disabled() -> bool:
    """Whether this user may set session_replication_role (asked once per database)."""
    alias = connection.alias
    if alias not in _may_disable:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = replica")
                cursor.execute("SET LOCAL session_replication_role = origin")
            _may_disable[alias] = True
        except DatabaseError:
            _may_disable[alias] = False
    return _may_disable[alias]
