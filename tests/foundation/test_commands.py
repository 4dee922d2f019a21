"""Every management command of the platform says its exit codes in --help, and a
planned outcome is exit status 0: only failures exit non-zero."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command, get_commands

from common.commands import USAGE_ERROR, PlatformCommand
from tests.support.processes import subprocess_env

PROJECT_APPS = ("schedules", "batches", "reporting", "ops", "catalogue")


def platform_commands() -> dict[str, str]:
    return {name: app for name, app in get_commands().items() if app in PROJECT_APPS}


def test_the_platform_has_the_commands_the_guides_document():
    assert set(platform_commands()) == {
        "sync_default_schedules", "import_csv", "send_report", "ensure_default_reports",
        "ops_status", "ensure_demo_admin", "generate_demo_data",
    }  # fmt: skip


@pytest.mark.parametrize("name", sorted(platform_commands()))
def test_every_command_lists_its_exit_codes_in_its_help(name):
    from django.core.management import load_command_class

    command = load_command_class(platform_commands()[name], name)
    assert isinstance(command, PlatformCommand)
    help_text = command.create_parser("manage.py", name).format_help()

    assert "Exit status:\n  0  " in help_text
    assert f"\n  {USAGE_ERROR}  wrong arguments (the usage is printed)" in help_text
    for code in command.exit_codes:
        assert f"\n  {code}  " in help_text


def test_help_and_a_wrong_argument_exit_0_and_2_in_a_real_process():
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", "import_csv", *args],
            cwd=settings.BASE_DIR, env=subprocess_env(), capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip

    shown, wrong = run("--help"), run("--no-such-option")

    assert shown.returncode == 0
    assert "\n  3  with --wait: partially failed" in shown.stdout
    assert "\n  4  with --wait --timeout: still running" in shown.stdout
    assert wrong.returncode == USAGE_ERROR
    assert "unrecognized arguments: --no-such-option" in wrong.stderr


@pytest.mark.django_db
def test_import_csv_still_running_at_its_timeout_exits_4_and_says_it_goes_on(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    path = tmp_path / "airports.csv"
    path.write_text("iata,name,city,state,country,latitude,longitude\nAAA,A,X,,USA,1,2\n")

    with pytest.raises(CommandError) as raised:  # no worker: the job stays queued
        call_command(
            "import_csv", "airports", str(path), "--wait", "--timeout", "0.2",
            stdout=io.StringIO(), stderr=io.StringIO(),
        )  # fmt: skip

    assert raised.value.returncode == 4
    assert str(raised.value).endswith("is still running after 0.2 s; it goes on.")


@pytest.mark.django_db
def test_nothing_to_do_by_design_exits_0_in_one_line(settings):
    settings.DEMO_ADMIN_USERNAME = "nobody-here"
    out = io.StringIO()

    call_command("ensure_default_reports", stdout=out)

    assert out.getvalue().count("\n") == 1
    assert out.getvalue().startswith("No report definition created: the demo admin")


@pytest.mark.django_db
def test_sync_default_schedules_run_twice_exits_0_saying_nothing_changed():
    call_command("sync_default_schedules", stdout=io.StringIO())
    out = io.StringIO()

    call_command("sync_default_schedules", stdout=out)

    assert " 0 created, 0 updated, " in out.getvalue()
