"""Journey 4: ops watch the dashboard while the imports worker stops and comes back."""

import re

import pytest

from ops.periodic import heartbeat_schedules
from schedules.services.default_schedules import default_schedules_sync
from tests.browser.support import assert_accessible, save_screenshot
from tests.support.processes import subprocess_env

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.fault]

INTERVAL = 2  # seconds between heartbeats and checks, here and in the subprocesses


@pytest.fixture
def fast_heartbeats(settings, transactional_db):
    # The live server (this process) judges staleness with the subprocesses' interval.
    settings.OPS_HEARTBEAT_INTERVAL = INTERVAL
    settings.OPS_CHECK_INTERVAL = INTERVAL
    settings.OPS_THRESHOLDS = {**settings.OPS_THRESHOLDS, "heartbeat_stale": 2 * INTERVAL}
    settings.OPS_BEAT_STALE_AFTER = 3 * INTERVAL
    default_schedules_sync(entries=heartbeat_schedules(interval=INTERVAL))
    return subprocess_env(OPS_HEARTBEAT_INTERVAL=str(INTERVAL))


def _queue_row(page, queue: str):
    return page.locator("#ops-queues tbody tr", has=page.locator(f"th:text-is('{queue}')"))


def _reload_until(page, predicate, *, timeout: float, message: str) -> None:
    """Reload the dashboard, as a person would, until it shows what we wait for."""
    waited = 0.0
    while True:
        page.reload()
        if predicate():
            return
        if waited >= timeout:
            raise AssertionError(f"after {timeout}s the dashboard still does not show {message}")
        page.wait_for_timeout(1000)
        waited += 1.0


def test_ops_see_a_stopped_queue_turn_red_with_an_alert_that_resolves_on_restart(
    admin_page, fast_heartbeats, worker_process, beat_process
):
    env = fast_heartbeats
    worker_process(queues="default,reports,ops", env=env)
    imports = worker_process(queues="imports", env=env)
    beat_process(env=env)

    page = admin_page
    page.get_by_role("link", name="Ops dashboard").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Ops dashboard"
    # Start-up alerts (beat not ticked yet) clear once heartbeats flow.
    _reload_until(
        page,
        lambda: (
            _queue_row(page, "imports").locator(".ops-state").inner_text() == "GREEN"
            and "s ago" in _queue_row(page, "imports").inner_text()  # a heartbeat arrived
            and page.locator("#ops-open-alerts").count() == 0
        ),
        timeout=30,
        message="every queue green and no open alerts",
    )
    assert "No open alerts." in page.inner_text("#content-main")
    assert_accessible(page)
    save_screenshot(page, "ops_dashboard_green")

    imports.stop()
    _reload_until(
        page,
        lambda: (
            _queue_row(page, "imports").locator(".ops-state").inner_text() == "RED"
            and page.locator("#ops-open-alerts").count() == 1
        ),
        timeout=6 * INTERVAL + 5,
        message="the imports queue red with an open alert",
    )
    assert _queue_row(page, "default").locator(".ops-state").inner_text() == "GREEN"
    open_alerts = page.locator("#ops-open-alerts tbody").inner_text()
    assert "imports" in open_alerts
    assert "RED" in open_alerts
    assert re.search(r"Open alerts \([1-9]\)", page.inner_text("#content-main"))
    assert_accessible(page)
    save_screenshot(page, "ops_dashboard_red")

    worker_process(queues="imports", env=env)
    _reload_until(
        page,
        lambda: (
            _queue_row(page, "imports").locator(".ops-state").inner_text() == "GREEN"
            and page.locator("#ops-open-alerts").count() == 0
        ),
        timeout=8 * INTERVAL + 5,
        message="the imports alert resolved after the worker restarted",
    )
    assert "No open alerts." in page.inner_text("#content-main")
    assert "imports" in page.locator("#ops-recent-alerts tbody").inner_text()
    save_screenshot(page, "ops_dashboard_resolved")
