"""manage.py import_csv <dataset> <file>: the admin's import pipeline from the shell."""

from __future__ import annotations

import time
from pathlib import Path

from django.core.files import File
from django.core.management.base import CommandError
from django.db import transaction
from tqdm import tqdm

from batches import registry
from batches.csvfiles import wide_label
from batches.filekinds import read_head
from batches.models import ImportJob
from batches.selectors import (
    WAITING_FOR_BROKER,
    job_error_csv_lines,
    job_progress,
    job_waiting_for_broker,
)
from batches.services.control import job_cancel
from batches.services.uploads import ImportRejected, job_create, job_queue, upload_check
from common.commands import PlatformCommand, with_database
from common.display import duration_display

PARTIALLY_FAILED = 3
STILL_RUNNING = 4


class Command(PlatformCommand):
    help = "Import a CSV file into a registered dataset through the chunked Celery pipeline."
    exit_codes = {
        0: "queued (without --wait), or imported (with --wait); --list printed the datasets",
        1: "failed: the file was refused (not text, too big, not .csv; the reason is "
        "printed), an unknown dataset, or with --wait the import failed or was cancelled",
        PARTIALLY_FAILED: "with --wait: partially failed (rows rejected or chunks failed; "
        "the rest was imported and the rejected rows are printed or written)",
        STILL_RUNNING: "with --wait --timeout: still running when the timeout ran out "
        "(the import goes on; follow it on its admin page)",
    }

    def add_arguments(self, parser):
        parser.add_argument("dataset", help="registered dataset name (see --list)", nargs="?")
        parser.add_argument("file", help="path of the CSV file", nargs="?")
        parser.add_argument("--list", action="store_true", help="list the registered datasets")
        parser.add_argument("--wait", action="store_true", help="block until the import ends")
        parser.add_argument(
            "--all-or-nothing",
            action="store_true",
            help="validate every row first; write nothing if any row is invalid",
        )
        parser.add_argument(
            "--encoding",
            default="",
            help="file encoding (default utf-8; a UTF-16/32 file with a BOM is detected); "
            "UTF-16/32 files are converted to UTF-8 when stored",
        )
        parser.add_argument("--delimiter", default="", help="delimiter (default: detected)")
        parser.add_argument(
            "--errors-to", default="", help="with --wait: write the rejected rows to this file"
        )
        parser.add_argument("--timeout", type=float, default=0, help="with --wait: give up after")

    def handle(self, *args, dataset, file, wait, all_or_nothing, encoding, delimiter, **options):
        if options["list"]:
            for item in registry.all_datasets():
                columns = ", ".join(item.column_names)
                self.stdout.write(f"{item.name}: {item.label} [{columns}]")
                self.stdout.write(f"  {item.profile.explanation}")
            return
        if not dataset or not file:
            raise CommandError("usage: import_csv <dataset> <file> (or --list)")
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file")
        if delimiter == "\\t":
            delimiter = "\t"

        def create() -> ImportJob:
            with path.open("rb") as handle:
                upload_check(
                    name=path.name,
                    size=path.stat().st_size,
                    head=read_head(handle),
                    encoding=encoding,
                )
                return job_create(
                    dataset=dataset,
                    file=File(handle, name=path.name),
                    name=path.name,
                    mode=ImportJob.Mode.ALL_OR_NOTHING
                    if all_or_nothing
                    else ImportJob.Mode.VALID_ROWS,
                    encoding=encoding,
                    delimiter=delimiter,
                    source=ImportJob.Source.CLI,
                )

        # A database restarting under the command (seconds) is waited for, then one line.
        try:
            job = with_database(create)
        except (ImportRejected, registry.DatasetNotFound) as exc:
            raise CommandError(str(exc)) from None
        with_database(lambda: job_queue(job_id=job.id))
        converted = (
            f", converted from {wide_label(job.source_encoding)} to UTF-8"
            if job.source_encoding and job.encoding == "utf-8"
            else ""
        )
        details = f" ({dataset}, {path.name}{converted})"
        # Inside a caller's transaction the planner goes when it commits: not yet sent
        # says nothing about the broker there.
        if not transaction.get_connection().in_atomic_block and with_database(
            lambda: job_waiting_for_broker(job_id=job.id)
        ):
            self.stdout.write(WAITING_FOR_BROKER.format(id=job.id, details=details))
        else:
            self.stdout.write(f"Import #{job.id} queued{details}.")
        if not wait:
            return
        job = self._follow(job.id, timeout=options["timeout"])
        self.stdout.write(
            f"Import #{job.id} {job.get_status_display()}: {job.rows_total:,} rows, "
            f"{job.rows_new:,} new, {job.rows_updated:,} updated, "
            f"{job.rows_unchanged:,} unchanged, {job.rows_rejected:,} rejected"
            + (f" in {duration_display(job.duration)}" if job.duration else "")
            + "."
        )
        if job.error:
            self.stderr.write(job.error)
        if job.rows_rejected:
            lines = job_error_csv_lines(job_id=job.id)
            if options["errors_to"]:
                with open(options["errors_to"], "w", encoding="utf-8", newline="") as out:
                    out.writelines(lines)
                self.stdout.write(f"Rejected rows written to {options['errors_to']}.")
            else:
                for number, line in enumerate(lines):
                    if number > 10:
                        self.stderr.write("... (use --errors-to FILE for all of them)")
                        break
                    self.stderr.write(line.rstrip("\r\n"))
        if job.status == ImportJob.Status.PARTIALLY_FAILED:
            raise SystemExit(PARTIALLY_FAILED)
        if job.status != ImportJob.Status.SUCCEEDED:
            raise SystemExit(1)

    def _follow(self, job_id: int, *, timeout: float) -> ImportJob:
        deadline = time.monotonic() + timeout if timeout else None
        bar = None
        try:
            while True:
                progress = job_progress(job_id=job_id)
                if bar is None and progress["rows_total"]:
                    bar = tqdm(
                        total=progress["rows_total"],
                        unit="rows",
                        smoothing=0,
                        file=self.stderr._out,
                    )
                if bar is not None:
                    # The job's clock, not the bar's: a bar created after the rows were
                    # done would otherwise divide them by microseconds. Rate and time
                    # left then match the job page.
                    bar.start_t = time.time() - progress["elapsed_seconds"]
                    bar.update(progress["rows_done"] - bar.n)
                if progress["finished"]:
                    break
                if deadline and time.monotonic() > deadline:
                    raise CommandError(
                        f"Import #{job_id} is still running after {timeout:g} s; it goes on.",
                        returncode=STILL_RUNNING,
                    )
                time.sleep(0.5)
        except KeyboardInterrupt:
            job_cancel(job_id=job_id)
            raise CommandError(f"Import #{job_id} cancelled; the rows committed stay.") from None
        finally:
            if bar is not None:
                bar.close()
        return ImportJob.objects.get(id=job_id)
