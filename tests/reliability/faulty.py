"""A test-only dataset whose rows misbehave on purpose, for the fault scenarios.

Loaded in subprocess workers with `-I tests.reliability.faulty` (and imported by
this folder's conftest), it registers the dataset `fault_sales`: daily sales lines
whose `day` column goes through `FaultyDayWidget`. A few dates trigger a fault when
a chunk validates that row, inside the chunk task, in the pool process:

- SLOW_DAY: sleeps RELIABILITY_SLOW_SECONDS (default 3) - a chunk to kill or stop mid-run;
- DIE_ONCE_DAY: SIGKILLs its own process the first time only (marker file);
- POISON_DAY: SIGKILLs its own process every time, like a row that runs out of memory.

Every validation of a fault row is counted in RELIABILITY_FAULT_DIR, so a test can
see how often a chunk was delivered. With RELIABILITY_CHUNK_SOFT_LIMIT set, the
worker's `batches.import_chunk` gets that soft limit (and a hard limit 2 s later).
Never use the killing dates with the in-process `celery_worker`: it would kill pytest.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from pathlib import Path

from import_export import fields, resources, widgets

from batches import registry
from batches.tasks import import_chunk
from catalogue.models import DailySales

DATASET = "fault_sales"
HEADER = "day,store_code,sku,units,unit_price,revenue\n"
SLOW_DAY = dt.date(2026, 12, 1)
DIE_ONCE_DAY = dt.date(2026, 12, 2)
POISON_DAY = dt.date(2026, 12, 3)


def fault_dir() -> Path:
    return Path(os.environ.get("RELIABILITY_FAULT_DIR", "/tmp/bp-reliability-faults"))


def deliveries(day: dt.date) -> int:
    """How many times a chunk validated the fault row of `day` (one line per time)."""
    path = fault_dir() / f"seen-{day.isoformat()}"
    return len(path.read_text().splitlines()) if path.exists() else 0


class FaultyDayWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        day = dt.date.fromisoformat(value.strip())
        if day in (SLOW_DAY, DIE_ONCE_DAY, POISON_DAY):
            folder = fault_dir()
            folder.mkdir(parents=True, exist_ok=True)
            with (folder / f"seen-{day.isoformat()}").open("a") as seen:
                seen.write(f"{os.getpid()}\n")
        if day == SLOW_DAY:
            time.sleep(float(os.environ.get("RELIABILITY_SLOW_SECONDS", "3")))
        elif day == DIE_ONCE_DAY:
            try:
                os.close(os.open(fault_dir() / "died-once", os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return day
            os.kill(os.getpid(), signal.SIGKILL)
        elif day == POISON_DAY:
            os.kill(os.getpid(), signal.SIGKILL)
        return day


class FaultSalesResource(resources.ModelResource):
    day = fields.Field(attribute="day", column_name="day", widget=FaultyDayWidget())

    class Meta:
        model = DailySales
        import_id_fields = ("day", "store_code", "sku")
        # discount and currency may be absent from a file: the model's defaults apply.
        fields = ("day", "store_code", "sku", "units", "unit_price", "discount", "revenue",
                  "currency")  # fmt: skip


registry.register(DATASET, FaultSalesResource, label="Sales lines that misbehave (tests)")

if os.environ.get("RELIABILITY_CHUNK_SOFT_LIMIT"):
    import_chunk.soft_time_limit = float(os.environ["RELIABILITY_CHUNK_SOFT_LIMIT"])
    import_chunk.time_limit = import_chunk.soft_time_limit + 2


def sales_csv(rows: int, *, faults: dict[int, dt.date] | None = None) -> str:
    """`rows` distinct sales lines; row n (0-based) gets the fault date faults[n]."""
    faults = faults or {}
    lines = [HEADER]
    for n in range(rows):
        day = faults.get(n, dt.date(2026, 11, 2) + dt.timedelta(days=n % 5))
        lines.append(
            f"{day.isoformat()},S{n:04d},SKU-{n % 7:03d},{n % 9 + 1},2.50,{2.5 * (n % 9 + 1):.2f}\n"
        )
    return "".join(lines)
