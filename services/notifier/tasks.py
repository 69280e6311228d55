"""The notifier's jobs (thin): one delivery attempt per job, and the sweeper.

A transient failure is first recorded in PostgreSQL (`next_attempt_at`); the
job then raises arq's `Retry` deferred to that time, for its first
`job_retries` tries. Later retries (minutes to an hour apart) are left to the
sweeper, which re-enqueues every pending notification that is due and
unleased — the same path that recovers jobs lost to a Redis flush or a killed
worker. PostgreSQL holds the schedule; Redis only carries the next nudge.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from arq import Retry

from pricealert.db import session_scope
from pricealert.logging import get_logger
from pricealert.queues import DeliverNotification, enqueue
from pricealert.repositories.delivery import DeliveryRepository
from pricealert.worker import JobContext
from services.notifier.delivery import Notifier
from services.notifier.settings import NotifierSettings

_log = get_logger(__name__)


async def deliver_notification(ctx: JobContext, job: DeliverNotification) -> str:
    """One delivery attempt; returns its outcome (sent, retry, failed, skipped)."""
    try:
        notification_id = uuid.UUID(job.notification_id)
    except ValueError:
        _log.error("delivery.invalid_id", notification_id=job.notification_id)
        return "invalid"
    notifier: Notifier = ctx["notifier"]
    settings: NotifierSettings = ctx["settings"]
    attempt = await notifier.deliver(notification_id)
    if attempt.outcome == "retry" and int(ctx.get("job_try") or 1) <= settings.job_retries:
        raise Retry(defer=attempt.retry_in)
    return attempt.outcome


async def sweep_pending(ctx: JobContext) -> int:
    """Re-enqueue pending notifications that are due but held by no job; returns how many."""
    settings: NotifierSettings = ctx["settings"]
    now = datetime.now(UTC)
    due_before = now - timedelta(seconds=settings.sweep_grace_seconds)
    async with session_scope(ctx["sessionmaker"]) as session:
        lost = await DeliveryRepository(session).due_unclaimed(
            due_before, now, settings.sweep_batch_size
        )
    queued = 0
    for notification_id in lost:
        queued += await enqueue(
            ctx["redis"], DeliverNotification(notification_id=str(notification_id))
        )
    if queued:
        _log.warning("delivery.swept", due=len(lost), enqueued=queued)
    return queued
