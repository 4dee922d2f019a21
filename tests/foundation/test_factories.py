"""The shared factories (tests/support/factories.py) build rows the models accept."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate

from batches.models import ImportJob
from ops.models import Alert
from tests.support.factories import (
    AirportFactory,
    AlertFactory,
    CategoryFactory,
    DailySalesFactory,
    ImportJobFactory,
    ProductFactory,
    StaffFactory,
    SuperuserFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "factory",
    [
        UserFactory, StaffFactory, SuperuserFactory, CategoryFactory, ProductFactory,
        DailySalesFactory, AirportFactory, ImportJobFactory, AlertFactory,
    ],
)  # fmt: skip
def test_each_factory_builds_a_row_that_passes_model_validation(factory):
    first, second = factory(), factory()
    for row in (first, second):
        row.full_clean()
    assert first.pk != second.pk


def test_users_log_in_with_the_shared_password_and_hold_exactly_the_permissions_named():
    staff = StaffFactory(username="oncall", permissions=["ops.view_dashboard", "ops.view_alert"])
    assert authenticate(username="oncall", password="pw") == staff
    assert staff.is_staff
    assert not staff.is_superuser
    assert staff.get_all_permissions() == {"ops.view_dashboard", "ops.view_alert"}
    assert not UserFactory().is_staff
    with pytest.raises(LookupError, match=r"no permission 'ops\.fly'"):
        StaffFactory(permissions=["ops.fly"])


def test_job_and_alert_rows_are_what_their_admin_lists_show(client):
    job = ImportJobFactory(dataset="airports", original_name="factory-made.csv")
    alert = AlertFactory(kind="queue_stalled", subject="queue-made-by-a-factory")
    assert job.status == ImportJob.Status.SUCCEEDED
    assert job.is_finished
    assert alert.status == Alert.Status.OPEN
    client.force_login(SuperuserFactory())
    assert "factory-made.csv" in client.get("/admin/batches/importjob/").content.decode()
    assert "queue-made-by-a-factory" in client.get("/admin/ops/alert/").content.decode()
