"""The steady workload: files imported through the command line and the inbox, in three
datasets: the sample domain's `daily_sales` (fast path), the team app's `team_stations`
(fast path) and `team_readings` (compatible path: the Resource has a row hook and
custom widgets). New rows, then updates of rows whose import has finished."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.reliability.chaos.common import ROOT, ROWS_PER_FILE, RUN_DIR, db_retry, log

STATIONS = 100  # every readings file has a reading of each of these for its 20 days
READING_DAYS = 20


def stations_csv() -> bytes:
    lines = ["code,name\n"] + [f"S{n:03d},Station {n}\n" for n in range(STATIONS)]
    return "".join(lines).encode()


class Workload(threading.Thread):
    """Files through the command line and the inbox: new rows, then updates of them.

    `expected[dataset][key]` is what the table must hold for each file row at the end."""

    def __init__(self, env: dict[str, str], rng: random.Random, until: float) -> None:
        super().__init__(name="chaos-workload", daemon=True)
        self.env, self.rng, self.until = env, rng, until
        self.expected: dict[str, dict[tuple, object]] = {
            "daily_sales": {}, "team_stations": {}, "team_readings": {},
        }  # fmt: skip
        self.operations: list[dict] = []
        self.inbox = Path(env["MEDIA_ROOT"]) / "imports" / "inbox"
        self.files = RUN_DIR / "files"
        self.number = 0
        self.lock = threading.Lock()
        shutil.rmtree(self.files, ignore_errors=True)
        self.files.mkdir(parents=True)
        self.inbox.mkdir(parents=True, exist_ok=True)

    def prepare(self) -> None:
        """The team's stations, imported (and finished) before the readings that need them."""
        op = self.submit("team_stations", "stations", stations_csv(), via="cli")
        for n in range(STATIONS):
            self.expected["team_stations"][(f"S{n:03d}",)] = f"Station {n}"
        deadline = time.monotonic() + 120
        while not db_retry(lambda: self._done(op)) and time.monotonic() < deadline:
            time.sleep(0.5)

    def run(self) -> None:
        while time.monotonic() < self.until:
            self.step()
            time.sleep(self.rng.uniform(3, 8))

    def step(self, *, via: str | None = None) -> None:
        with self.lock:
            self.number += 1
            number = self.number
        updatable = [op for op in self.operations
                     if op.get("version") == 1 and db_retry(lambda op=op: self._done(op))]  # fmt: skip
        if updatable and self.rng.random() < 0.3 and via is None:
            op = updatable[0]
            op["version"] = 0  # updated once
            self.new_file(op["dataset"], op["block"], version=2, via="cli")
        else:
            dataset = self.rng.choice(["daily_sales", "daily_sales", "team_readings"])
            self.new_file(dataset, number, version=1, via=via or self.rng.choice(["cli", "inbox"]))

    def new_file(self, dataset: str, block: int, *, version: int, via: str) -> dict:
        expected = self.expected[dataset]
        if dataset == "daily_sales":
            store = f"C{block:04d}"
            lines = ["day,store_code,sku,units,unit_price,discount,revenue,currency\n"]
            for row in range(ROWS_PER_FILE):
                sku = f"SKU-{row:05d}"
                lines.append(f"2026-11-01,{store},{sku},{version},2.50,0.00,"
                             f"{version * 2.5:.2f},EUR\n")  # fmt: skip
                expected[(store, sku)] = version
            name = f"daily_sales__{store}-u{version}.csv"
        else:
            # NOAA's way: "M" missing, "T" a trace of precipitation, codes in any case.
            lines = ["station,date,temp_max,temp_min,precipitation,wind,snow_depth,weather,note\n"]
            for day in range(READING_DAYS):
                date = f"{2000 + block // 12}/{block % 12 + 1:02d}/{day + 1:02d}"
                for n in range(STATIONS):
                    temp_max = f"{n % 30 + version}.5"
                    trace = (n + day) % 7 == 0
                    lines.append(f"s{n:03d},{date},{temp_max},M,{'T' if trace else '1.0'},"
                                 f"3.1,M, Rain ,\n")  # fmt: skip
                    key = (f"S{n:03d}", date.replace("/", "-"))
                    expected[key] = (temp_max, "0.0" if trace else "1.0")
            name = f"team_readings__R{block:04d}-u{version}.csv"
        op = self.submit(dataset, name, "".join(lines).encode(), via=via)
        op.update(block=block, version=version)
        return op

    def _done(self, op: dict) -> bool:
        from batches.models import ImportJob, InboxFile

        if op.get("job"):
            return ImportJob.objects.filter(id=op["job"], finished_at__isnull=False).exists()
        taken = InboxFile.objects.filter(path__endswith=op["name"]).values_list("job", flat=True)
        job = next(iter(taken), None)
        return bool(job) and ImportJob.objects.filter(id=job, finished_at__isnull=False).exists()

    def submit(self, dataset: str, name: str, content: bytes, *, via: str) -> dict:
        if not name.endswith(".csv"):
            name += ".csv"
        op = {"at": time.time(), "via": via, "dataset": dataset, "name": name}
        if via == "inbox":
            step = len(content) // 4 + 1
            with (self.inbox / name).open("wb") as sender:
                for i in range(0, len(content), step):
                    sender.write(content[i : i + step])
                    sender.flush()
                    time.sleep(0.4)  # a slow sender, pausing less than the settle interval
        else:
            path = self.files / name
            path.write_bytes(content)
            done = subprocess.run(
                [sys.executable, "manage.py", "import_csv", dataset, str(path)],
                cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=180,
            )  # fmt: skip
            said = done.stdout + (done.stderr if done.returncode else "")
            op.update(exit=done.returncode, said=said.strip()[-300:])
            words = done.stdout.split()
            if len(words) > 1 and words[0] == "Import" and words[1].startswith("#"):
                op["job"] = int(words[1].strip("#;"))
        self.operations.append(op)
        log(f"work: {via} {name}" + (f" -> {op.get('said', '')}" if via == "cli" else ""))
        return op
