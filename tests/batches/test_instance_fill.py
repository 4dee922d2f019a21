"""`InstanceFill.fill()` sets what the Resource's own `import_instance()` sets.

The oracle is django-import-export's `import_instance` on a copy of the same instance
and the same row (Hypothesis, over the team's and the catalogue's Resources): the same
attribute values afterwards, or the same error.
"""

from __future__ import annotations

import copy

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batches.instancefill import InstanceFill
from tests.conformance import resources as catalogue
from tests.conformance.conftest import base_rows
from tests.team import imports as team
from tests.team.models import Store

pytestmark = pytest.mark.django_db

RESOURCES = [
    team.OrderLineResource,
    team.DescribedOrderLineResource,
    catalogue.GaugeCustomWidgetsResource,  # readonly, Field.clean overridden, owner__name
    catalogue.GaugeOwnerCodeResource,  # a ForeignKeyWidget, fields' own defaults
    catalogue.NullKeepingResource,  # saves_null_values=False
    catalogue.LaneValuesResource,
    catalogue.HookedByValueResource,  # a widget reading row_number
]

CELLS = st.one_of(
    st.sampled_from([
        "", " ", "n/a", "N/A", "M", "T", "-", "1", "-2", "007", "1.50", "99999.999", "1e2",
        "abc", "2024-02-29", "29/02/2024", "31/02/2024", "02.01.2024", "29/02/2024 23:59",
        "01/02/2024 03:04", "2024-01-02 03:04:05", "O1", "O2", "ZZ", "ST01", "st02", "y", "no",
    ]),
    st.text(max_size=8),
    st.integers(-(2**40), 2**40).map(str),
)  # fmt: skip


def _row(resource, draw) -> dict:
    columns = [f.column_name for f in resource.get_import_fields()]
    row = {}
    for column in columns:
        if draw(st.booleans()) or column in ("code", "order", "line"):
            row[column] = draw(CELLS)
    return row


def _state(instance) -> dict:
    state = {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}
    state["related"] = {
        name: vars(value) | {"_state": None}
        for name, value in instance._state.fields_cache.items()
        if value is not None
    }
    return state


def _outcome(call) -> tuple:
    try:
        call()
    except ValidationError as exc:
        return ("invalid", {k: [str(m) for m in v] for k, v in exc.message_dict.items()})
    except Exception as exc:
        return (type(exc).__name__, str(exc))
    return ("set", None)


@pytest.fixture
def stores():
    base_rows()
    for code in ("ST01", "ST02"):
        Store.objects.get_or_create(code=code, defaults={"name": code})


@pytest.mark.parametrize("resource_class", RESOURCES, ids=lambda c: c.__name__)
@given(data=st.data())
@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
def test_fill_sets_what_import_instance_sets(stores, resource_class, data):
    ours, theirs = resource_class(), resource_class()
    fill = InstanceFill.for_resource(ours)
    assert fill is not None
    instance = ours._meta.model()
    expected_instance = copy.deepcopy(instance)
    rows = [_row(ours, data.draw) for _ in range(3)]  # one fill, several rows: answers kept
    for number, row in enumerate(rows):
        kwargs = {"row_number": number, "dry_run": False}
        if (
            hasattr(theirs, "before_import_row")
            and resource_class is catalogue.HookedByValueResource
        ):
            theirs.before_import_row(dict(row), **kwargs)  # the hook changes a widget's formats
            ours.before_import_row(dict(row), **kwargs)
        got = _outcome(lambda row=row, kwargs=kwargs: fill.fill(instance, dict(row), kwargs))
        expected = _outcome(
            lambda row=row, kwargs=kwargs: theirs.import_instance(
                expected_instance, dict(row), **kwargs
            )
        )
        assert got == expected, row
        assert _state(instance) == _state(expected_instance), row


@pytest.mark.parametrize(
    "resource_class",
    [
        catalogue.ImportInstanceResource,
        type("OwnOrder", (team.OrderLineResource,), {
            "get_import_order": lambda self: ("order", "line"), "__module__": __name__,
        }),
        type("OwnFields", (team.OrderLineResource,), {
            "get_import_fields": lambda self: [], "__module__": __name__,
        }),
    ],
    ids=lambda c: c.__name__,
)  # fmt: skip
def test_a_resource_that_overrides_a_step_keeps_its_own_import_instance(resource_class):
    assert InstanceFill.for_resource(resource_class()) is None


def test_a_widget_changed_between_rows_is_read_again():
    resource = catalogue.HookedByValueResource()
    fill = InstanceFill.for_resource(resource)
    instance = resource._meta.model()

    fill.fill(instance, {"day": "2024-01-02"}, {})
    resource.fields["day"].widget.formats = ("%d.%m.%Y",)
    fill.fill(instance, {"day": "03.01.2024"}, {})

    assert str(instance.day) == "2024-01-03"
    with pytest.raises(ValidationError):
        fill.fill(instance, {"day": "2024-01-02"}, {})
