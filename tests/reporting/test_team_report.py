"""Acceptance: the team's own report kind (tests/team/reports.py) goes out once per
business day through real beat, worker, Redis and SMTP, with CSV and XLSX attachments
that read back."""

from __future__ import annotations

import csv
import datetime as dt
import io
import signal
import time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from reporting.attachments import XLSX_MIMETYPE
from reporting.models import ReportRun
from reporting.services import report_definition_create, report_scheduled_trigger
from tests.support.processes import subprocess_env, wait_for
from tests.team.models import Reading, Station

BERLIN = ZoneInfo("Europe/Berlin")
FORMULA_NOTE = '=HYPERLINK("http://evil.example","sensor")'


def readings_on(*days: dt.date) -> None:
    berlin, hamburg = (
        Station.objects.get_or_create(code=code, defaults={"name": name})[0]
        for code, name in [("BER", "Berlin"), ("HAM", "Hamburg")]
    )
    for day in days:
        Reading.objects.create(station=berlin, day=day, temp_max=Decimal("8.5"),
                               temp_min=Decimal("-1.5"), precipitation=Decimal("2.0"),
                               weather="rain", note=FORMULA_NOTE)  # fmt: skip
        Reading.objects.create(station=hamburg, day=day, temp_max=Decimal("6.0"),
                               precipitation=None, weather="fog")  # fmt: skip


def attachments_of(message) -> dict[str, tuple[str, bytes]]:
    return {
        part.get_filename(): (part.get_content_type(), part.get_payload(decode=True))
        for part in message.iter_attachments()
    }


@pytest.mark.slow
def test_two_real_beats_and_a_real_worker_send_the_teams_report_once_with_csv_and_xlsx(
    worker_process, beat_process, smtp_server
):
    env = subprocess_env(
        DJANGO_SETTINGS_MODULE="tests.reporting.smtp_worker_settings",
        REPORTING_TEST_SMTP_PORT=str(smtp_server.port),
        # A beat that hangs can be made to write every thread's stack (below).
        PYTHONFAULTHANDLER="1",
    )
    worker = worker_process(queues="reports", concurrency=2, env=env)
    # Plain DatabaseScheduler on both, so only the run's unique constraint stops a second email.
    plain = ["-S", "django_celery_beat.schedulers:DatabaseScheduler"]
    beats = [beat_process(env=env, extra_args=plain), beat_process(env=env, extra_args=plain)]
    # Both beats up before the due minute is chosen: under load one took more than 20 s
    # to start, after the minute, and never sent. Each notices the new schedule within
    # its 5 s tick.
    wait_for(lambda: all("beat: Starting" in b.log() for b in beats), timeout=90,
             message="both beats to start")  # fmt: skip
    now = timezone.now().astimezone(dt.UTC)
    fire_at = (now + dt.timedelta(minutes=2 if now.second > 40 else 1)).replace(second=0)
    readings_on(fire_at.date(), fire_at.date() - dt.timedelta(days=1))
    definition = report_definition_create(
        name="Team readings", kind="team_readings", to_recipients="team@example.com",
        timezone="UTC", send_hour=fire_at.hour, send_minute=fire_at.minute,
        business_weekdays="1,2,3,4,5,6,7", attachment_formats="csv,xlsx",
    )  # fmt: skip

    run = wait_for(
        lambda: ReportRun.objects.filter(definition=definition, status="sent").first(),
        timeout=150,
        message="the team report sent by beat; beat log:\n"
        + beats[0].log()[-2000:]
        + "\nworker log:\n"
        + worker.log()[-2000:],
    )
    try:
        wait_for(lambda: all("reporting.send_scheduled_report" in b.log() for b in beats),
                 timeout=30, message="both beats to have sent the task")  # fmt: skip
    except AssertionError as exc:
        # Seen once in CI and once in 18 runs alone: one beat logged nothing after its ops
        # loops started (no schedule read, no send). Its stacks say where it waits.
        for beat in beats:
            if "reporting.send_scheduled_report" not in beat.log():
                beat.signal(signal.SIGABRT)
        time.sleep(2)
        logs = "\n".join(f"--- beat {n}:\n{beat.log()[-6000:]}" for n, beat in enumerate(beats))
        pytest.fail(f"{exc}; due at {fire_at:%H:%M:%S} UTC\n{logs}")
    wait_for(lambda: not ReportRun.objects.filter(status__in=["pending", "sending"]).exists(),
             timeout=30)  # fmt: skip
    assert ReportRun.objects.filter(definition=definition).count() == 1
    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert message["Subject"] == f"Team readings — {run.business_date.isoformat()}"
    assert "BER | Berlin | 8.5 | -1.5 | 2.0 | rain" in message.get_body(("plain",)).get_content()

    files = attachments_of(message)
    name = f"team-readings-{run.business_date.isoformat()}"
    assert sorted(files) == [f"{name}.csv", f"{name}.xlsx"]
    csv_type, csv_content = files[f"{name}.csv"]
    assert csv_type == "text/csv"
    rows = list(csv.reader(io.StringIO(csv_content.decode("utf-8-sig"))))
    assert rows[0] == [
        "station",
        "name",
        "temp_max",
        "temp_min",
        "precipitation",
        "weather",
        "note",
    ]
    assert rows[1:] == [
        ["BER", "Berlin", "8.5", "-1.5", "2.0", "rain", "'" + FORMULA_NOTE],
        ["HAM", "Hamburg", "6.0", "", "", "fog", ""],
    ]
    xlsx_type, xlsx_content = files[f"{name}.xlsx"]
    assert xlsx_type == XLSX_MIMETYPE
    sheet = load_workbook(io.BytesIO(xlsx_content)).active
    assert [cell.value for cell in sheet[2]] == [
        "BER", "Berlin", 8.5, -1.5, 2, "rain", "'" + FORMULA_NOTE,
    ]  # fmt: skip
    assert sheet["G2"].data_type == "s"  # the note is text, not a formula
    assert [cell.value for cell in sheet[3]] == ["HAM", "Hamburg", 6, None, None, "fog", None]


@pytest.mark.slow
def test_the_teams_report_goes_out_once_per_business_day_of_a_christmas_week(
    celery_worker, smtp_server
):
    """Monday 21 to Sunday 27 December 2026 in Berlin, German holidays; every day's send
    time triggered twice (two beats). Wednesday has no readings and the definition skips
    empty days; Friday is Christmas Day; the weekend is not a business day."""
    monday = dt.date(2026, 12, 21)
    week = [monday + dt.timedelta(days=n) for n in range(7)]
    readings_on(*(day for day in week if day != dt.date(2026, 12, 23)))
    definition = report_definition_create(
        name="Team readings", kind="team_readings", to_recipients="team@example.com",
        timezone="Europe/Berlin", holiday_country="DE", skip_when_empty=True,
        attachment_formats="csv,xlsx",
    )  # fmt: skip

    for day in week:
        for _beat in range(2):
            send_time = dt.datetime.combine(day, dt.time(18, 0), tzinfo=BERLIN)
            report_scheduled_trigger(definition_id=definition.pk, now=send_time)
    wait_for(
        lambda: not ReportRun.objects.filter(status__in=["pending", "sending"]).exists(),
        timeout=60, message="every run of the week delivered or skipped",
    )  # fmt: skip

    runs = {
        run.business_date.isoformat(): (run.status, run.error)
        for run in ReportRun.objects.filter(definition=definition)
    }
    assert runs == {
        "2026-12-21": ("sent", ""),
        "2026-12-22": ("sent", ""),
        "2026-12-23": ("skipped", "skipped: empty: no readings on the day"),
        "2026-12-24": ("sent", ""),
        "2026-12-25": ("skipped", "skipped: holiday: Christmas Day"),
    }
    assert sorted(message["Subject"] for message in smtp_server.messages) == [
        "Team readings — 2026-12-21", "Team readings — 2026-12-22", "Team readings — 2026-12-24",
    ]  # fmt: skip
    for message in smtp_server.messages:
        assert len(attachments_of(message)) == 2
