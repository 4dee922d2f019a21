"""What every management command of the platform shares: exit codes said in `--help`.

The rule (docs/guide): 0 when the command did its work or had nothing to do by design
(an empty day, a holiday, already sent); non-zero only for a failure. A command lists
its codes in `exit_codes`; `--help` prints them after the options, one per line.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import TypeVar

from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter
from django.db import InterfaceError, OperationalError

from common.database import database_retried

T = TypeVar("T")

# What the argument parser itself does on wrong arguments (argparse's exit status 2).
USAGE_ERROR = 2
USAGE_ERROR_TEXT = "wrong arguments (the usage is printed)"


class _LineKeepingFormatter(DjangoHelpFormatter):
    """Wraps each line of the description and the epilog on its own, so the exit codes
    stay one per line instead of being run together into a paragraph."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(
            textwrap.fill(line, width, initial_indent=indent, subsequent_indent=indent + "    ")
            for line in text.splitlines()
        )


def exit_codes_text(codes: dict[int, str]) -> str:
    lines = [f"  {code}  {meaning}" for code, meaning in sorted(codes.items())]
    return "Exit status:\n" + "\n".join(lines)


class PlatformCommand(BaseCommand):
    """A command whose `--help` ends with its exit codes (`exit_codes`, code -> meaning)."""

    exit_codes: dict[int, str] = {0: "done", 1: "failed (the reason is printed)"}

    def create_parser(self, prog_name, subcommand, **kwargs):
        codes = {**self.exit_codes, USAGE_ERROR: USAGE_ERROR_TEXT}
        parser = super().create_parser(
            prog_name, subcommand, epilog=exit_codes_text(codes), **kwargs
        )
        parser.formatter_class = _LineKeepingFormatter
        return parser


# How long a command waits for a database that restarts under it (a failover, a
# restart for an upgrade: seconds) before it gives up with one line.
DATABASE_WAIT_SECONDS = 30.0


def with_database(step: Callable[[], T], *, seconds: float = DATABASE_WAIT_SECONDS) -> T:
    """Run `step` (its own transaction, safe to run again after a failure: nothing
    was committed), retrying while the database does not answer, as when it restarts;
    after `seconds`, a CommandError saying so, not a traceback."""
    try:
        return database_retried(step, seconds=seconds)
    except (OperationalError, InterfaceError) as exc:
        raise CommandError(f"the database did not answer for {seconds:.0f} s: {exc}") from None
