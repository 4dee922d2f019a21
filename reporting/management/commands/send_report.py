import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from reporting.models import ReportDefinition, ReportRun
from reporting.rendering import report_render
from reporting.services import (
    report_run_create,
    report_run_deliver,
    report_scheduled_run_get_or_create,
)


class Command(BaseCommand):
    help = (
        "Build and send (or only render) a report for a business date. Without --resend it "
        "sends the date's scheduled run only if that has not gone out yet."
    )

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
            rendered = report_render(definition=found, business_date=date)
            self.stdout.write(f"Subject: {rendered.subject}\n\n{rendered.text_body}")
            names = ", ".join(file.name for file in rendered.attachments) or "no attachment"
            self.stdout.write(
                f"\n{names}: {len(rendered.detail_rows)} rows; the detail table as CSV:\n"
                + rendered.detail_csv.decode("utf-8-sig")
            )
            return
        if resend:
            run = report_run_create(
                definition=found, business_date=date, kind=ReportRun.Kind.RESEND, enqueue=False
            )
        else:
            run, created = report_scheduled_run_get_or_create(definition=found, business_date=date)
            if not created and run.status != ReportRun.Status.PENDING:
                raise CommandError(
                    f"The scheduled report for {date} is already {run.status} (run #{run.pk}); "
                    "use --resend to send it again."
                )
        status = report_run_deliver(run_id=run.pk)
        run.refresh_from_db()
        if status != ReportRun.Status.SENT:
            raise CommandError(f"Run #{run.pk} is {status}: {run.error}")
        self.stdout.write(
            f"Sent {run.subject!r} to {run.to_recipients} (run #{run.pk}, {run.kind})."
        )
