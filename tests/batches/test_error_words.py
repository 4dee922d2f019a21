"""Errors people can act on: database refusals in words, naming the field and the fix."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from batches import registry
from batches.dberrors import database_error_message
from tests.batches.conftest import run_inline
from tests.conformance import resources
from tests.conformance.models import Gauge, Owner
from tests.support.imports import make_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(monkeypatch):
    monkeypatch.setattr(registry, "_DATASETS", dict(registry._DATASETS))
    return registry.register


def messages(job) -> list[tuple[int, str]]:
    return list(job.row_errors.order_by("row_number").values_list("row_number", "message"))


def test_a_not_null_failure_names_the_field_and_says_the_file_lacks_the_column():
    with (
        pytest.raises(IntegrityError) as caught,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("INSERT INTO conformance_owner (code, name) VALUES ('X', 'x')")

    message = database_error_message(caught.value, model=Owner, file_columns=["code", "name"])

    assert message == (
        "Owner.active cannot be empty (NOT NULL): the file has no column 'active' and the "
        "field has no default. Add the column, or give the field a default (or null=True)"
    )


def test_a_file_without_a_column_the_rows_need_fails_per_row_in_the_compatible_path(dataset):
    dataset("hooked", resources.HookedGaugeResource)

    job = run_inline(make_job("hooked", "code,name,amount\nG1,one,1\n"))

    assert messages(job) == [
        (
            2,
            "row 2, column 'count': the file has no column 'count'; Gauge.count cannot be "
            "empty and has no default",
        )
    ]
    assert not Gauge.objects.exists()


def test_a_file_without_a_column_no_row_can_do_without_is_refused_in_the_fast_path(dataset):
    dataset("plain", resources.GaugeResource)

    job = run_inline(make_job("plain", "code,name,amount\nG1,one,1\n", name="g.csv"))

    assert job.status == "failed"
    assert job.error.startswith(
        "g.csv: missing column 'count': Gauge.count cannot be empty and has no default, so no "
        "new row could be saved without it."
    )


def test_a_row_the_database_refuses_is_rejected_with_the_reason_and_the_rest_written(dataset):
    Owner.objects.create(code="O1", name="first")
    dataset("owners", resources.ForceInitResource)

    job = run_inline(make_job("owners", "code,name\nO2,two\nO1,again\nO3,three\n"))

    assert messages(job) == [
        (
            3,
            "row 3: a row with the same unique value already exists in Owner "
            "(Key (code)=(O1) already exists.)",
        )
    ]
    assert sorted(Owner.objects.values_list("code", flat=True)) == ["O1", "O2", "O3"]


def test_import_csv_list_says_each_datasets_path_and_why():
    out = io.StringIO()

    call_command("import_csv", "--list", stdout=out)

    text = out.getvalue()
    assert "airports: Airports (keyed by IATA code)" in text
    assert "  fast path: the Resource overrides no row hook" in text
    assert "  compatible path: before_import_row() is overridden" in text
