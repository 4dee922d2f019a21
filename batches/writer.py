"""Set-based writes: COPY validated rows into a staging table, then one natural-key upsert.

The upsert only touches rows whose values differ (`IS DISTINCT FROM`), so a chunk
that runs twice writes nothing the second time, and `xmax = 0` tells inserted rows
from updated ones without a second query. A chunk whose keys are all new is
COPied straight into the table instead (see `_copy_new_rows`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import psycopg
from django.db import DataError, IntegrityError, connection, transaction

from batches.cells import NULL, copy_escape
from batches.dberrors import database_error_message
from batches.models import ImportKey
from batches.references import references_checked_once
from batches.rows import HeaderPlan

STAGE = "batches_import_stage"
KEYS_STAGE = "batches_import_keys"
COPY_BLOCK_ROWS = 5_000
# A write the database refuses for a row's values (not a lost connection or deadlock,
# which the chunk task retries). cursor.copy() is psycopg's own: its errors come unwrapped.
WRITE_REFUSALS = (IntegrityError, DataError, psycopg.IntegrityError, psycopg.DataError)


@dataclass
class Written:
    """What a chunk's write did: rows inserted, rows updated, rows the database refused."""

    new: int = 0
    updated: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)

    def add(self, other: Written) -> None:
        self.new += other.new
        self.updated += other.updated
        self.failed += other.failed


def upsert_lines(*, plan: HeaderPlan, lines: list[str], rows: list[int]) -> Written:
    """Write COPY text lines by their natural key; count inserted and updated rows.

    Must run inside a transaction. If the database refuses the batch (a constraint
    the rows' checks could not see), it is halved until the refused rows are found:
    each is reported with the database's reason, as import_data() would report the
    row whose save failed, and the others are written.
    """
    if not lines:
        return Written()
    try:
        with transaction.atomic():
            inserted, updated = _upsert(plan=plan, lines=lines)
        return Written(inserted, updated)
    except WRITE_REFUSALS as exc:
        if len(lines) == 1:
            message = database_error_message(
                exc, model=plan.spec.model, file_columns=plan.file_fields
            )
            return Written(failed=[(rows[0], message)])
    half = len(lines) // 2
    result = upsert_lines(plan=plan, lines=lines[:half], rows=rows[:half])
    result.add(upsert_lines(plan=plan, lines=lines[half:], rows=rows[half:]))
    return result


def _upsert(*, plan: HeaderPlan, lines: list[str]) -> tuple[int, int]:
    qn = connection.ops.quote_name
    table = qn(plan.spec.model._meta.db_table)
    column_list = ", ".join(qn(c) for c in plan.insert_columns)
    keys = plan.key_columns
    updates = plan.update_columns
    compare = plan.compare_columns
    if updates:
        conflict = "DO UPDATE SET " + ", ".join(f"{qn(c)} = EXCLUDED.{qn(c)}" for c in updates)
        if compare:
            conflict += (
                " WHERE ("
                + ", ".join(f"target.{qn(c)}" for c in compare)
                + ") IS DISTINCT FROM ("
                + ", ".join(f"EXCLUDED.{qn(c)}" for c in compare)
                + ")"
            )
    else:
        conflict = "DO NOTHING"
    with references_checked_once(table=table, columns=plan.insert_columns, lines=lines):
        if not _some_key_exists(plan=plan, table=table, lines=(lines[0], lines[-1])) and (
            _copy_new_rows(table=table, column_list=column_list, lines=lines)
        ):
            return len(lines), 0
        return _stage_and_upsert(
            table=table, column_list=column_list, keys=keys, conflict=conflict, lines=lines
        )


def _stage_and_upsert(
    *, table: str, column_list: str, keys: list[str], conflict: str, lines: list[str]
) -> tuple[int, int]:
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {STAGE}")
        cursor.execute(
            f"CREATE TEMP TABLE {STAGE} ON COMMIT DROP AS "
            f"SELECT {column_list} FROM {table} WITH NO DATA"
        )
        _copy_lines(cursor, f"COPY {STAGE} ({column_list}) FROM STDIN", lines)
        cursor.execute(
            f"WITH upserted AS ("
            f"INSERT INTO {table} AS target ({column_list}) "
            f"SELECT {column_list} FROM {STAGE} "
            f"ON CONFLICT ({', '.join(qn(k) for k in keys)}) {conflict} "
            f"RETURNING (xmax = 0) AS inserted) "
            f"SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) "
            f"FROM upserted"
        )
        inserted, updated = cursor.fetchone()
        cursor.execute(f"DROP TABLE {STAGE}")
    return inserted, updated


def _some_key_exists(*, plan: HeaderPlan, table: str, lines: tuple[str, ...]) -> bool:
    """Whether the table already has the key of one of these rows (a cheap index probe).

    A re-import or an update file is caught here, before a COPY that would fail.
    """
    qn = connection.ops.quote_name
    fields = [plan.present[i][1].model_field for i in plan.key_positions]
    condition = " AND ".join(
        f"{qn(f.column or f.name)} = %s::{f.db_type(connection)}" for f in fields
    )
    probes, params = [], []
    for line in lines:
        cells = line.split("\t")
        values = [cells[i] for i in plan.key_positions]
        if any(value == "\\N" or "\\" in value for value in values):
            return True  # NULL or escaped keys: let the upsert decide
        probes.append(f"EXISTS (SELECT 1 FROM {table} WHERE {condition})")
        params.extend(values)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {' OR '.join(probes)}", params)
        return bool(cursor.fetchone()[0])


def _copy_new_rows(*, table: str, column_list: str, lines: list[str]) -> bool:
    """COPY straight into the table when none of the keys exist yet; False if one does.

    A first import of new rows is the common case and plain COPY is about twice as
    fast as stage + upsert. The unique natural key refuses any existing row, the
    savepoint undoes the attempt, and the caller falls back to the upsert. A
    conflict on the first rows (a re-import) costs almost nothing.
    """
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            _copy_lines(cursor, f"COPY {table} ({column_list}) FROM STDIN", lines)
    except (IntegrityError, psycopg.errors.UniqueViolation):
        # cursor.copy() is psycopg's own, so its errors arrive unwrapped by Django.
        return False
    return True


def claim_keys(*, job_id: int, rows: list[int], keys: list[str]) -> dict[int, int]:
    """Claim these rows' natural keys for the job; return {row: other row} for the rows
    whose key another row of the file claimed first (in another chunk).

    A row finding its own claim (a redelivered chunk) is not a duplicate. Claims are
    written in key order (byte order, the claim table's "C" collation), so two chunks
    claiming overlapping keys lock them in the same order (no deadlock); the second
    waits for the first to commit or roll back. Must run inside the chunk's
    transaction: a chunk that fails leaves no claims.

    The common case, no key claimed before, is one COPY straight into the claim table
    (half the cost of staging the claims and inserting them `ON CONFLICT`); its
    primary key refuses a key claimed before, and only then are the claims staged to
    find which rows hold which.
    """
    claims = _claims_in_key_order(keys, rows)
    if not claims:
        return {}
    table = connection.ops.quote_name(ImportKey._meta.db_table)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            prefix = f"{job_id}\t"
            lines = [prefix + key + "\t" + str(row) for key, row in claims]
            _copy_lines(cursor, f"COPY {table} (job_id, key, row_number) FROM STDIN", lines)
        return {}
    except (IntegrityError, psycopg.errors.UniqueViolation):
        pass  # a key claimed before: by another row, or by this one (a redelivery)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {KEYS_STAGE}")
        cursor.execute(
            f'CREATE TEMP TABLE {KEYS_STAGE} (key text COLLATE "C", row_number bigint) '
            f"ON COMMIT DROP"
        )
        lines = [f"{key}\t{row}" for key, row in claims]
        _copy_lines(cursor, f"COPY {KEYS_STAGE} (key, row_number) FROM STDIN", lines)
        cursor.execute(
            f"INSERT INTO {table} (job_id, key, row_number) "
            f"SELECT %s, key, row_number FROM {KEYS_STAGE} ORDER BY key "
            f"ON CONFLICT (job_id, key) DO NOTHING",
            [job_id],
        )
        taken: dict[int, int] = {}
        if cursor.rowcount < len(claims):
            # Some keys were claimed before: by this row (a redelivery) or by another.
            cursor.execute(
                f"SELECT s.row_number, k.row_number FROM {KEYS_STAGE} s "
                f"JOIN {table} k ON k.job_id = %s AND k.key = s.key "
                f"WHERE k.row_number <> s.row_number",
                [job_id],
            )
            taken = dict(cursor.fetchall())
        cursor.execute(f"DROP TABLE {KEYS_STAGE}")
    return taken


# Longer keys are claimed by their SHA-256: an index entry holds at most about 2,700 bytes.
CLAIM_KEY_CHARS = 1_000


def _claims_in_key_order(keys: list[str], rows: list[int]) -> list[tuple[str, int]]:
    """(claim text, row) of every key but NULL, sorted by the claim text.

    A chunk's keys are usually plain (no character COPY escapes, none too long): then
    each is its own claim text, checked once over the chunk, and the rows are sorted
    by the keys themselves (strings compare faster than tuples)."""
    if len(keys) != len(rows):
        raise ValueError(f"{len(keys)} keys for {len(rows)} rows")
    joined = "".join(keys)
    plain = (
        "\\" not in joined  # NULL ("\\N") and every escaped key hold a backslash
        and "\t" not in joined
        and "\n" not in joined
        and "\r" not in joined
        and max(map(len, keys), default=0) <= CLAIM_KEY_CHARS
    )
    texts = keys if plain else [NULL if key == NULL else _claim_text(key) for key in keys]
    order = sorted((i for i, text in enumerate(texts) if text != NULL), key=texts.__getitem__)
    return [(texts[i], rows[i]) for i in order]


def _claim_text(key: str) -> str:
    """A key as the claim table holds it: its COPY text, or its hash if it is long."""
    if len(key) > CLAIM_KEY_CHARS:
        return "\x1d" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return copy_escape(key)


def _copy_lines(cursor, sql: str, lines: list[str]) -> None:
    """COPY text lines (without their newline), a block at a time."""
    with cursor.copy(sql) as copy:
        for start in range(0, len(lines), COPY_BLOCK_ROWS):
            copy.write("\n".join(lines[start : start + COPY_BLOCK_ROWS]) + "\n")
