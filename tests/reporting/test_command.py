import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from reporting.models import ReportRun
from tests.reporting.conftest import FORMULA_NAME
from tests.support.processes import subprocess_env


def test_render_only_prints_the_report_and_sends_nothing(
    sales, make_definition, capsys, mailoutbox
):
    make_definition()
    call_command("send_report", "Daily sales", "--date", "2026-11-20", "--render-only")
    out = capsys.readouterr().out
    assert "Subject: Daily sales — 2026-11-20" in out
    assert "Revenue: 115.99" in out
    assert "'" + FORMULA_NAME.replace('"', '""') in out
    assert mailoutbox == []
    assert not ReportRun.objects.exists()


def test_command_sends_the_scheduled_run_once_and_resends_only_when_asked(
    sales, make_definition, capsys, mailoutbox
):
    definition = make_definition()
    call_command("send_report", str(definition.pk), "--date", "2026-11-20")
    assert len(mailoutbox) == 1
    capsys.readouterr()
    call_command("send_report", "Daily sales", "--date", "2026-11-20")  # exits 0: planned
    assert len(mailoutbox) == 1
    out = capsys.readouterr().out
    assert out.startswith("Already sent for 2026-11-20 at ")
    assert "nothing sent again. Use --resend to send it again." in out
    call_command("send_report", "Daily sales", "--date", "2026-11-20", "--resend")
    assert len(mailoutbox) == 2
    assert sorted(ReportRun.objects.values_list("kind", flat=True)) == ["resend", "scheduled"]
    assert mailoutbox[1].subject == "Daily sales — 2026-11-20"


def test_unknown_definition_is_a_clear_error(db):
    with pytest.raises(CommandError, match="No report definition named or numbered 'nope'"):
        call_command("send_report", "nope", "--date", "2026-11-20")


def _send_report(*args: str) -> tuple[int, str, str]:
    """Run send_report as a person does, in its own process: (exit status, out, err)."""
    result = subprocess.run(
        [sys.executable, "manage.py", "send_report", *args],
        cwd=settings.BASE_DIR, env=subprocess_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return result.returncode, result.stdout, result.stderr


def test_an_empty_day_is_a_planned_skip_said_in_one_line_with_exit_status_0(
    transactional_db, make_definition, mailoutbox
):
    make_definition(skip_when_empty=True)

    code, out, err = _send_report("Daily sales", "--date", "2026-11-18")

    assert code == 0, err
    assert "Traceback" not in err  # (Python 3.12 prints celery_once's SyntaxWarning here)
    run = ReportRun.objects.get()
    assert out == (
        f"Nothing sent for 2026-11-18: the report has nothing to say (no sales lines on the "
        f"day) (run #{run.pk}).\n"
    )
    assert out.count("skip") == 0
    assert run.status == ReportRun.Status.SKIPPED


def test_a_holiday_is_recorded_skipped_and_said_in_one_line(db, make_definition, capsys):
    make_definition(holiday_country="DE")

    call_command("send_report", "Daily sales", "--date", "2026-12-25")

    run = ReportRun.objects.get()
    out = capsys.readouterr().out
    # The holiday's name is the holidays package's (English or German, by its version).
    assert out.startswith("Nothing sent for 2026-12-25: holiday: ")
    assert out.endswith(f" (run #{run.pk}).\n")
    assert out.count("\n") == 1
    assert run.status == ReportRun.Status.SKIPPED


def test_a_day_that_is_not_a_business_day_sends_nothing_and_says_how_to_send_anyway(
    db, make_definition, capsys, mailoutbox
):
    make_definition()

    call_command("send_report", "Daily sales", "--date", "2026-11-21")

    assert capsys.readouterr().out == (
        "Nothing sent for 2026-11-21: not a business day (Saturday) for 'Daily sales', so the "
        "schedule does not send; use --resend to send it anyway.\n"
    )
    assert not ReportRun.objects.exists()
    assert mailoutbox == []


def test_a_failed_send_exits_1_naming_the_run(sales, make_definition, settings):
    make_definition()
    settings.EMAIL_BACKEND = "tests.reporting.test_command.FailingBackend"

    with pytest.raises(CommandError) as raised:
        call_command("send_report", "Daily sales", "--date", "2026-11-20")

    run = ReportRun.objects.get()
    assert raised.value.returncode == 1
    assert str(raised.value).startswith(f"Run #{run.pk} for 2026-11-20 failed: ")


def test_the_help_lists_the_exit_codes(transactional_db):
    code, out, _ = _send_report("--help")

    assert code == 0
    assert "Exit status:\n  0  sent; or nothing sent by design" in out
    assert "\n  1  failed: no such definition" in out
    assert "\n  2  wrong arguments (the usage is printed)" in out


class FailingBackend:
    """An email backend whose server refuses every message."""

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("the SMTP server refused the connection")
