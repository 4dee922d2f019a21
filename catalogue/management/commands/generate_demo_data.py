import datetime as dt
import time

from django.utils import timezone

from catalogue.services import demo_data_generate
from common.commands import PlatformCommand


class Command(PlatformCommand):
    help = "Generate realistic sample catalogue and daily sales data at any size (COPY-based)."
    exit_codes = {0: "wrote the data", 1: "failed (the reason is printed)"}

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=10_000, help="daily sales lines to write")
        parser.add_argument("--products", type=int, default=400)
        parser.add_argument(
            "--end-day",
            type=dt.date.fromisoformat,
            default=None,
            help="last business day of the data (default: today)",
        )
        parser.add_argument("--replace", action="store_true", help="delete existing sales first")

    def handle(self, *args, rows, products, end_day, replace, **options):
        started = time.perf_counter()
        written = demo_data_generate(
            rows=rows,
            products=products,
            end_day=end_day or timezone.localdate(),
            replace=replace,
        )
        elapsed = time.perf_counter() - started
        self.stdout.write(
            f"Wrote {written:,} daily sales lines in {elapsed:.1f}s ({written / elapsed:,.0f} rows/s)."
        )
