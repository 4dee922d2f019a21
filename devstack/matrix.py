"""`make test-matrix`: the whole suite in every cell we support, then one table.

Cells: uv.lock on each supported (Python, Django) pair, plus the lowest versions
pyproject.toml allows on the oldest pair and the newest it allows today on the newest
pair. Each cell is `make test` with PYTHON, DJANGO and RESOLUTION set, run one after the
other (the suite already uses both cores). Standard library only: it runs before any venv.

    make test-matrix                                   # every cell
    make test-matrix MATRIX_ARGS="--cells 3.13-6.0-lock,3.11-5.2-lowest"
    make test-matrix MATRIX_ARGS="--list"
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from devstack.bootstrap import BASE_DIR, Cell, find_interpreter

PYTHONS = ("3.11", "3.12", "3.13")
# Django 6.0 supports Python 3.12+ (its release notes); 5.2 supports 3.10-3.14.
SUPPORTED = {"5.2": PYTHONS, "6.0": ("3.12", "3.13")}
OUT_DIR = BASE_DIR / "var" / "matrix"
SHOWN_PACKAGES = ("django", "celery", "django-celery-beat", "django-import-export",
                  "sentry-sdk", "redis", "kombu", "holidays")  # fmt: skip
SUMMARY = re.compile(
    r"^=+ (?P<text>.*\b(passed|failed|error|errors|skipped)\b.*) in (?P<s>[\d.]+)s"
)


def all_cells() -> list[Cell]:
    cells = [Cell(python, django, "lock") for django, pythons in SUPPORTED.items()
             for python in pythons]  # fmt: skip
    cells.sort(key=lambda cell: (cell.python, cell.django))
    return [*cells, Cell("3.11", "5.2", "lowest"), Cell("3.13", "6.0", "newest")]


def cell_name(cell: Cell) -> str:
    return f"{cell.python}-{cell.django}-{cell.resolution}"


def _versions(python: Path) -> dict[str, str]:
    script = (
        "import json, platform, importlib.metadata as m\n"
        f"names = {list(SHOWN_PACKAGES)!r}\n"
        "found = {'python': platform.python_version()}\n"
        "for n in names:\n"
        "    try: found[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(found))"
    )
    out = subprocess.run([python, "-c", script], capture_output=True, text=True, check=False)
    return json.loads(out.stdout) if out.returncode == 0 else {}


def _counts(text: str) -> dict[str, int]:
    return {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|errors?)", text)}


def run_cell(cell: Cell, pytest_args: list[str]) -> dict:
    name = cell_name(cell)
    log_path = OUT_DIR / f"{name}.log"
    result: dict = {"cell": name, "log": str(log_path.relative_to(BASE_DIR))}
    try:
        _, version = find_interpreter(cell.python)
    except Exception as error:  # no such interpreter on this machine: say so in the table
        return {**result, "outcome": "not run", "why": str(error).split(":")[0]}
    env = {**os.environ, "PYTHON": cell.python, "DJANGO": cell.django,
           "RESOLUTION": cell.resolution}  # fmt: skip
    started = time.monotonic()
    summary = ""
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "devstack.bootstrap", "test", *pytest_args],
            cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert process.stdout is not None
        for line in process.stdout:
            log.write(line)
            if SUMMARY.match(line.strip()):
                summary = line.strip().strip("= ")
        process.wait()
    venv = cell.venv_dir(version)
    result.update(
        outcome="passed" if process.returncode == 0 else "FAILED",
        returncode=process.returncode,
        seconds=round(time.monotonic() - started),
        counts=_counts(summary),
        versions=_versions(venv / "bin" / "python"),
    )
    if not summary:
        tail = log_path.read_text().strip().splitlines()[-3:]
        result["why"] = " / ".join(tail)[-300:]
    return result


def table(results: list[dict]) -> str:
    lines = [
        "| cell | Python | Django | celery | beat | import-export | sentry-sdk | redis | "
        "holidays | passed | failed | skipped | time | result |",
        "|---|---|---|---|---|---|---|---|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        v, c = r.get("versions", {}), r.get("counts", {})
        minutes = f"{r['seconds'] // 60} min {r['seconds'] % 60:02d} s" if "seconds" in r else ""
        outcome = r["outcome"] + (f" ({r['why']})" if r.get("why") else "")
        lines.append(
            f"| {r['cell']} | {v.get('python', '')} | {v.get('django', '')} | "
            f"{v.get('celery', '')} | {v.get('django-celery-beat', '')} | "
            f"{v.get('django-import-export', '')} | {v.get('sentry-sdk', '')} | "
            f"{v.get('redis', '')} | {v.get('holidays', '')} | {c.get('passed', 0)} | "
            f"{c.get('failed', 0) + c.get('error', 0) + c.get('errors', 0)} | "
            f"{c.get('skipped', 0)} | {minutes} | {outcome} |"
        )
    return "\n".join(lines)


def run_matrix(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="make test-matrix")
    parser.add_argument("--cells", help="comma-separated cell names (see --list)")
    parser.add_argument("--list", action="store_true", help="print the cells and stop")
    args, pytest_args = parser.parse_known_args(argv)
    cells = all_cells()
    if args.list:
        print("\n".join(cell_name(cell) for cell in cells))
        return 0
    if args.cells:
        wanted = args.cells.split(",")
        unknown = set(wanted) - {cell_name(cell) for cell in cells}
        if unknown:
            print(f"unknown cells: {', '.join(sorted(unknown))} (see --list)", file=sys.stderr)
            return 2
        cells = [cell for cell in cells if cell_name(cell) in wanted]
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    results = []
    for cell in cells:
        print(f"[matrix] {cell_name(cell)} ...", flush=True)
        results.append(run_cell(cell, pytest_args))
        print(f"[matrix] {cell_name(cell)}: {results[-1]['outcome']}", flush=True)
        (OUT_DIR / "results.json").write_text(json.dumps(results, indent=2))
    shown = table(results)
    (OUT_DIR / "results.md").write_text(shown + "\n")
    print(shown)
    print(f"\n(logs and this table: {OUT_DIR.relative_to(BASE_DIR)}/)")
    return 0 if all(r["outcome"] == "passed" for r in results) else 1
