"""Apps above ops register their conditions; ops evaluates them without importing the app."""

import pytest

from batches.monitoring import KIND_IMPORT_STALLED, import_stall_conditions
from ops import conditions


def test_batches_registers_its_stalled_import_condition_at_start_up():
    assert KIND_IMPORT_STALLED in conditions.registered_kinds()
    # The same function again is harmless (ready() may run twice in some test setups).
    conditions.register(kind=KIND_IMPORT_STALLED, evaluate=import_stall_conditions)


def test_a_second_rule_for_a_taken_kind_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        conditions.register(kind=KIND_IMPORT_STALLED, evaluate=lambda *, now: {})
