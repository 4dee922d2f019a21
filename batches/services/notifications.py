"""What people hear about an import: the uploader's email and the ops alerts."""

from __future__ import annotations

from django.core.mail import send_mail

from batches.models import ImportJob
from ops.services import alert_raise


def job_email_uploader(*, job_id: int) -> None:
    """Email the uploader how the import ended."""
    job = ImportJob.objects.select_related("created_by").get(id=job_id)
    user = job.created_by
    if not (user and user.email):
        return
    lines = [
        f"Import #{job.id} of {job.original_name or job.file} into {job.dataset}: "
        f"{job.get_status_display()}.",
        "",
        f"Rows in file: {job.rows_total:,}",
        f"New: {job.rows_new:,}  Updated: {job.rows_updated:,}  "
        f"Unchanged: {job.rows_unchanged:,}  Rejected: {job.rows_rejected:,}",
    ]
    if job.duration:
        lines.append(f"Duration: {job.duration.total_seconds():.1f} s")
    if job.error:
        lines += ["", job.error]
    if job.rows_rejected:
        lines += ["", "The rejected rows and why are in the error file on the import's page."]
    lines += ["", f"/admin/batches/importjob/{job.id}/change/"]
    send_mail(
        subject=f"Import #{job.id} {job.dataset}: {job.get_status_display()}",
        message="\n".join(lines),
        from_email=None,
        recipient_list=[user.email],
    )


def job_alert_failed(*, job: ImportJob) -> None:
    """Red alert for a failed import, amber for a partially failed one."""
    alert_raise(
        kind="import_failed",
        subject=f"import #{job.id}",
        message=(
            f"Import #{job.id} ({job.dataset}, {job.original_name or job.file}) ended "
            f"{job.get_status_display()}: {job.rows_rejected:,} rows rejected. {job.error}"
        ).strip(),
        severity="red" if job.status == ImportJob.Status.FAILED else "amber",
    )


def chunk_alert_killed_worker(*, job: ImportJob, chunk_index: int, error: str) -> None:
    alert_raise(
        kind="import_chunk_killed_worker",
        subject=f"import #{job.id} chunk {chunk_index}",
        message=(
            f"Import #{job.id} ({job.dataset}, {job.original_name or job.file}): chunk "
            f"{chunk_index} {error}. Its rows may exhaust the worker's memory or "
            f"crash it; the rest of the import goes on."
        ),
    )


def inbox_alert_file_failed(*, path: str, exc: Exception) -> None:
    alert_raise(
        kind="inbox_file_failed",
        subject=path,
        message=f"Inbox file {path} could not be taken: {type(exc).__name__}: {exc}",
    )
