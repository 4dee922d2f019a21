"""The steady workload: files imported through the command line and the inbox."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.reliability.chaos.common import ROOT, ROWS_PER_FILE, RUN_DIR, log


class Workload(threading.Thread):
    """Files through the command line and the inbox: new rows, then updates of them."""

    def __init__(self, env: dict[str, str], rng: random.Random, until: float) -> None:
        super().__init__(name="chaos-workload", daemon=True)
        self.env, self.rng, self.until = env, rng, until
        self.expected: dict[tuple[str, str], int] = {}
        self.operations: list[dict] = []
        self.inbox = Path(env["MEDIA_ROOT"]) / "imports" / "inbox"
        self.files = RUN_DIR / "files"

    def run(self) -> None:
        shutil.rmtree(self.files, ignore_errors=True)
        self.files.mkdir(parents=True)
        self.inbox.mkdir(parents=True, exist_ok=True)
        number = 0
        while time.monotonic() < self.until:
            number += 1
            updatable = [op for op in self.operations if op["units"] == 1 and self._done(op)]
            if updatable and self.rng.random() < 0.3:
                self.submit(updatable[0]["store"], units=2, via="cli")
                updatable[0]["units"] = 0  # updated once
            else:
                self.submit(f"C{number:04d}", units=1, via=self.rng.choice(["cli", "inbox"]))
            time.sleep(self.rng.uniform(3, 8))

    def _done(self, op: dict) -> bool:
        from batches.models import ImportJob, InboxFile

        if op.get("job"):
            return ImportJob.objects.filter(id=op["job"], finished_at__isnull=False).exists()
        taken = InboxFile.objects.filter(path__endswith=op["name"]).values_list("job", flat=True)
        job = next(iter(taken), None)
        return bool(job) and ImportJob.objects.filter(id=job, finished_at__isnull=False).exists()

    def submit(self, store: str, *, units: int, via: str) -> None:
        lines = ["day,store_code,sku,units,unit_price,discount,revenue,currency\n"]
        for row in range(ROWS_PER_FILE):
            lines.append(
                f"2026-11-01,{store},SKU-{row:05d},{units},2.50,0.00,{units * 2.5:.2f},EUR\n"
            )
            self.expected[(store, f"SKU-{row:05d}")] = units
        content = "".join(lines).encode()
        name = f"daily_sales__{store}-u{units}.csv"
        op = {"at": time.time(), "via": via, "name": name, "store": store, "units": units}
        if via == "inbox":
            pieces = [
                content[i : i + len(content) // 4 + 1]
                for i in range(0, len(content), len(content) // 4 + 1)
            ]
            with (self.inbox / name).open("wb") as sender:
                for piece in pieces:
                    sender.write(piece)
                    sender.flush()
                    time.sleep(0.4)  # a slow sender, pausing less than the settle interval
        else:
            path = self.files / name
            path.write_bytes(content)
            done = subprocess.run(
                [sys.executable, "manage.py", "import_csv", "daily_sales", str(path)],
                cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=180,
            )  # fmt: skip
            op.update(exit=done.returncode, said=done.stdout.strip()[-200:])
            words = done.stdout.split()
            if len(words) > 1 and words[0] == "Import" and words[1].startswith("#"):
                op["job"] = int(words[1].strip("#;"))
        self.operations.append(op)
        log(f"work: {via} {name}" + (f" -> {op.get('said', '')}" if via == "cli" else ""))
