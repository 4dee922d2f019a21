"""`with_database`: a command waits for a database that restarts under it."""

import pytest
from django.core.management.base import CommandError
from django.db import OperationalError

from common.commands import with_database

# with_database closes unusable connections between tries (close_old_connections), which
# checks a connection an earlier test of this process left with an error: allow it.
pytestmark = pytest.mark.django_db


def test_a_step_is_run_again_until_the_database_answers():
    failures = ["the database system is starting up"] * 2

    def step() -> str:
        if failures:
            raise OperationalError(failures.pop())
        return "done"

    assert with_database(step, seconds=10) == "done"


def test_a_database_that_never_answers_is_one_line_not_a_traceback():
    def step():
        raise OperationalError("connection refused")

    with pytest.raises(CommandError, match=r"the database did not answer for 0 s: connection"):
        with_database(step, seconds=0)
