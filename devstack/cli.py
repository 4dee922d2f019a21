"""`python -m devstack run|test`: what `make run` and `make test` call.

run:  servers, migrations, demo admin, default schedules, then web + worker + beat
      in the foreground until Ctrl-C, which stops them all cleanly.
test: servers, `makemigrations --check`, ruff, mypy, import-linter (the layers), then
      pytest with any extra arguments.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from devstack.services import BASE_DIR, VAR_DIR, ensure_services

PYTHON = sys.executable
MANAGE = [PYTHON, str(BASE_DIR / "manage.py")]
ALL_QUEUES = "default,imports,reports,ops"
MAX_RESTARTS_PER_MINUTE = 5


def _manage(*args: str) -> None:
    subprocess.run([*MANAGE, *args], check=True, cwd=BASE_DIR)


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    started = ensure_services()
    for name, value in started.items():
        print(f"[devstack] embedded {name.split('_')[0].lower()}: {value}")
    _manage("migrate", "--noinput")
    _manage("collectstatic", "--noinput", "--verbosity", "0")
    _manage("ensure_demo_admin")
    _manage("ensure_default_reports")
    _manage("sync_default_schedules")

    celery = [PYTHON, "-m", "celery", "-A", "config"]
    processes = {
        "web": [*MANAGE, "runserver", f"{args.host}:{args.port}", "--noreload"],
        "worker": [*celery, "worker", "-Q", ALL_QUEUES, "-c", str(args.concurrency),
                   "-l", "info", "-n", "worker@%h", "-E"],
        "beat": [*celery, "beat", "-l", "info",
                 "--pidfile", str(VAR_DIR / "celerybeat.pid")],
    }  # fmt: skip

    def start(name: str) -> subprocess.Popen[bytes]:
        # Own process group: Ctrl-C reaches us once and we stop the children in order.
        return subprocess.Popen(processes[name], cwd=BASE_DIR, start_new_session=True)

    children = {name: start(name) for name in processes}
    restarts: dict[str, list[float]] = {name: [] for name in processes}

    print(
        f"\n[devstack] batch-platform is running: http://{args.host}:{args.port}/admin/\n"
        "[devstack] press Ctrl-C to stop web, worker and beat.\n",
        flush=True,
    )
    stopping = False

    def _stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    exit_code = 0
    while not stopping:
        for name, child in list(children.items()):
            if child.poll() is None or stopping:
                continue
            # Worker and beat are restarted like a container with `restart: unless-stopped`
            # (Celery can exit on an "Unrecoverable error" when Redis dies mid-task);
            # web exiting, or a crash loop, stops everything.
            recent = [t for t in restarts[name] if time.monotonic() - t < 60]
            if name == "web" or len(recent) >= MAX_RESTARTS_PER_MINUTE:
                print(f"[devstack] {name} exited with {child.returncode}; stopping the rest.")
                exit_code = child.returncode or 1
                stopping = True
                continue
            delay = 2 ** len(recent)
            print(f"[devstack] {name} exited with {child.returncode}; restarting in {delay}s.")
            time.sleep(delay)
            restarts[name] = [*recent, time.monotonic()]
            children[name] = start(name)
        time.sleep(0.5)

    print("[devstack] stopping beat, worker and web ...", flush=True)
    for name in ("beat", "worker", "web"):
        if children[name].poll() is None:
            children[name].send_signal(signal.SIGTERM)  # worker: warm shutdown
    deadline = time.monotonic() + 30
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    print("[devstack] stopped.")
    return exit_code


def test(args: argparse.Namespace, pytest_args: list[str]) -> int:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    ensure_services()
    checks = [
        [*MANAGE, "makemigrations", "--check", "--dry-run"],
        [PYTHON, "-m", "ruff", "check", "."],
        [PYTHON, "-m", "ruff", "format", "--check", "."],
        # Services and selectors, configured in pyproject.toml. Only on the lock: at the
        # ends of the ranges the libraries' own type hints differ (redis 6.1 types its
        # sync client's replies as awaitables), which says nothing about our code.
        *([[PYTHON, "-m", "mypy"]] if os.environ.get("RESOLUTION", "lock") == "lock" else []),
        # The layers and the no-cycles contracts in pyproject.toml (docs/architecture.md).
        [str(Path(PYTHON).with_name("lint-imports"))],
    ]
    for command in checks:
        shown = command[1:] if command[0] == PYTHON else [Path(command[0]).name, *command[1:]]
        print(f"[devstack] {' '.join(shown)}", flush=True)
        if subprocess.run(command, cwd=BASE_DIR).returncode != 0:
            return 1
    if not any(arg == "-n" or arg.startswith(("-n", "--numprocesses")) for arg in pytest_args):
        # Most tests wait on real workers, beat and timers rather than the CPU: two xdist
        # workers per core keep the cores busy (on 2 cores: 13 min with 2, 9 with 4).
        processes = os.environ.get("TEST_PROCESSES") or str(min(8, 2 * (os.cpu_count() or 1)))
        pytest_args = ["-n", processes, "--dist", "loadfile", *pytest_args]
    return subprocess.run([PYTHON, "-m", "pytest", *pytest_args], cwd=BASE_DIR).returncode


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack")
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="start web, worker and beat")
    run_parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    run_parser.add_argument("--port", default=os.environ.get("PORT", "8000"))
    run_parser.add_argument("--concurrency", default=os.environ.get("WORKER_CONCURRENCY", "2"))
    sub.add_parser("test", help="checks and the whole test suite")
    args, rest = parser.parse_known_args()
    if args.command == "run":
        sys.exit(run(args))
    sys.exit(test(args, rest))
