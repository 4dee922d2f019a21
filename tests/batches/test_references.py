"""A chunk's foreign keys checked once per distinct value, the triggers off for the write
(batches.references): when it is taken, and that the guarantee is the trigger's."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction

from batches import references
from batches.references import Reference, references_checked_once
from tests.team.models import OrderLine, Store

pytestmark = pytest.mark.django_db(transaction=True)

TABLE = connection.ops.quote_name(OrderLine._meta.db_table)
COLUMNS = ["order", "line", "store_id", "sku"]


@pytest.fixture(autouse=True)
def fresh_cache():
    references._tables.clear()
    references._may_disable.clear()
    yield
    references._tables.clear()
    references._may_disable.clear()


def lines(*store_ids) -> list[str]:
    return [f"1\t{n}\t{store}\tSKU" for n, store in enumerate(store_ids, 1)]


def role() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW session_replication_role")
        return cursor.fetchone()[0]


def test_a_table_whose_only_triggers_are_its_foreign_key_checks_is_read_once():
    found = references._references(TABLE, tuple(COLUMNS))
    assert found == [Reference(2, "team_store", '"id"', "bigint")]
    # The chunk does not write the foreign key's column: its default would go unchecked.
    assert references._references(TABLE, ("order", "line", "sku")) is None


def test_every_value_found_turns_the_triggers_off_for_the_write_only():
    store = Store.objects.create(code="S1", name="one")
    with transaction.atomic():
        with references_checked_once(
            table=TABLE, columns=COLUMNS, lines=lines(store.pk, store.pk, "\\N")
        ) as taken:
            assert taken
            assert role() == "replica"
        assert role() == "origin"


def test_a_value_without_its_row_leaves_the_triggers_on():
    store = Store.objects.create(code="S1", name="one")
    with (
        transaction.atomic(),
        references_checked_once(
            table=TABLE, columns=COLUMNS, lines=lines(store.pk, store.pk + 1000)
        ) as taken,
    ):
        assert not taken
        assert role() == "origin"


def test_a_table_with_a_trigger_of_its_own_keeps_every_trigger():
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION team_orderline_audit() RETURNS trigger LANGUAGE plpgsql "
            "AS $$ BEGIN RETURN NEW; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER team_orderline_audit BEFORE INSERT ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION team_orderline_audit()"
        )
    try:
        assert references._references(TABLE, tuple(COLUMNS)) is None
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER team_orderline_audit ON {TABLE}")
            cursor.execute("DROP FUNCTION team_orderline_audit()")


def test_a_user_who_may_not_set_the_role_keeps_the_triggers():
    with connection.cursor() as cursor:
        cursor.execute("DROP ROLE IF EXISTS bp_plain_user")
        cursor.execute("CREATE ROLE bp_plain_user")
        cursor.execute("GRANT ALL ON ALL TABLES IN SCHEMA public TO bp_plain_user")
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL ROLE bp_plain_user")
            assert references._triggers_may_be_disabled() is False
            with connection.cursor() as cursor:
                cursor.execute("RESET ROLE")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM bp_plain_user")
            cursor.execute("DROP ROLE bp_plain_user")


def test_the_referenced_rows_stay_locked_until_the_chunk_commits():
    """The trigger's guarantee: a store a chunk refers to cannot be deleted before the
    chunk commits. Another connection's delete waits for it."""
    store = Store.objects.create(code="S1", name="one")
    deleted = threading.Event()

    def delete_store():
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("SET lock_timeout = '300ms'")
                cursor.execute("DELETE FROM team_store WHERE id = %s", [store.pk])
            deleted.set()
        except Exception:
            pass
        finally:
            connections["default"].close()

    with transaction.atomic():
        with references_checked_once(table=TABLE, columns=COLUMNS, lines=lines(store.pk)) as taken:
            assert taken
        other = threading.Thread(target=delete_store)
        other.start()
        other.join()
    assert not deleted.is_set()  # it timed out waiting for the chunk's lock
    assert Store.objects.filter(pk=store.pk).exists()
