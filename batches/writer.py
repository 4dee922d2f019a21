"""Set-based writes: COPY validated rows into a staging table, then one natural-key upsert.

The upsert only touches rows whose values differ (`IS DISTINCT FROM`), so a chunk
that runs twice writes nothing the second time, and `xmax = 0` tells inserted rows
from updated ones without a second query. A chunk whose keys are all new is
COPied straight into the table instead (see `_copy_new_rows`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from django.db import DataError, IntegrityError, connection, transaction

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
        with cursor.copy(f"COPY {STAGE} ({column_list}) FROM STDIN") as copy:
            for start in range(0, len(lines), COPY_BLOCK_ROWS):
                copy.write("\n".join(lines[start : start + COPY_BLOCK_ROWS]) + "\n")
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
    sql = f"COPY {table} ({column_list}) FROM STDIN"
    try:
        with transaction.atomic(), connection.cursor() as cursor, cursor.copy(sql) as copy:
            for start in range(0, len(lines), COPY_BLOCK_ROWS):
                copy.write("\n".join(lines[start : start + COPY_BLOCK_ROWS]) + "\n")
    except (IntegrityError, psycopg.errors.UniqueViolation):
        # cursor.copy() is psycopg's own, so its errors arrive unwrapped by Django.
        return False
    return True


def claim_keys(*, job_id: int, rows: list[int], keys: list[str]) -> dict[int, int]:
    """Claim these rows' natural keys for the job; return {row: other row} for the rows
    whose key another row of the file claimed first (in another chunk).

    Keys are stored as 64-bit hashes (`hashtextextended`), so the claim table stays
    small and its unique index fast; two different keys sharing a hash (about one
    chance in 10^7 for a 1M-row file) would be reported as duplicates. A row finding
    its own claim (a redelivered chunk) is not a duplicate. Claims are inserted in
    hash order so two chunks claiming overlapping keys lock them in the same order
    (no deadlock); the second waits for the first to commit or roll back. Must run
    inside the chunk's transaction: a chunk that fails leaves no claims.
    """
    if not rows:
        return {}
    table = connection.ops.quote_name(ImportKey._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {KEYS_STAGE}")
        cursor.execute(
            f"CREATE TEMP TABLE {KEYS_STAGE} (key text, row_number bigint) ON COMMIT DROP"
        )
        with cursor.copy(f"COPY {KEYS_STAGE} (key, row_number) FROM STDIN") as copy:
            for start in range(0, len(rows), COPY_BLOCK_ROWS):
                block = zip(
                    keys[start : start + COPY_BLOCK_ROWS],
                    rows[start : start + COPY_BLOCK_ROWS],
                    strict=True,
                )
                copy.write("".join(f"{key}\t{row}\n" for key, row in block))
        cursor.execute(
            f"INSERT INTO {table} (job_id, key_hash, row_number) "
            f"SELECT %s, hashtextextended(key, 0) AS h, row_number FROM {KEYS_STAGE} "
            f"WHERE key IS NOT NULL ORDER BY h "
            f"ON CONFLICT (job_id, key_hash) DO NOTHING",
            [job_id],
        )
        taken: dict[int, int] = {}
        if cursor.rowcount < len(rows):
            # Some keys were claimed before: by this row (a redelivery) or by another.
            cursor.execute(
                f"SELECT s.row_number, k.row_number FROM {KEYS_STAGE} s "
                f"JOIN {table} k ON k.job_id = %s AND k.key_hash = hashtextextended(s.key, 0) "
                f"WHERE k.row_number <> s.row_number",
                [job_id],
            )
            taken = dict(cursor.fetchall())
        cursor.execute(f"DROP TABLE {KEYS_STAGE}")
    return taken
