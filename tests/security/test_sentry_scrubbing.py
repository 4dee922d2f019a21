"""No personal data reaches Sentry from a real platform failure. The scrubber itself is
tested in tests/ops/test_sentry.py; here a report whose recipients the SMTP server
refuses fails for good, which sends an exception naming those addresses to Sentry."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sentry_sdk

from ops.sentry import init_sentry
from reporting.models import ReportRun
from reporting.services import report_definition_create, report_run_create, report_run_deliver
from tests.support.sentry import CapturingTransport, captured
from tests.support.smtp import point_django_at, running_smtp_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def sentry_events():
    CapturingTransport.envelopes = []
    init_sentry(
        dsn="https://public@sentry.example.invalid/1", environment="test", release="bp@test",
        transport=CapturingTransport,
    )  # fmt: skip
    yield lambda: captured("event")
    sentry_sdk.get_client().close()
    sentry_sdk.init()


@pytest.fixture
def refusing_smtp(settings):
    with running_smtp_server() as handler:
        handler.refuse_recipients = True
        point_django_at(settings, handler)
        settings.OPS_ALERT_EMAIL = []
        yield


def test_a_report_refused_for_its_recipients_reaches_sentry_without_their_addresses(
    sentry_events, refusing_smtp
):
    definition = report_definition_create(
        name="Daily sales", to_recipients="ceo.private@example.com, anna.b@corp.example.org"
    )
    run = report_run_create(
        definition=definition, business_date=dt.date(2026, 11, 20),
        kind=ReportRun.Kind.MANUAL, enqueue=False,
    )  # fmt: skip

    status = report_run_deliver(run_id=run.id, final_attempt=True)

    assert status == ReportRun.Status.FAILED
    run.refresh_from_db()
    assert "ceo.private@example.com" in run.error  # the admin may show it; Sentry may not
    events = sentry_events()
    assert any(
        "SMTPRecipientsRefused" in json.dumps(event.get("exception", {})) for event in events
    )
    sent = json.dumps(events)
    assert "ceo.private@example.com" not in sent
    assert "anna.b@corp.example.org" not in sent
    assert "[scrubbed]" in sent
