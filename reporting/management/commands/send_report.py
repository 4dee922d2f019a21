"""manage.py send_report <definition> --date D: the scheduled send from the shell.

A day the schedule would not send on (an empty day with *skip when empty*, a holiday,
not one of its weekdays) and a day already sent are planned outcomes: one line says
why, exit 0. Only a failure exits non-zero.
"""

import datetime as dt

from django.core.management.base import CommandError

from common.commands import PlatformCommand
from reporting.models import ReportDefinition, ReportRun
from reporting.rendering import report_render
from reporting.services import (
    report_run_create,
    report_run_deliver,
    report_scheduled_run_for_day,
)

Status = ReportRun.Status


def skip_reason(run: ReportRun) -> str:
    """A skipped run's reason in words ("skipped: empty: ..." is stored)."""
    reason = run.error.removeprefix("skipped:").strip()
    kind, _, detail = reason.partition(": ")
    if kind == "empty":
        return f"the report has nothing to say ({detail})"
    return reason or "skipped"


class Command(PlatformCommand):
    help = (
        "Build and send (or only render) a report for a business date. Without --resend it "
        "sends the date's scheduled run as the schedule would: once, and not on a day the "
        "schedule skips."
    )
    exit_codes = {
        0: "sent; or nothing sent by design, said in one line: a day the schedule skips "
        "(empty with 'skip when empty', a holiday, not one of its weekdays), a run "
        "already sent or being sent; --render-only printed the report",
        1: "failed: no such definition, the send failed or its outcome is unknown, or the "
        "date's scheduled run already failed (use --resend)",
    }

    def add_arguments(self, parser):
        parser.add_argument("definition", help="report definition name or id")
        parser.add_argument("--date", type=dt.date.fromisoformat, required=True, help="YYYY-MM-DD")
        parser.add_argument(
            "--render-only",
            action="store_true",
            help="print subject, text body and CSV; send nothing",
        )
        parser.add_argument(
            "--resend", action="store_true", help="send again, recorded as a resend run"
        )

    def handle(self, *args, definition, date, render_only, resend, **options):
        found = ReportDefinition.objects.filter(name=definition).first()
        if found is None and definition.isdigit():
            found = ReportDefinition.objects.filter(pk=int(definition)).first()
        if found is None:
            raise CommandError(f"No report definition named or numbered {definition!r}.")
        if render_only:
            self._render(found, date)
            return
        if resend:
            run = report_run_create(
                definition=found, business_date=date, kind=ReportRun.Kind.RESEND, enqueue=False
            )
        else:
            scheduled, created, why_not = report_scheduled_run_for_day(
                definition=found, business_date=date
            )
            if scheduled is None:
                self.stdout.write(
                    f"Nothing sent for {date}: {why_not} for {found.name!r}, so the "
                    "schedule does not send; use --resend to send it anyway."
                )
                return
            run = scheduled
            if not created and run.status != Status.PENDING:
                self._already(run, date)
                return
        status = report_run_deliver(run_id=run.pk)
        run.refresh_from_db()
        if status == Status.SENT:
            self.stdout.write(
                f"Sent {run.subject!r} to {run.to_recipients} (run #{run.pk}, {run.kind})."
            )
        elif status == Status.SKIPPED:
            self.stdout.write(f"Nothing sent for {date}: {skip_reason(run)} (run #{run.pk}).")
        elif status == "in_progress":
            self.stdout.write(f"Run #{run.pk} for {date} is being sent by a worker right now.")
        else:
            raise CommandError(f"Run #{run.pk} for {date} {run.get_status_display()}: {run.error}")

    def _already(self, run: ReportRun, date: dt.date) -> None:
        """The date's scheduled run exists and is no longer pending."""
        if run.status == Status.SENT:
            when = f" at {run.sent_at:%Y-%m-%d %H:%M %Z}" if run.sent_at else ""
            self.stdout.write(
                f"Already sent for {date}{when} (run #{run.pk}); nothing sent again. "
                "Use --resend to send it again."
            )
        elif run.status == Status.SKIPPED:
            self.stdout.write(f"Nothing sent for {date}: {skip_reason(run)} (run #{run.pk}).")
        elif run.status == Status.SENDING:
            self.stdout.write(f"Run #{run.pk} for {date} is being sent by a worker right now.")
        else:
            raise CommandError(
                f"The scheduled report for {date} {run.get_status_display()} (run #{run.pk}): "
                f"{run.error} Use --resend to send it again."
            )

    def _render(self, definition: ReportDefinition, date: dt.date) -> None:
        rendered = report_render(definition=definition, business_date=date)
        self.stdout.write(f"Subject: {rendered.subject}\n\n{rendered.text_body}")
        names = ", ".join(file.name for file in rendered.attachments) or "no attachment"
        self.stdout.write(
            f"\n{names}: {len(rendered.detail_rows)} rows; the detail table as CSV:\n"
            + rendered.detail_csv.decode("utf-8-sig")
        )
