"""What ops watch in imports: batches registers its conditions with ops at start-up.

Ops sits below batches and never imports it; `BatchesConfig.ready()` calls
`register_conditions()`, and the ops checks then evaluate these with their own.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models.functions import Coalesce

from batches.models import ImportJob
from ops import conditions

KIND_IMPORT_STALLED = "import_stalled"


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


def register_conditions() -> None:
    conditions.register(kind=KIND_IMPORT_STALLED, evaluate=import_stall_conditions)
