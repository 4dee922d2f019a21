"""What people hear about an import: the uploader's email and the ops alerts.

The alert policy (docs/ops.md): a refused file or rejected rows are the uploader's to
fix: the email, the job page and the ops dashboard's "recent import failures" panel
say so, and ops get no alert. An import that fails for the platform's reasons (chunks
that failed for good: database errors past their retries, a chunk killing its
worker, a time limit; a lost chord callback) alerts. Each alert resolves itself when
its condition clears (batches.monitoring tells the ops checks how to see that).
"""

from __future__ import annotations

from django.core.mail import send_mail

from batches.models import ImportChunk, ImportJob
from batches.monitoring import (
    KIND_CHUNK_KILLED_WORKER,
    KIND_IMPORT_FAILED,
    KIND_INBOX_FILE_FAILED,
)
from ops.services import alert_raise, alert_resolve


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


def job_alert_ended(*, job: ImportJob) -> None:
    """A job just ended: alert ops if chunks failed for good (red when the whole job
    failed, amber when part of it did); otherwise resolve its alert (a retry worked)."""
    subject = f"import #{job.id}"
    failed = job.chunks.filter(status=ImportChunk.Status.FAILED).count()
    if not failed or job.status not in (ImportJob.Status.FAILED, ImportJob.Status.PARTIALLY_FAILED):
        alert_resolve(kind=KIND_IMPORT_FAILED, subject=subject)
        return
    alert_raise(
        kind=KIND_IMPORT_FAILED,
        subject=subject,
        message=(
            f"Import #{job.id} ({job.dataset}, {job.original_name or job.file}) ended "
            f"{job.get_status_display()}: {failed} of {job.chunks_total} chunks failed for "
            f"the platform's reasons (see the chunks); they can be retried. {job.error}"
        ).strip(),
        severity="red" if job.status == ImportJob.Status.FAILED else "amber",
    )


def job_alert_chord_lost(*, job: ImportJob) -> None:
    """The stall sweep finished a job whose chord callback never came (its counter was
    lost, e.g. Redis restarted without its data): amber, resolved by the next check
    once the job has no failed chunk."""
    alert_raise(
        kind=KIND_IMPORT_FAILED,
        subject=f"import #{job.id}",
        message=(
            f"Import #{job.id} ({job.dataset}): its chord callback was lost, so the stall "
            f"sweep finished it ({job.get_status_display()}). Check that Redis keeps its "
            "data across restarts (appendonly)."
        ),
        severity="amber",
    )


def chunk_alert_killed_worker(*, job: ImportJob, chunk_index: int, error: str) -> None:
    alert_raise(
        kind=KIND_CHUNK_KILLED_WORKER,
        subject=f"import #{job.id} chunk {chunk_index}",
        message=(
            f"Import #{job.id} ({job.dataset}, {job.original_name or job.file}): chunk "
            f"{chunk_index} {error}. Its rows may exhaust the worker's memory or "
            f"crash it; the rest of the import goes on."
        ),
    )


def inbox_alert_file_failed(*, path: str, exc: Exception) -> None:
    alert_raise(
        kind=KIND_INBOX_FILE_FAILED,
        subject=path,
        message=f"Inbox file {path} could not be taken: {type(exc).__name__}: {exc}",
    )


def inbox_alert_file_taken(*, path: str) -> None:
    """The file a scan could not take was taken: its alert, if any, is over."""
    alert_resolve(kind=KIND_INBOX_FILE_FAILED, subject=path)
