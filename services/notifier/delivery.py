"""One delivery attempt: claim, send, record. At-least-once out, exactly-once in the record.

1. Claim (own transaction): pending, due, unleased → leased for `delivery_lease_seconds`,
   `attempts + 1`. Nothing to claim (sent, failed, held by a live worker, not
   due yet) → the attempt is `skipped`. A channel still waiting for its verification
   code → `held` (not counted as an attempt), until verifying the channel releases it.
2. Send through the channel, outside any transaction.
3. Record (own transaction), guarded by `status = 'pending'`: `sent`; or
   `failed` with the reason (410 also disables the channel); or, for a
   transient failure, `next_attempt_at` = now + backoff (`retry_delay`) and
   the lease released — unless the retry window has passed, then `failed`.

`deliver_many` makes the same attempt at many notifications with shared work: one
statement claims them all, the sends run concurrently, and one statement records every
`sent`; failures and retries are recorded one by one.

A worker killed between 2 and 3 leaves the lease to expire; the sweeper then
re-enqueues the notification and it is sent again (the provider may see it
twice — at-least-once; webhook receivers dedupe on `webhook-id`). Metrics are
counted after each record commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pricealert import metrics
from pricealert.charts import price_chart_png
from pricealert.db import session_scope
from pricealert.logging import get_logger
from pricealert.models import PriceHistory
from pricealert.repositories.delivery import Claimed, DeliveryRepository
from services.notifier.channels import Delivery, DeliveryFailed, Sender, TransientFailure
from services.notifier.settings import NotifierSettings

Outcome = Literal["sent", "retry", "failed", "skipped", "error", "held"]
_log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class EmailChart:
    """What an email's price chart is drawn from."""

    rows: list[PriceHistory]
    lowest: Decimal | None


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


@dataclass(frozen=True, slots=True)
class _Delivered:
    """A send that succeeded, not yet recorded."""

    notification_id: uuid.UUID
    kind: str
    detected_at: datetime
    at: datetime


class Outbox:
    """What sending from an outbox needs: sessions, settings, a sender per channel kind, and
    the randomness of retry jitter (seeded in tests)."""

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


class Notifier(Outbox):
    """Delivers notifications through the senders, keeping the record straight."""

    async def deliver(self, notification_id: uuid.UUID) -> Attempt:
        """Make one attempt at delivering the notification (see the module doc)."""
        claimed = await self._claim([notification_id])
        if notification_id not in claimed:
            return Attempt("skipped")
        attempt = await self._attempt(*claimed[notification_id])
        if isinstance(attempt, _Delivered):
            return (await self._record_sent([attempt]))[0]
        return attempt

    async def deliver_many(
        self, notification_ids: Sequence[uuid.UUID], slots: asyncio.Semaphore
    ) -> dict[uuid.UUID, Attempt]:
        """One attempt at each notification, as `deliver` makes it, sharing the database work:
        one statement claims them all, the sends run concurrently (within `slots`), and one
        statement records every success. Failures and retries are recorded one by one."""
        claimed = await self._claim(notification_ids)
        attempts = {n: Attempt("skipped") for n in notification_ids if n not in claimed}

        async def attempt(notification_id: uuid.UUID) -> Attempt | _Delivered:
            async with slots:
                return await self._attempt(*claimed[notification_id])

        ids = list(claimed)
        # One attempt's error (its record could not be written) must not lose the others'
        # successes: it stays leased, and is tried again once its lease is over.
        results = await asyncio.gather(*(attempt(n) for n in ids), return_exceptions=True)
        delivered = [r for r in results if isinstance(r, _Delivered)]
        recorded = iter(await self._record_sent(delivered))
        for notification_id, result in zip(ids, results, strict=True):
            if isinstance(result, BaseException):
                _log.error("delivery.attempt_failed", notification_id=str(notification_id),
                           exc_info=result)  # fmt: skip
                attempts[notification_id] = Attempt("error", reason=type(result).__name__)
            elif isinstance(result, _Delivered):
                attempts[notification_id] = next(recorded)
            else:
                attempts[notification_id] = result
        return attempts

    async def _claim(
        self, notification_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, tuple[Claimed, EmailChart | None]]:
        """Lease what is due of these notifications; each with its email chart's data, if any."""
        now = datetime.now(UTC)
        claimed: dict[uuid.UUID, tuple[Claimed, EmailChart | None]] = {}
        async with session_scope(self.sessionmaker) as session:
            repo = DeliveryRepository(session)
            lease = timedelta(seconds=self.settings.delivery_lease_seconds)
            for held in await repo.claim_many(notification_ids, now, lease):
                chart = None
                if held.notification.channel_kind == "email":
                    chart = await self._chart(repo, held, now)
                claimed[held.notification.id] = (held, chart)
        return claimed

    async def _attempt(self, claimed: Claimed, chart: EmailChart | None) -> Attempt | _Delivered:
        """Send a claimed notification; a success is returned to be recorded, anything else
        is recorded here."""
        notification, channel = claimed.notification, claimed.channel
        notification_id = notification.id
        kind = notification.channel_kind
        if channel is None or not channel.enabled:
            why = (
                "channel deleted"
                if channel is None
                else f"channel disabled: {channel.disabled_reason}"
            )
            return await self._fail(notification_id, kind, why, None)
        if not channel.verified:
            return await self._hold(notification_id, kind, channel.id)
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
            chart_png=await self._draw(claimed, chart) if chart else None,
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
        return _Delivered(notification_id, kind, notification.detected_at, datetime.now(UTC))

    async def _chart(
        self, repo: DeliveryRepository, claimed: Claimed, now: datetime
    ) -> EmailChart | None:
        """What an email's chart draws (read in the claim's transaction)."""
        product_id = claimed.notification.product_id
        if product_id is None:
            return None
        rows = await repo.chart_rows(product_id)
        currency = next((r.currency for r in reversed(rows) if r.price is not None), None)
        if currency is None:
            return None
        return EmailChart(rows, await repo.lowest_price(product_id, currency))

    async def _draw(self, claimed: Claimed, chart: EmailChart) -> bytes:
        """The chart as PNG (the API's SVG chart, rasterised), drawn in a thread: the event
        loop goes on meanwhile. The alert's own threshold is drawn when it has one."""
        data = claimed.notification.payload.get("data", {})
        alert = data.get("alert", {})
        thresholds = []
        if alert.get("kind") == "below" and alert.get("threshold") is not None:
            with contextlib.suppress(ArithmeticError, ValueError, TypeError):
                thresholds.append(Decimal(str(alert["threshold"])))
        return await asyncio.to_thread(
            price_chart_png,
            chart.rows,
            now=datetime.now(UTC),
            thresholds=thresholds,
            lowest_ever=chart.lowest,
            title=data.get("product", {}).get("title"),
        )

    async def _record_sent(self, delivered: Sequence[_Delivered]) -> list[Attempt]:
        """pending → sent for each, in one statement; the attempts, in order."""
        if not delivered:
            return []
        async with session_scope(self.sessionmaker) as session:
            recorded = await DeliveryRepository(session).mark_sent_many(
                [(d.notification_id, d.at) for d in delivered]
            )
        attempts = []
        for done in delivered:
            notification_id = str(done.notification_id)
            if done.notification_id not in recorded:
                _log.warning("delivery.already_final", notification_id=notification_id)
                attempts.append(Attempt("skipped"))
                continue
            metrics.NOTIFICATIONS.labels(done.kind, "sent").inc()
            metrics.NOTIFICATION_DELAY.labels(done.kind).observe(
                (done.at - done.detected_at).total_seconds()
            )
            _log.info("delivery.sent", notification_id=notification_id, channel=done.kind)
            attempts.append(Attempt("sent"))
        return attempts

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

    async def _hold(self, notification_id: uuid.UUID, kind: str, channel_id: uuid.UUID) -> Attempt:
        """Keep the delivery until its channel is verified; if that just happened, go on."""
        async with session_scope(self.sessionmaker) as session:
            repo = DeliveryRepository(session)
            held = await repo.hold(notification_id, channel_id)
            if not held:
                # Verified since the claim read it: release the lease and try again at once.
                released = await repo.schedule_retry(
                    notification_id, datetime.now(UTC), "channel verified meanwhile"
                )
        if held:
            _log.info("delivery.held", notification_id=str(notification_id), channel=kind)
            return Attempt("held", reason="channel not verified")
        return Attempt("retry" if released else "skipped")

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
