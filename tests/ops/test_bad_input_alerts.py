"""Issue 15's acceptance: the bad-input corpus (tests/reliability/test_bad_input.py's
unusable files and bad rows) through the admin upload and the command line, run by a
real worker, leaves 0 red open ops alerts (in fact none): a user's bad file is the
user's to fix. They show on the dashboard's "recent import failures" panel instead.

Run with `-s` to see the counts."""

from __future__ import annotations

import contextlib
from collections import Counter

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from batches.models import ImportJob
from ops import state
from ops.conditions import platform_status
from ops.models import Alert
from ops.services import heartbeat_record, ops_checks_run
from tests.reliability.test_bad_input import FILE_ERRORS, GOOD, HEADER, ROW_ERRORS
from tests.support.imports import wait_for_finish

pytestmark = pytest.mark.slow

SALES_HEADER = "day,store_code,sku,units,unit_price,discount,revenue,currency\n"
CORPUS = [
    *((name, content, options) for name, content, options, _ in FILE_ERRORS),
    *(
        (name, (HEADER + GOOD + row + "CCC,Gamma,Y,,USA,3,4\n").encode(), {})
        for name, row, _ in ROW_ERRORS
    ),
    ("latin-1 bytes in a utf-8 file",
     (HEADER + GOOD).encode() + "ZRH,Zürich,Zürich,,CH,47.4,8.5\n".encode("latin-1"), {}),
    ("all or nothing with a bad row",
     (HEADER + GOOD + "CCC,C,X,,USA,north,2\n").encode(), {"mode": "all_or_nothing"}),
    ("invalid date", (SALES_HEADER + "2026-02-30,S1,SKU-1,1,2.5,0,2.5,EUR\n").encode(),
     {"dataset": "daily_sales"}),
]  # fmt: skip


def _admin_upload(client, name: str, content: bytes, options: dict) -> int | None:
    response = client.post(
        "/admin/batches/importjob/upload/",
        {"dataset": options.get("dataset", "airports"),
         "mode": options.get("mode", "valid_rows"), "encoding": "utf-8",
         "delimiter": options.get("delimiter", ""),
         "file": SimpleUploadedFile(f"{name}.csv", content, content_type="text/csv")},
    )  # fmt: skip
    if response.status_code != 302:
        return None  # refused by the form, before any job: the uploader sees why
    job_id = int(response["Location"].rstrip("/").split("/")[-2])
    client.post(response["Location"])  # "Import" on the preview page
    return job_id


def _command_line(tmp_path, name: str, content: bytes, options: dict) -> int | None:
    path = tmp_path / f"{name.replace(' ', '_')}.csv"
    path.write_bytes(content)
    args = ["import_csv", options.get("dataset", "airports"), str(path)]
    if options.get("delimiter"):
        args += ["--delimiter", options["delimiter"]]
    if options.get("mode") == "all_or_nothing":
        args.append("--all-or-nothing")
    before = set(ImportJob.objects.values_list("id", flat=True))
    with contextlib.suppress(SystemExit, Exception):  # exit status 1/2, or CommandError
        call_command(*args, stdout=open("/dev/null", "w"), stderr=open("/dev/null", "w"))  # noqa: SIM115
    [job_id] = set(ImportJob.objects.values_list("id", flat=True)) - before or [None]
    return job_id


def test_the_bad_input_corpus_leaves_no_red_open_alert(
    celery_worker, client, django_user_model, tmp_path, settings, capsys
):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.IMPORT_CHUNK_ROWS = 3
    uploader = django_user_model.objects.create_user("uploader", email="u@example.com",
                                                     is_staff=True)  # fmt: skip
    uploader.user_permissions.add(*Permission.objects.filter(codename__in=["run_import",
                                                                          "view_import"]))  # fmt: skip
    client.force_login(uploader)

    jobs = []
    for name, content, options in CORPUS:
        jobs.append(_admin_upload(client, name, content, options))
        jobs.append(_command_line(tmp_path, name, content, options))
    for job_id in filter(None, jobs):
        wait_for_finish(job_id, timeout=60)
    # Beat is not running here: record a tick and fresh heartbeats, so only what the
    # corpus caused can fire; then what the checks loop does next.
    now = state.now_ts()
    state.client().set(state.BEAT_TICK, now)
    for queue in settings.PLATFORM_QUEUES:
        heartbeat_record(queue=queue, celery_task_id=f"hb-{queue}", sent_at_ts=now,
                         started_at_ts=now, worker="w@test")  # fmt: skip
    # The in-process test worker keeps no liveness record (it sends no worker_ready):
    # the workers are not read, as no-worker alerts are not what this test is about.
    ops_checks_run(status=platform_status(read_workers=False))

    ended = Counter(ImportJob.objects.values_list("status", flat=True))
    alerts = Counter(Alert.objects.filter(status="open").values_list("severity", "kind"))
    red = sum(n for (severity, _), n in alerts.items() if severity == "red")
    amber = sum(n for (severity, _), n in alerts.items() if severity == "amber")
    with capsys.disabled():
        print(f"\nbad-input corpus: {len(CORPUS)} files x (admin upload + command line); "
              f"{len(jobs) - len(list(filter(None, jobs)))} refused before a job; jobs ended "
              f"{dict(ended)}; open alerts: {red} red, {amber} amber {dict(alerts)}")  # fmt: skip
    assert red == 0
    assert amber == 0
    assert ended["failed"] + ended["partially_failed"] >= len(CORPUS)
