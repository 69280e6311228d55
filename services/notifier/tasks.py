"""The notifier's jobs (thin): a delivery attempt per notification — one job for one, or one
job for what an evaluation created — one-time tokens' messages, and the sweepers.

A transient failure is first recorded in PostgreSQL (`next_attempt_at`); the
job then raises arq's `Retry` deferred to that time, for its first
`job_retries` tries. Later retries (minutes to an hour apart) are left to the
sweeper, which re-enqueues every pending notification that is due and
unleased — the same path that recovers jobs lost to a Redis flush or a killed
worker. PostgreSQL holds the schedule; Redis only carries the next nudge.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from arq import Retry

from pricealert.db import session_scope
from pricealert.logging import get_logger
from pricealert.queues import (
    DeliverNotification,
    DeliverNotifications,
    SendOneTimeToken,
    enqueue,
)
from pricealert.repositories.delivery import DeliveryRepository
from pricealert.repositories.tokens import TokenRepository
from pricealert.repositories.verification import HELD_MAX_AGE
from pricealert.worker import JobContext
from services.notifier.delivery import Attempt, Notifier
from services.notifier.settings import NotifierSettings
from services.notifier.tokens import TokenSender

_log = get_logger(__name__)


async def _attempt(
    ctx: JobContext,
    raw_id: str,
    send: Callable[[uuid.UUID], Awaitable[Attempt]],
    *,
    invalid_event: str,
    id_field: str,
) -> str:
    """One attempt at sending the row `raw_id` names; returns its outcome ("invalid" when the
    id is not a UUID). A retry raises arq's `Retry` to the recorded time for the first
    `job_retries` tries; later ones are the sweeper's."""
    try:
        row_id = uuid.UUID(raw_id)
    except ValueError:
        _log.error(invalid_event, **{id_field: raw_id})
        return "invalid"
    settings: NotifierSettings = ctx["settings"]
    attempt = await send(row_id)
    if attempt.outcome == "retry" and int(ctx.get("job_try") or 1) <= settings.job_retries:
        raise Retry(defer=attempt.retry_in)
    return attempt.outcome


async def deliver_notification(ctx: JobContext, job: DeliverNotification) -> str:
    """One delivery attempt; returns its outcome (sent, retry, failed, skipped)."""
    notifier: Notifier = ctx["notifier"]
    return await _attempt(
        ctx,
        job.notification_id,
        notifier.deliver,
        invalid_event="delivery.invalid_id",
        id_field="notification_id",
    )


async def deliver_notifications(ctx: JobContext, job: DeliverNotifications) -> dict[str, int]:
    """Deliver an evaluation's notifications together (`Notifier.deliver_many`: one claim,
    concurrent sends within the worker's slots, one record of the successes); returns how
    many had each outcome.

    A transient failure is recorded in PostgreSQL as for a single job, and its retry is
    queued as a single `DeliverNotification` deferred to the recorded time (its later
    retries are that job's, then the sweeper's).
    """
    notifier: Notifier = ctx["notifier"]
    settings: NotifierSettings = ctx["settings"]
    slots: asyncio.Semaphore = ctx.setdefault(
        "delivery_slots", asyncio.Semaphore(settings.worker_concurrency)
    )
    outcomes: Counter[str] = Counter()
    ids = []
    for raw_id in job.notification_ids:
        try:
            ids.append(uuid.UUID(raw_id))
        except ValueError:
            _log.error("delivery.invalid_id", notification_id=raw_id)
            outcomes["invalid"] += 1
    attempts = await notifier.deliver_many(ids, slots)
    for notification_id, attempt in attempts.items():
        outcomes[attempt.outcome] += 1
        if attempt.outcome == "retry":
            await enqueue(
                ctx["redis"],
                DeliverNotification(notification_id=str(notification_id)),
                defer_seconds=attempt.retry_in,
            )
    return dict(outcomes)


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


async def send_one_time_token(ctx: JobContext, job: SendOneTimeToken) -> str:
    """Send a verification code or recovery token (`TokenSender.send`); returns its outcome."""
    sender: TokenSender = ctx["token_sender"]
    return await _attempt(
        ctx, job.token_id, sender.send, invalid_event="token.invalid_id", id_field="token_id"
    )


async def sweep_unsent_tokens(ctx: JobContext) -> int:
    """Re-enqueue the messages of live tokens still unsent and unleased (their job was lost);
    returns how many."""
    settings: NotifierSettings = ctx["settings"]
    now = datetime.now(UTC)
    created_before = now - timedelta(seconds=settings.sweep_grace_seconds)
    async with session_scope(ctx["sessionmaker"]) as session:
        lost = await TokenRepository(session).unsent(created_before, now, settings.sweep_batch_size)
    queued = 0
    for token_id in lost:
        queued += await enqueue(ctx["redis"], SendOneTimeToken(token_id=str(token_id)))
    if queued:
        _log.warning("token.swept", unsent=len(lost), enqueued=queued)
    return queued


async def expire_held(ctx: JobContext) -> int:
    """Held deliveries whose channel was not verified within `HELD_MAX_AGE` → expired."""
    settings: NotifierSettings = ctx["settings"]
    async with session_scope(ctx["sessionmaker"]) as session:
        expired = await DeliveryRepository(session).expire_held(
            datetime.now(UTC), HELD_MAX_AGE, settings.sweep_batch_size
        )
    if expired:
        _log.info("delivery.held_expired", expired=expired)
    return expired


#: Expired tokens are kept this long (who asked for what, for support), then deleted.
TOKEN_RETENTION = timedelta(days=7)


async def purge_tokens(ctx: JobContext) -> int:
    """Delete one-time tokens that expired more than `TOKEN_RETENTION` ago; how many."""
    settings: NotifierSettings = ctx["settings"]
    async with session_scope(ctx["sessionmaker"]) as session:
        purged = await TokenRepository(session).purge(
            datetime.now(UTC) - TOKEN_RETENTION, settings.sweep_batch_size
        )
    if purged:
        _log.info("token.purged", purged=purged)
    return purged
