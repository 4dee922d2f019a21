"""Writes for ops: alerts (open once, touch, resolve, acknowledge), heartbeats, checks."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Literal

import redis
import sentry_sdk
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from common.display import duration_display
from ops import state
from ops.conditions import PlatformStatus, platform_status
from ops.models import Alert, Heartbeat, QueueSample

logger = logging.getLogger(__name__)


def _email_body(alert: Alert, *, event: str, verb: str) -> str:
    """What happened, the first step apart (opened), how long it lasted (resolved), and
    absolute links to the alert and the dashboard."""
    what, _, first_step = alert.message.partition(" First step: ")
    lines = [f"{verb}: {alert.kind_label} ({alert.kind}) on {alert.subject}", ""]
    if event == "resolved":
        lines += [f"It was: {what}", ""]
    else:
        lines += [what, ""] + ([f"First step: {first_step}", ""] if first_step else [])
    lines += [
        f"first seen {alert.first_seen_at:%Y-%m-%d %H:%M:%S %Z}, "
        f"last seen {alert.last_seen_at:%Y-%m-%d %H:%M:%S %Z}, "
        f"raised {alert.occurrences} time(s)"
        + (f", resolved {alert.resolved_at:%Y-%m-%d %H:%M:%S %Z}" if alert.resolved_at else ""),
    ]
    if alert.resolved_at:
        lasted = duration_display(alert.resolved_at - alert.first_seen_at)
        lines += ["", f"It lasted {lasted}."]
        if alert.resolved_by is not None:
            lines.append(f"Resolved by hand by {alert.resolved_by}: {alert.resolution_note}")
        else:
            lines.append("Its condition cleared.")
    lines += [
        "",
        f"The alert: {site_url(reverse('admin:ops_alert_change', args=[alert.id]))}",
        f"The ops dashboard: {site_url(reverse('admin:ops_dashboard_changelist'))}",
    ]
    return "\n".join(lines)


def _notify(*, alert_id: int, event: str) -> None:
    """Email ops and tell Sentry; runs after commit, in the process that saw the change.

    Deliberately not a Celery task: the alert may be about the very queue the task
    would wait in.
    """
    alert = Alert.objects.select_related("resolved_by").filter(id=alert_id).first()
    if alert is None:
        return
    verb = "RESOLVED" if event == "resolved" else f"OPEN {alert.severity.upper()}"
    subject = f"[ops] {verb}: {alert.kind} {alert.subject}"
    body = _email_body(alert, event=event, verb=verb)
    level: Literal["info", "error", "warning"] = (
        "info" if event == "resolved" else ("error" if alert.severity == "red" else "warning")
    )
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
            # Never lose the fact that ops were not told (logged as an error, so Sentry
            # gets it too); the alert row stays open.
            logger.exception("could not email ops alert %s", subject)


def site_url(path: str) -> str:
    """`path` as an absolute URL on the site people reach (SITE_URL), for emails."""
    return settings.SITE_URL.rstrip("/") + path


def alert_raise(
    *, kind: str, subject: str, message: str, severity: str = "red", occurrence: bool = True
) -> Alert:
    """Open the alert for (kind, subject), or fold this into the one already open.

    A repeat counts one more occurrence and moves last_seen_at; the checks loop, which
    re-reads a standing condition every interval, passes occurrence=False (still seen,
    not seen again). Race-safe: the partial unique constraint refuses a second open
    row, and the loser of an insert race updates the winner's row instead.
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
                escalated = alert.severity != severity and severity == Alert.Severity.RED
                alert.last_seen_at = now
                alert.message = message
                alert.severity = severity
                alert.occurrences += 1 if occurrence else 0
                alert.save(update_fields=["last_seen_at", "message", "severity", "occurrences"])
                if escalated:
                    transaction.on_commit(partial(_notify, alert_id=alert.id, event="opened"))
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
            transaction.on_commit(partial(_notify, alert_id=alert.id, event="opened"))
            return alert
    raise RuntimeError(f"could not open or find the open alert {kind} {subject}")


def _resolve(alert: Alert, *, user_id: int | None = None, note: str = "") -> None:
    alert.status = Alert.Status.RESOLVED
    alert.resolved_at = timezone.now()
    alert.resolved_by_id = user_id
    alert.resolution_note = note
    alert.save(update_fields=["status", "resolved_at", "resolved_by", "resolution_note"])
    transaction.on_commit(partial(_notify, alert_id=alert.id, event="resolved"))


@transaction.atomic
def alert_resolve(*, kind: str, subject: str) -> bool:
    """Resolve the open alert for (kind, subject): its condition cleared. False when
    none was open."""
    alert = (
        Alert.objects.select_for_update()
        .filter(kind=kind, subject=subject, status=Alert.Status.OPEN)
        .first()
    )
    if alert is None:
        return False
    _resolve(alert)
    return True


@transaction.atomic
def alerts_resolve_by_hand(*, alert_ids: list[int], user_id: int, note: str) -> int:
    """A person resolves open alerts, saying why; returns how many were open.

    A condition that still holds opens a new alert at the next check (or the next
    time the app raises it): resolving by hand is for alerts whose condition cannot
    be seen clearing (a fixed report recipient, a file removed by hand, ...).
    """
    note = note.strip()
    if not note:
        raise ValueError("resolving an alert by hand needs a note saying why")
    alerts = list(
        Alert.objects.select_for_update()
        .filter(id__in=alert_ids, status=Alert.Status.OPEN)
        .order_by("id")
    )
    for alert in alerts:
        _resolve(alert, user_id=user_id, note=note)
    return len(alerts)


@transaction.atomic
def alert_acknowledge(*, alert_ids: list[int], user_id: int) -> int:
    """Mark open, unacknowledged alerts as seen by `user_id`; returns how many changed."""
    return Alert.objects.filter(
        id__in=alert_ids, status=Alert.Status.OPEN, acknowledged_at__isnull=True
    ).update(acknowledged_by_id=user_id, acknowledged_at=timezone.now())


def alerts_reconcile(
    *,
    kinds: set[str],
    firing: dict[tuple[str, str], tuple[str, str]],
    cleared: Collection[tuple[str, str]] = (),
) -> None:
    """Make the open alerts of `kinds` match `firing` {(kind, subject): (severity, message)},
    and resolve the app-raised alerts in `cleared` (their condition no longer holds)."""
    for (kind, subject), (severity, message) in firing.items():
        alert_raise(
            kind=kind, subject=subject, message=message, severity=severity, occurrence=False
        )
    stale = (
        Alert.objects.filter(kind__in=kinds, status=Alert.Status.OPEN)
        .values_list("kind", "subject")
        .order_by()
    )
    for kind, subject in sorted({*stale, *cleared}):
        if (kind, subject) not in firing:
            alert_resolve(kind=kind, subject=subject)


@dataclass(frozen=True)
class HeartbeatClaim:
    sent_at: float
    expires: int  # seconds; the message and the claim both lapse then


def heartbeat_send_claim(*, queue: str) -> HeartbeatClaim | None:
    """Beat is about to send `queue` a heartbeat: record the beat tick and claim the
    queue's one outstanding slot; None (send nothing) while the previous one waits.
    """
    sent_at = state.now_ts()
    expires = settings.OPS_HEARTBEAT_INTERVAL * 2
    redis_client = state.client()
    redis_client.set(state.BEAT_TICK, sent_at)
    if not redis_client.set(state.heartbeat_outstanding_key(queue), sent_at, nx=True, ex=expires):
        # The previous heartbeat is still waiting in the queue; sending another
        # would only add to the pile the stall already made.
        return None
    return HeartbeatClaim(sent_at=sent_at, expires=expires)


def heartbeat_record(
    *,
    queue: str,
    celery_task_id: str,
    sent_at_ts: float | None,
    started_at_ts: float,
    worker: str,
) -> Heartbeat:
    """Store a started heartbeat (once per message) and publish it as the queue's latest."""
    started_at = datetime.fromtimestamp(started_at_ts, tz=UTC)
    sent_at = datetime.fromtimestamp(sent_at_ts, tz=UTC) if sent_at_ts else started_at
    latency = max(0.0, (started_at - sent_at).total_seconds())
    beat, _ = Heartbeat.objects.get_or_create(
        celery_task_id=celery_task_id,
        defaults={
            "queue": queue,
            "sent_at": sent_at,
            "started_at": started_at,
            "latency": latency,
            "worker": worker,
        },
    )
    redis_client = state.client()
    pipe = redis_client.pipeline()
    pipe.set(
        state.heartbeat_last_key(queue),
        json.dumps({"started_at": started_at_ts, "latency": latency, "worker": worker}),
    )
    pipe.delete(state.heartbeat_outstanding_key(queue))
    pipe.execute()
    return beat


def ops_checks_run(*, status: PlatformStatus | None = None) -> PlatformStatus:
    """Evaluate every condition, record queue samples, open and resolve alerts to match."""
    status = status or platform_status()
    QueueSample.objects.bulk_create(
        [
            QueueSample(
                queue=queue.name,
                sampled_at=status.checked_at,
                depth=queue.depth,
                consumers=None if queue.consumers is None else len(queue.consumers),
            )
            for queue in status.queues
            if queue.depth is not None
        ]
    )
    alerts_reconcile(kinds=status.evaluated_kinds, firing=status.conditions, cleared=status.cleared)
    # What the pages read to know the open alerts are current. With Redis down there is
    # nowhere to write it, and the checks just opened the alert that says so.
    with contextlib.suppress(redis.RedisError):
        state.client().set(state.CHECKS_LAST, status.checked_at.timestamp())
    return status


def ops_history_prune(*, now: datetime | None = None) -> dict[str, int]:
    """Delete measurements and resolved alerts older than OPS_HISTORY_DAYS; idempotent."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.OPS_HISTORY_DAYS)
    deleted = {
        "heartbeats": Heartbeat.objects.filter(started_at__lt=cutoff).delete()[0],
        "samples": QueueSample.objects.filter(sampled_at__lt=cutoff).delete()[0],
        "alerts": Alert.objects.filter(
            status=Alert.Status.RESOLVED, resolved_at__lt=cutoff
        ).delete()[0],
    }
    return deleted
