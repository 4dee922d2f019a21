"""The compatible path's writes prepare values as save() does (batches.instances): the
values a built-in field gives back unchanged skip `get_db_prep_save()`, and Django
itself is the oracle that they are unchanged, on each Django version the suite runs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import connection, models
from hypothesis import given, settings
from hypothesis import strategies as st

from batches.cells import FieldError, column_fit, prepared_value, render
from batches.instances import _SAME_VALUE, _prepare, _Step, same_value_type, written_fields
from tests.team.models import OrderLine

_VALUES = {int: st.integers(min_value=-(2**70), max_value=2**70), str: st.text(max_size=30)}


@pytest.mark.parametrize("field_class", sorted(_SAME_VALUE, key=lambda c: c.__name__))
@given(data=st.data())
@settings(max_examples=60, deadline=None)
def test_django_gives_a_same_value_fields_values_back_unchanged(field_class, data):
    same = _SAME_VALUE[field_class]
    field = field_class(max_length=30) if same is str else field_class()
    value = data.draw(_VALUES[same])
    prepped = field.get_db_prep_save(value, connection)
    # PostgreSQL's backend wraps integers in psycopg's Int2/Int4/Int8 (int subclasses
    # naming the column's type): the same value and the same COPY text.
    assert isinstance(prepped, same)
    assert prepped == value
    assert render(prepped) == render(value)


@given(st.integers(min_value=1, max_value=2**62))
@settings(max_examples=60, deadline=None)
def test_a_foreign_key_to_an_integer_key_gives_its_value_back_unchanged(value):
    field = OrderLine._meta.get_field("store")
    assert same_value_type(field) is int
    assert field.get_db_prep_save(value, connection) == value


@given(st.decimals(allow_nan=False, allow_infinity=False))
@settings(max_examples=100, deadline=None)
def test_a_decimal_field_gives_a_finite_decimal_back_with_the_same_digits(value):
    """What _prepare() relies on to skip get_db_prep_save() for a DecimalField."""
    field = models.DecimalField(max_digits=12, decimal_places=3)
    prepped = field.get_db_prep_save(value, connection)

    assert type(prepped) is Decimal
    assert prepped == value
    assert render(prepped) == render(value)


def test_subclasses_and_other_fields_are_always_asked():
    class Upper(models.CharField):
        def get_prep_value(self, value):
            return value.upper()

    assert same_value_type(Upper(max_length=5)) is None
    assert same_value_type(models.DecimalField(max_digits=5, decimal_places=2)) is None
    assert same_value_type(models.DateTimeField()) is None


_LINES = st.builds(
    OrderLine,
    order=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    line=st.one_of(st.integers(min_value=-(2**15), max_value=2**15 + 5), st.just("7")),
    store_id=st.integers(min_value=1, max_value=2**40),
    sku=st.one_of(st.text(max_size=25), st.just("with trailing   ")),
    description=st.text(max_size=10),
    quantity=st.one_of(st.none(), st.integers(min_value=-(2**31), max_value=2**31), st.just(True)),
    unit_price=st.one_of(
        st.decimals(min_value=-1000, max_value=1000, places=2),
        st.decimals(allow_nan=True, allow_infinity=True),
    ),
    discount=st.one_of(st.none(), st.just(Decimal("5.00"))),
    tax=st.just(Decimal("1.20")),
    total=st.just(Decimal("10.00")),
    ordered_on=st.just(date(2026, 12, 7)),
    shipped_at=st.one_of(st.none(), st.just(datetime(2026, 12, 7, 9, 30, tzinfo=UTC))),
    status=st.one_of(st.none(), st.text(max_size=22)),
    channel=st.none(),
    region=st.just("north"),
    priority=st.one_of(st.none(), st.integers(min_value=-(2**15), max_value=2**15)),
    boxes=st.none(),
    weight_kg=st.none(),
    note=st.one_of(st.just(""), st.just("nul \x00 inside")),
)


def _as_save_prepares(obj: OrderLine, plan: list[_Step]) -> list:
    """The definition: every field's pre_save() then get_db_prep_save(), then the fit."""
    return [
        column_fit(s.field, prepared_value(s.field, s.field.pre_save(obj, True)),
                   shown=s.field.pre_save(obj, True), missing=s.missing)
        for s in plan
    ]  # fmt: skip


@given(_LINES)
@settings(max_examples=200, deadline=None)
def test_an_instances_values_are_what_save_prepares_or_the_same_refusal(obj):
    plan = [
        _Step(f, "gives no value") for f in written_fields(OrderLine._meta, new=True, pk_set=False)
    ]
    try:
        expected = _as_save_prepares(obj, plan)
    except FieldError as exc:
        refusal = str(exc)
    else:
        refusal = None
    if refusal is not None:
        with pytest.raises(FieldError) as refused:
            _prepare(obj, 0, plan, new=True)
        assert str(refused.value) == refusal
        return
    values = _prepare(obj, 0, plan, new=True).values
    assert values == expected
    assert [render(v) for v in values] == [render(v) for v in expected]  # what COPY is sent


def _line(store_id: int, line: int) -> OrderLine:
    return OrderLine(
        order=1, line=line, store_id=store_id, sku="S", unit_price=Decimal("1.00"),
        tax=Decimal("0.20"), total=Decimal("1.20"), ordered_on=date(2026, 12, 8),
    )  # fmt: skip


@pytest.mark.django_db
def test_an_insert_checks_its_foreign_keys_once_per_value_and_still_refuses_a_missing_one(
    monkeypatch,
):
    """As on the fast path (batches.references): every store found, the per-row
    triggers are off for the insert; a store that does not exist leaves them on, and
    the database refuses that instance alone, named."""
    from batches import instances
    from tests.team.models import Store

    store = Store.objects.create(code="RF01", name="Refs")
    answers = []
    original = instances.references_checked_once

    def recorded(**kwargs):
        context = original(**kwargs)

        class Recorded:
            def __enter__(self):
                answers.append(context.__enter__())
                return answers[-1]

            def __exit__(self, *exc):
                return context.__exit__(*exc)

        return Recorded()

    monkeypatch.setattr(instances, "references_checked_once", recorded)
    file_fields = ["order", "line", "store"]
    with connection.cursor() as cursor:  # Django's are deferred: checked at the insert here
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")

    good = instances.instances_write(
        model=OrderLine, objs=[_line(store.pk, 1), _line(store.pk, 2)], new=True,
        file_fields=file_fields,
    )  # fmt: skip
    bad = instances.instances_write(
        model=OrderLine, objs=[_line(store.pk, 3), _line(987654321, 4), _line(store.pk, 5)],
        new=True, file_fields=file_fields,
    )  # fmt: skip

    assert good == {}
    assert answers[0] is True
    assert False in answers[1:]
    assert list(bad) == [1]
    assert "store" in bad[1][1]
    assert sorted(OrderLine.objects.values_list("line", flat=True)) == [1, 2, 3, 5]
