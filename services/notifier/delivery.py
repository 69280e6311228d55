"""One delivery attempt: claim, send, record. At-least-once out, exactly-once in the record.

1. Claim (own transaction): pending, due, unleased → leased for `delivery_lease_seconds`,
   `attempts + 1`. Nothing to claim (sent, failed, held by a live worker, not
   due yet) → the attempt is `skipped`.
2. Send through the channel, outside any transaction.
3. Record (own transaction), guarded by `status = 'pending'`: `sent`; or
   `failed` with the reason (410 also disables the channel); or, for a
   transient failure, `next_attempt_at` = now + backoff (`retry_delay`) and
   the lease released — unless the retry window has passed, then `failed`.

A worker killed between 2 and 3 leaves the lease to expire; the sweeper then
re-enqueues the notification and it is sent again (the provider may see it
twice — at-least-once; webhook receivers dedupe on `webhook-id`). Metrics are
counted after each record commits.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pricealert import metrics
from pricealert.charts import price_chart_svg
from pricealert.db import session_scope
from pricealert.logging import get_logger
from pricealert.repositories.delivery import Claimed, DeliveryRepository
from services.notifier.channels import Delivery, DeliveryFailed, Sender, TransientFailure
from services.notifier.settings import NotifierSettings

Outcome = Literal["sent", "retry", "failed", "skipped"]
_log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Attempt:
    outcome: Outcome
    #: Seconds until the next attempt (retry only).
    retry_in: float = 0.0
    reason: str | None = None


def retry_delay(attempt: int, settings: NotifierSettings, rng: random.Random) -> float:
    """Exponential backoff with equal jitter: half of base × 2^(attempt−1) fixed, half random."""
    ceiling = min(
        settings.retry_max_delay_seconds, settings.retry_base_seconds * 2 ** (attempt - 1)
    )
    return float(ceiling / 2 + rng.uniform(0, ceiling / 2))


class Notifier:
    """Delivers notifications through the senders, keeping the record straight."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: NotifierSettings,
        senders: dict[str, Sender],
        rng: random.Random | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.senders = senders
        self.rng = rng or random.Random()

    async def deliver(self, notification_id: uuid.UUID) -> Attempt:
        """Make one attempt at delivering the notification (see the module doc)."""
        now = datetime.now(UTC)
        async with session_scope(self.sessionmaker) as session:
            repo = DeliveryRepository(session)
            claimed = await repo.claim(
                notification_id, now, timedelta(seconds=self.settings.delivery_lease_seconds)
            )
            chart = None
            if claimed is not None and claimed.notification.channel_kind == "email":
                chart = await self._chart(repo, claimed, now)
        if claimed is None:
            return Attempt("skipped")
        notification, channel = claimed.notification, claimed.channel
        kind = notification.channel_kind
        if channel is None or not channel.enabled:
            why = (
                "channel deleted"
                if channel is None
                else f"channel disabled: {channel.disabled_reason}"
            )
            return await self._fail(notification_id, kind, why, None)
        sender = self.senders.get(kind)
        if sender is None:
            return await self._fail(
                notification_id, kind, f"no sender for channel kind {kind!r}", None
            )
        delivery = Delivery(
            notification_id=notification.id,
            channel_kind=kind,
            target=channel.target,
            secret=channel.secret,
            payload=notification.payload,
            detected_at=notification.detected_at,
            attempt=notification.attempts,
            chart_svg=chart,
        )
        try:
            await sender.send(delivery)
        except DeliveryFailed as exc:
            if not exc.transient:
                disable = channel.id if exc.disable_channel else None
                return await self._fail(notification_id, kind, exc.reason, disable)
            return await self._retry(claimed, exc)
        except Exception as exc:  # a bug or an unforeseen library error: retry, never lose it
            _log.exception("delivery.unexpected_error", notification_id=str(notification_id))
            return await self._retry(claimed, TransientFailure(f"{type(exc).__name__}: {exc}"))
        return await self._sent(notification_id, kind, notification.detected_at)

    async def _chart(self, repo: DeliveryRepository, claimed: Claimed, now: datetime) -> str | None:
        product_id = claimed.notification.product_id
        if product_id is None:
            return None
        rows = await repo.chart_rows(product_id)
        title = claimed.notification.payload.get("data", {}).get("product", {}).get("title")
        return price_chart_svg(rows, now=now, title=title) if rows else None

    async def _sent(self, notification_id: uuid.UUID, kind: str, detected_at: datetime) -> Attempt:
        now = datetime.now(UTC)
        async with session_scope(self.sessionmaker) as session:
            recorded = await DeliveryRepository(session).mark_sent(notification_id, now)
        if not recorded:
            _log.warning("delivery.already_final", notification_id=str(notification_id))
            return Attempt("skipped")
        metrics.NOTIFICATIONS.labels(kind, "sent").inc()
        metrics.NOTIFICATION_DELAY.labels(kind).observe((now - detected_at).total_seconds())
        _log.info("delivery.sent", notification_id=str(notification_id), channel=kind)
        return Attempt("sent")

    async def _fail(
        self, notification_id: uuid.UUID, kind: str, reason: str, disable: uuid.UUID | None
    ) -> Attempt:
        async with session_scope(self.sessionmaker) as session:
            repo = DeliveryRepository(session)
            recorded = await repo.mark_failed(notification_id, reason)
            if recorded and disable is not None:
                await repo.disable_channel(disable, reason)
        if recorded:
            metrics.NOTIFICATIONS.labels(kind, "failed").inc()
            _log.warning(
                "delivery.failed", notification_id=str(notification_id), channel=kind, reason=reason
            )
        return Attempt("failed" if recorded else "skipped", reason=reason)

    async def _retry(self, claimed: Claimed, failure: DeliveryFailed) -> Attempt:
        notification = claimed.notification
        now = datetime.now(UTC)
        delay = retry_delay(notification.attempts, self.settings, self.rng)
        if failure.retry_after is not None:
            delay = min(max(delay, failure.retry_after), self.settings.retry_max_delay_seconds)
        next_at = now + timedelta(seconds=delay)
        window_ends = notification.created_at + timedelta(
            seconds=self.settings.retry_window_seconds
        )
        if next_at > window_ends:
            reason = f"gave up after {notification.attempts} attempts: {failure.reason}"
            return await self._fail(notification.id, notification.channel_kind, reason, None)
        async with session_scope(self.sessionmaker) as session:
            recorded = await DeliveryRepository(session).schedule_retry(
                notification.id, next_at, failure.reason
            )
        if not recorded:
            return Attempt("skipped")
        metrics.NOTIFICATIONS.labels(notification.channel_kind, "retry").inc()
        _log.info(
            "delivery.retry",
            notification_id=str(notification.id),
            channel=notification.channel_kind,
            attempt=notification.attempts,
            retry_in=round(delay, 1),
            reason=failure.reason,
        )
        return Attempt("retry", retry_in=delay, reason=failure.reason)
