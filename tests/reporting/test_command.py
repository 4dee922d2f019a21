import pytest
from django.core.management import CommandError, call_command

from reporting.models import ReportRun
from tests.reporting.conftest import FORMULA_NAME


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
    with pytest.raises(CommandError, match=r"already sent .* use --resend"):
        call_command("send_report", "Daily sales", "--date", "2026-11-20")
    assert len(mailoutbox) == 1
    call_command("send_report", "Daily sales", "--date", "2026-11-20", "--resend")
    assert len(mailoutbox) == 2
    assert sorted(ReportRun.objects.values_list("kind", flat=True)) == ["resend", "scheduled"]
    assert mailoutbox[1].subject == "Daily sales — 2026-11-20"


def test_unknown_definition_is_a_clear_error(db):
    with pytest.raises(CommandError, match="No report definition named or numbered 'nope'"):
        call_command("send_report", "nope", "--date", "2026-11-20")
