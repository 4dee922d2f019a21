"""Writes for ops: alerts (open once, touch, resolve, acknowledge), heartbeats, checks."""

from __future__ import annotations

import logging

import sentry_sdk
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from ops.models import Alert

logger = logging.getLogger(__name__)


def _notify(*, alert_id: int, event: str) -> None:
    """Email ops and tell Sentry; runs after commit, in the process that saw the change.

    Deliberately not a Celery task: the alert may be about the very queue the task
    would wait in.
    """
    alert = Alert.objects.filter(id=alert_id).first()
    if alert is None:
        return
    verb = "RESOLVED" if event == "resolved" else f"OPEN {alert.severity.upper()}"
    subject = f"[ops] {verb}: {alert.kind} {alert.subject}"
    body = (
        f"{verb}: {alert.kind} on {alert.subject}\n\n{alert.message}\n\n"
        f"first seen {alert.first_seen_at:%Y-%m-%d %H:%M:%S %Z}, "
        f"last seen {alert.last_seen_at:%Y-%m-%d %H:%M:%S %Z}"
        + (f", resolved {alert.resolved_at:%Y-%m-%d %H:%M:%S %Z}" if alert.resolved_at else "")
    )
    level = "info" if event == "resolved" else ("error" if alert.severity == "red" else "warning")
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("ops.alert_kind", alert.kind)
        scope.set_tag("ops.alert_subject", alert.subject)
        scope.set_tag("ops.alert_event", event)
        # One Sentry issue per condition, not one per message wording.
        scope.fingerprint = ["ops-alert", alert.kind, alert.subject, event]
        sentry_sdk.capture_message(subject, level=level)
    if settings.OPS_ALERT_EMAIL:
        try:
            send_mail(subject, body, None, list(settings.OPS_ALERT_EMAIL))
        except Exception:
            # Never lose the fact that ops were not told; the alert row stays open.
            logger.exception("could not email ops alert %s", subject)
            sentry_sdk.capture_exception()


def alert_raise(*, kind: str, subject: str, message: str, severity: str = "red") -> Alert:
    """Open the alert for (kind, subject), or touch it (last_seen_at) if already open.

    Race-safe: the partial unique constraint refuses a second open row, and the loser
    of an insert race updates the winner's row instead.
    """
    now = timezone.now()
    for _attempt in range(3):
        with transaction.atomic():
            alert = (
                Alert.objects.select_for_update()
                .filter(kind=kind, subject=subject, status=Alert.Status.OPEN)
                .first()
            )
            if alert is not None:
                alert.last_seen_at = now
                alert.message = message
                escalated = alert.severity != severity
                alert.severity = severity
                alert.save(update_fields=["last_seen_at", "message", "severity"])
                if escalated and severity == Alert.Severity.RED:
                    transaction.on_commit(lambda a=alert.id: _notify(alert_id=a, event="opened"))
                return alert
            try:
                with transaction.atomic():
                    alert = Alert.objects.create(
                        kind=kind,
                        subject=subject,
                        message=message,
                        severity=severity,
                        status=Alert.Status.OPEN,
                        first_seen_at=now,
                        last_seen_at=now,
                    )
            except IntegrityError:
                continue  # someone else opened it between our read and insert
            transaction.on_commit(lambda a=alert.id: _notify(alert_id=a, event="opened"))
            return alert
    raise RuntimeError(f"could not open or find the open alert {kind} {subject}")


@transaction.atomic
def alert_resolve(*, kind: str, subject: str) -> bool:
    """Resolve the open alert for (kind, subject); False when none was open."""
    alert = (
        Alert.objects.select_for_update()
        .filter(kind=kind, subject=subject, status=Alert.Status.OPEN)
        .first()
    )
    if alert is None:
        return False
    alert.status = Alert.Status.RESOLVED
    alert.resolved_at = timezone.now()
    alert.save(update_fields=["status", "resolved_at"])
    transaction.on_commit(lambda: _notify(alert_id=alert.id, event="resolved"))
    return True


@transaction.atomic
def alert_acknowledge(*, alert_ids: list[int], user_id: int) -> int:
    """Mark open, unacknowledged alerts as seen by `user_id`; returns how many changed."""
    return Alert.objects.filter(
        id__in=alert_ids, status=Alert.Status.OPEN, acknowledged_at__isnull=True
    ).update(acknowledged_by_id=user_id, acknowledged_at=timezone.now())


def alerts_reconcile(*, kinds: set[str], firing: dict[tuple[str, str], tuple[str, str]]) -> None:
    """Make the open alerts of `kinds` match `firing` {(kind, subject): (severity, message)}."""
    for (kind, subject), (severity, message) in firing.items():
        alert_raise(kind=kind, subject=subject, message=message, severity=severity)
    stale = (
        Alert.objects.filter(kind__in=kinds, status=Alert.Status.OPEN)
        .values_list("kind", "subject")
        .order_by()
    )
    for kind, subject in list(stale):
        if (kind, subject) not in firing:
            alert_resolve(kind=kind, subject=subject)
