"""What every management command of the platform shares: exit codes said in `--help`.

The rule (docs/guide): 0 when the command did its work or had nothing to do by design
(an empty day, a holiday, already sent); non-zero only for a failure. A command lists
its codes in `exit_codes`; `--help` prints them after the options, one per line.
"""

from __future__ import annotations

import textwrap

from django.core.management.base import BaseCommand, DjangoHelpFormatter

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
