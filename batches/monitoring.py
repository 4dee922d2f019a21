"""What ops watch in imports: batches registers its conditions and panel with ops.

Ops sits below batches and never imports it; `BatchesConfig.ready()` calls
`register_with_ops()`. The checks then evaluate `import_stalled` with their own, and
resolve the alerts batches raises when their condition clears; the dashboard shows
the recent import failures, which are the uploaders' to fix and not ops alerts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import Q, Sum
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, Metric

from batches.models import ImportChunk, ImportJob
from ops import conditions, metrics, panels
from ops.panels import Cell

KIND_IMPORT_STALLED = "import_stalled"
KIND_IMPORT_FAILED = "import_failed"
KIND_CHUNK_KILLED_WORKER = "import_chunk_killed_worker"
KIND_INBOX_FILE_FAILED = "inbox_file_failed"
# The subjects batches gives its alerts: "import #12", "import #12 chunk 3".
_JOB_SUBJECT = re.compile(r"import #(\d+)")
_CHUNK_SUBJECT = re.compile(r"import #(\d+) chunk (\d+)")


def import_stall_conditions(*, now: datetime) -> conditions.Firing:
    """Running imports with no progress for OPS_IMPORT_STALL_AFTER: amber, one per import."""
    cutoff = now - timedelta(seconds=settings.OPS_IMPORT_STALL_AFTER)
    stalled = (
        ImportJob.objects.filter(status=ImportJob.Status.RUNNING)
        .annotate(progress_at=Coalesce("last_progress_at", "started_at", "created_at"))
        .filter(progress_at__lt=cutoff)
        .values("id", "dataset", "progress_at")
        .order_by("id")
    )
    return {
        f"import #{job['id']}": (
            conditions.AMBER,
            f"Import #{job['id']} ({job['dataset']}) is running with no progress for "
            f"{int((now - job['progress_at']).total_seconds() // 60)} min "
            f"(threshold {settings.OPS_IMPORT_STALL_AFTER // 60} min).",
        )
        for job in stalled
    }


def _job_ids(subjects: Iterable[str], pattern: re.Pattern[str]) -> dict[str, tuple[int, ...]]:
    parsed = {}
    for subject in subjects:
        match = pattern.fullmatch(subject)
        if match:
            parsed[subject] = tuple(int(group) for group in match.groups())
    return parsed


def import_failed_still_firing(*, subjects: list[str]) -> set[str]:
    """An import that failed for the platform's reasons stays an alert until it ends
    with no failed chunk (a retry succeeded), is cancelled or is deleted."""
    jobs = _job_ids(subjects, _JOB_SUBJECT)
    failing = set(
        ImportJob.objects.filter(id__in=[job_id for (job_id,) in jobs.values()])
        .exclude(status=ImportJob.Status.CANCELLED)
        .filter(
            Q(finished_at__isnull=True)  # a retry is running
            | Q(chunks__status=ImportChunk.Status.FAILED)
        )
        .values_list("id", flat=True)
        .distinct()
        .order_by()
    )
    return {subject for subject, (job_id,) in jobs.items() if job_id in failing}


def chunk_killed_worker_still_firing(*, subjects: list[str]) -> set[str]:
    """A chunk that kept killing its worker stays an alert until it is done (retried),
    cancelled, or its import is deleted."""
    chunks = _job_ids(subjects, _CHUNK_SUBJECT)
    wanted = Q(pk__in=[])
    for job_id, index in chunks.values():
        wanted |= Q(job_id=job_id, index=index)
    failing = set(
        ImportChunk.objects.filter(wanted)
        .filter(
            status__in=[
                ImportChunk.Status.FAILED,
                ImportChunk.Status.PENDING,  # retried, not yet done
                ImportChunk.Status.RUNNING,
            ]
        )
        .values_list("job_id", "index")
        .order_by()
    )
    return {subject for subject, key in chunks.items() if key in failing}


def inbox_file_still_firing(*, subjects: list[str]) -> set[str]:
    """An inbox file that could not be taken stays an alert while it is still in the
    inbox: a later scan that takes it archives it, and so clears the alert."""
    return {path for path in subjects if default_storage.exists(path)}


def recent_import_failures(*, hours: int = 24, limit: int = 10) -> list[list[Cell]]:
    """Imports that ended failed or with rejected rows: the uploaders' to fix, shown here
    so ops can see a pattern (one query, on the status/created index)."""
    since = timezone.now() - timedelta(hours=hours)
    jobs = (
        ImportJob.objects.filter(
            Q(status__in=[ImportJob.Status.FAILED, ImportJob.Status.PARTIALLY_FAILED]),
            created_at__gte=since,
        )
        .select_related("created_by")
        .order_by("-created_at")[:limit]
    )
    return [
        [
            Cell(f"#{job.id}", reverse("admin:batches_importjob_change", args=[job.id])),
            Cell(job.dataset),
            Cell(job.original_name or job.file),
            Cell(str(job.created_by) if job.created_by else job.get_source_display()),
            Cell(job.get_status_display()),
            Cell(f"{job.rows_rejected:,}"),
            Cell((job.error or "")[:200]),
        ]
        for job in jobs
    ]


# What the admin home counts for today and yesterday: (label, statuses, colour).
IMPORT_OUTCOMES: list[panels.Outcome] = [
    ("done", (ImportJob.Status.SUCCEEDED,), "green"),
    ("running", (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING), ""),
    ("failed", (ImportJob.Status.FAILED, ImportJob.Status.PARTIALLY_FAILED), "red"),
]


def imports_by_day() -> list[list[Cell]]:
    """Today's and yesterday's imports by outcome for the admin home, each count linking
    to those imports (one grouped query)."""
    return panels.outcomes_by_day(
        ImportJob.objects.all(),
        field="created_at",
        outcomes=IMPORT_OUTCOMES,
        changelist=reverse("admin:batches_importjob_changelist"),
    )


def import_row_metrics() -> Iterable[Metric]:
    """Rows imported, by dataset and outcome, summed over the imports kept (one query).

    Deleting old imports lowers the sums, which Prometheus reads as a counter reset.
    """
    outcomes = ["new", "updated", "unchanged", "rejected"]
    family = CounterMetricFamily(
        "batch_platform_import_rows",
        "Rows of finished and running imports, by dataset and outcome.",
        labels=["dataset", "outcome"],
    )
    rows = (
        ImportJob.objects.values("dataset")
        .annotate(**{outcome: Sum(f"rows_{outcome}") for outcome in outcomes})
        .values_list("dataset", *outcomes)
        .order_by("dataset")
    )
    for dataset, *sums in rows:
        for outcome, total in zip(outcomes, sums, strict=True):
            family.add_metric([dataset, outcome], total or 0)
    yield family


def register_with_ops() -> None:
    conditions.register(kind=KIND_IMPORT_STALLED, evaluate=import_stall_conditions)
    conditions.register(kind=KIND_IMPORT_FAILED, still_firing=import_failed_still_firing)
    conditions.register(
        kind=KIND_CHUNK_KILLED_WORKER, still_firing=chunk_killed_worker_still_firing
    )
    conditions.register(kind=KIND_INBOX_FILE_FAILED, still_firing=inbox_file_still_firing)
    panels.register(
        name="import_failures",
        title="Recent import failures (24 h): for the uploaders to fix, not ops alerts",
        columns=["import", "dataset", "file", "uploaded by", "status", "rows rejected", "why"],
        rows=recent_import_failures,
        empty="No import failed in the last 24 hours.",
    )
    panels.register(
        name="imports_by_day",
        title="Imports",
        columns=["day", *(label for label, _, _ in IMPORT_OUTCOMES)],
        rows=imports_by_day,
        place=panels.HOME,
        permissions=("batches.view_import", "batches.view_importjob"),
        url=lambda: reverse("admin:batches_importjob_changelist"),
        link_text="All imports",
        order=20,
    )
    metrics.register(name="imports", collect=import_row_metrics)
