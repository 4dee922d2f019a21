"""The one ambiguous window, with a real worker process killed in it."""

import datetime as dt
import os
import signal
import subprocess
from zoneinfo import ZoneInfo

import pytest

from ops.models import Alert
from reporting.models import ReportRun
from reporting.services import report_scheduled_trigger
from tests.support.processes import subprocess_env, wait_for

FRIDAY_1800 = dt.datetime(2026, 11, 20, 18, 0, tzinfo=ZoneInfo("Europe/Berlin"))


@pytest.mark.slow
@pytest.mark.fault
def test_worker_killed_after_smtp_accepted_is_not_sent_again_but_flagged_unknown(
    worker_process, smtp_server, sales, make_definition
):
    env = subprocess_env(
        DJANGO_SETTINGS_MODULE="tests.reporting.smtp_worker_settings",
        REPORTING_TEST_SMTP_PORT=str(smtp_server.port),
    )
    worker = worker_process(queues="reports", concurrency=1, env=env)
    smtp_server.hold_reply = True
    run = report_scheduled_trigger(definition_id=make_definition().pk, now=FRIDAY_1800)

    assert smtp_server.stored.wait(timeout=60), (
        "the worker never reached SMTP:\n" + worker.log()[-3000:]
    )
    assert ReportRun.objects.get(pk=run.pk).status == ReportRun.Status.SENDING
    children = subprocess.run(
        ["pgrep", "-P", str(worker.pid)], capture_output=True, text=True
    ).stdout.split()
    assert children, "the prefork pool has no child process"
    for pid in children:
        os.kill(int(pid), signal.SIGKILL)  # dies after the server stored the message
    smtp_server.hold_reply = False

    run = wait_for(
        lambda: ReportRun.objects.filter(pk=run.pk, status=ReportRun.Status.UNKNOWN).first(),
        timeout=60,
        message="the redelivered message to flag the run; worker log:\n" + worker.log()[-3000:],
    )
    assert "It was not sent again" in run.error
    assert run.attempts == 1
    reports = [m for m in smtp_server.messages if m["X-Report-Run"] == str(run.pk)]
    assert len(reports) == 1
    assert Alert.objects.filter(kind="report_send_unknown", status="open").count() == 1
