"""Benchmark: how long the ops dashboard, the admin home and /health/ready/ take to answer,
with 4 queues and 10 workers registered, and what each asks the database and Redis.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bp_pages \\
    REDIS_URL=redis://127.0.0.1:6379/3 \\
        .venv/bin/python benchmarks/ops_pages.py [--views 30] [--workers 10]

Use a migrated scratch database and a Redis database of your own: the script writes a
night of activity (imports, periodic runs, alerts, report definitions: `--night`
rows of each, added at every run), a superuser `bench-pages`, fresh heartbeats and the
liveness records of `--workers` workers (it empties the `ops:` keys first). Each view is requested through Django's
test client (the whole request: middleware, session, templates) once to warm up, then
`--views` times; the median and the 90th percentile are printed with the queries and
Redis round trips of one request. No worker process is needed: the pages read what
the workers and the checks store, which is the point. Prints figures; no assertions.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ.setdefault("DJANGO_DEBUG", "False")
# WhiteNoise warns that collectstatic was not run; no static file is measured here.
warnings.filterwarnings("ignore", message="No directory at")

import django  # noqa: E402

django.setup()


from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from ops import state  # noqa: E402
from tests.ops.live_state import busy_night_write, platform_running  # noqa: E402
from tests.ops.redis_calls import redis_calls  # noqa: E402

# (url, signed in): readiness is measured as a probe asks it, anonymously.
VIEWS = {
    "ops dashboard": ("/admin/ops/dashboard/", True),
    "admin home": ("/admin/", True),
    "/health/ready/": ("/health/ready/", False),
}


def prepare(*, workers: int, night: int) -> None:
    # Exactly `workers` workers: forget the ops keys (workers, heartbeats) of earlier runs.
    client = state.client()
    stale = list(client.scan_iter(match=state.PREFIX + "*", count=1000))
    if stale:
        client.delete(*stale)
    platform_running(workers=workers)
    busy_night_write(imports=night, runs=night, alerts=min(night, 12), reports=min(night, 8))


def measure(client: Client, url: str, *, views: int) -> dict[str, float]:
    client.get(url)
    queries: list[str] = []

    def counted(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    # Counted at the cursor: the request's own connection handling cannot lose them.
    with connection.execute_wrapper(counted), redis_calls() as calls:
        status = client.get(url).status_code
    times = []
    for _ in range(views):
        start = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {
        "status": status,
        "median": statistics.median(times),
        "p90": times[int(0.9 * (len(times) - 1))],
        "queries": len(queries),
        "round_trips": calls.round_trips,
        "commands": len(calls.commands),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--views", type=int, default=30)
    parser.add_argument("--workers", type=int, default=10)
    parser.add_argument("--night", type=int, default=200, help="imports and runs written")
    args = parser.parse_args()
    prepare(workers=args.workers, night=args.night)
    user, _ = get_user_model().objects.get_or_create(
        username="bench-pages", defaults={"is_staff": True, "is_superuser": True}
    )
    signed_in, anonymous = Client(SERVER_NAME="localhost"), Client(SERVER_NAME="localhost")
    signed_in.force_login(user)
    print(
        f"{len(settings.PLATFORM_QUEUES)} queues, {args.workers} workers registered, "
        f"{args.views} views each, DEBUG={settings.DEBUG}, load average "
        + " ".join(f"{load:.2f}" for load in os.getloadavg())
    )
    print(f"{'view':<16} {'status':>6} {'median':>9} {'p90':>9} {'queries':>8} {'redis trips':>12}")
    for name, (url, signed) in VIEWS.items():
        result = measure(signed_in if signed else anonymous, url, views=args.views)
        print(
            f"{name:<16} {result['status']:>6} {result['median']:>7.1f}ms {result['p90']:>7.1f}ms "
            f"{result['queries']:>8} {result['round_trips']:>6} ({result['commands']} commands)"
        )


if __name__ == "__main__":
    main()
