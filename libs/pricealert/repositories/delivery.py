"""The notifier's SQL: claim a notification with a lease, record the outcome, find lost ones.

A claimed notification whose channel is not verified yet (email, SMS) is `held`: kept
in the log, neither sent nor failed, until verifying the channel releases it
(`repositories.verification`); held ones older than `HELD_MAX_AGE` expire.

Every transition is guarded by `status = 'pending'`, so a notification marked
sent (or failed) never changes again and is never delivered again. The lease
keeps two live workers from delivering one notification at once; it expires
by itself when a worker dies, and the sweeper then re-enqueues the notification.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select, text, update

from pricealert.models import Channel, Notification, PriceHistory
from pricealert.repositories.base import Repository
from pricealert.repositories.verification import expired_reason

#: How much earlier than `next_attempt_at` a job may claim (worker clocks differ a little).
CLOCK_TOLERANCE = timedelta(seconds=2)
#: Rows of history drawn in an email's chart at most.
CHART_ROWS = 200


@dataclass(frozen=True, slots=True)
class ClaimedNotification:
    """What a delivery attempt needs of the notification it holds (attempts counts this one)."""

    id: uuid.UUID
    channel_kind: str
    product_id: int | None
    payload: dict[str, Any]
    detected_at: datetime
    created_at: datetime
    attempts: int


@dataclass(frozen=True, slots=True)
class ChannelTarget:
    """Where, and whether, the notification's channel delivers."""

    id: uuid.UUID
    target: str
    secret: str | None
    enabled: bool
    disabled_reason: str | None
    #: False while an email or SMS channel waits for its code: deliveries are held.
    verified: bool = True


@dataclass(frozen=True, slots=True)
class Claimed:
    """A notification this worker now holds, and its channel (None if deleted)."""

    notification: ClaimedNotification
    channel: ChannelTarget | None


#: Lease a pending, due, unleased notification and count the attempt; its channel comes in
#: the same round trip (left join: the channel may have been deleted).
_CLAIM = text(
    """
    WITH claimed AS (
        UPDATE notification
           SET lease_expires_at = :lease_until, attempts = attempts + 1
         WHERE id = ANY(CAST(:ids AS uuid[])) AND status = 'pending' AND next_attempt_at <= :due
           AND (lease_expires_at IS NULL OR lease_expires_at < :now)
        RETURNING id, channel_id, channel_kind, product_id, payload, detected_at, created_at,
                  attempts
    )
    SELECT claimed.*, c.target, c.secret, c.enabled, c.disabled_reason, c.verified_at
      FROM claimed LEFT JOIN channel AS c ON c.id = claimed.channel_id
    """
)

#: pending → held, only while the channel is still unverified. `FOR SHARE` on the channel
#: orders this against verifying it (which updates the channel row first, then releases
#: its held deliveries): a delivery is never left held on a verified channel.
_HOLD = text(
    """
    WITH unverified AS (
        SELECT id FROM channel WHERE id = :channel_id AND verified_at IS NULL FOR SHARE
    )
    UPDATE notification
       SET status = 'held', lease_expires_at = NULL, attempts = greatest(attempts - 1, 0),
           last_error = 'held until the channel is verified'
     WHERE id = :id AND status = 'pending' AND EXISTS (SELECT 1 FROM unverified)
    """
)

#: Held deliveries too old to send any more (their channel was never verified).
_EXPIRE_HELD = text(
    """
    UPDATE notification
       SET status = 'expired', last_error = :reason
     WHERE id IN (SELECT id FROM notification
                   WHERE status = 'held' AND detected_at < :oldest
                   LIMIT :limit FOR UPDATE SKIP LOCKED)
    """
)

_SENT = text(
    """
    UPDATE notification AS n
       SET status = 'sent', sent_at = s.at, last_error = NULL, lease_expires_at = NULL
      FROM unnest(CAST(:ids AS uuid[]), CAST(:ats AS timestamptz[])) AS s(id, at)
     WHERE n.id = s.id AND n.status = 'pending'
    RETURNING n.id
    """
)


class DeliveryRepository(Repository):
    async def claim_many(
        self, notification_ids: Sequence[uuid.UUID], now: datetime, lease: timedelta
    ) -> list[Claimed]:
        """Lease those of these notifications that are pending, due and unleased, and count
        the attempt; one statement. The rest (sent, failed, held by a live worker, not due
        yet) are not returned."""
        params = {
            "ids": list(notification_ids),
            "now": now,
            "due": now + CLOCK_TOLERANCE,
            "lease_until": now + lease,
        }
        claimed = []
        for row in await self.session.execute(_CLAIM, params):
            notification = ClaimedNotification(
                row.id, row.channel_kind, row.product_id, row.payload, row.detected_at,
                row.created_at, row.attempts,
            )  # fmt: skip
            channel = None
            if row.channel_id is not None and row.target is not None:
                channel = ChannelTarget(
                    row.channel_id, row.target, row.secret, row.enabled, row.disabled_reason,
                    verified=row.verified_at is not None,
                )  # fmt: skip
            claimed.append(Claimed(notification, channel))
        return claimed

    async def chart_rows(self, product_id: int) -> list[PriceHistory]:
        """The product's latest history rows, oldest first, for a chart."""
        query = (
            select(PriceHistory)
            .where(PriceHistory.product_id == product_id)
            .order_by(PriceHistory.first_seen_at.desc(), PriceHistory.id.desc())
            .limit(CHART_ROWS)
        )
        rows = list(await self.session.scalars(query))
        rows.reverse()
        return rows

    async def lowest_price(self, product_id: int, currency: str) -> Decimal | None:
        """The lowest price the product ever had in `currency` (the chart's "lowest ever")."""
        return await self.session.scalar(
            select(func.min(PriceHistory.price)).where(
                PriceHistory.product_id == product_id, PriceHistory.currency == currency
            )
        )

    async def mark_sent_many(self, sent: Sequence[tuple[uuid.UUID, datetime]]) -> set[uuid.UUID]:
        """pending → sent for each (id, sent at); returns those that were still pending."""
        if not sent:
            return set()
        rows = await self.session.execute(
            _SENT, {"ids": [i for i, _ in sent], "ats": [at for _, at in sent]}
        )
        return {row.id for row in rows}

    async def mark_failed(self, notification_id: uuid.UUID, reason: str) -> bool:
        """pending → failed, with the reason; False when it was no longer pending."""
        return await self._finish(
            notification_id, status="failed", last_error=reason, lease_expires_at=None
        )

    async def schedule_retry(self, notification_id: uuid.UUID, at: datetime, reason: str) -> bool:
        """Stay pending, due again at `at`, lease released; False when no longer pending."""
        return await self._finish(
            notification_id, next_attempt_at=at, last_error=reason, lease_expires_at=None
        )

    async def disable_channel(self, channel_id: uuid.UUID, reason: str) -> None:
        """Stop using a channel whose endpoint is gone (the user sees why)."""
        await self.session.execute(
            update(Channel)
            .where(Channel.id == channel_id)
            .values(enabled=False, disabled_reason=reason)
            .execution_options(synchronize_session=False)
        )

    async def hold(self, notification_id: uuid.UUID, channel_id: uuid.UUID) -> bool:
        """pending → held while the channel is unverified (the attempt is not counted);
        False when it was no longer pending or the channel has been verified meanwhile."""
        result = await self.session.execute(
            _HOLD, {"id": notification_id, "channel_id": channel_id}
        )
        return bool(getattr(result, "rowcount", 0))

    async def expire_held(self, now: datetime, max_age: timedelta, limit: int) -> int:
        """held → expired for deliveries detected more than `max_age` ago; how many."""
        result = await self.session.execute(
            _EXPIRE_HELD,
            {
                "oldest": now - max_age,
                "reason": expired_reason(max_age),
                "limit": limit,
            },
        )
        return int(getattr(result, "rowcount", 0))

    async def due_unclaimed(
        self, due_before: datetime, now: datetime, limit: int
    ) -> list[uuid.UUID]:
        """Pending notifications due before `due_before` that nobody holds: their job vanished."""
        query = (
            select(Notification.id)
            .where(
                Notification.status == "pending",
                Notification.next_attempt_at <= due_before,
                or_(Notification.lease_expires_at.is_(None), Notification.lease_expires_at < now),
            )
            .order_by(Notification.next_attempt_at)
            .limit(limit)
        )
        return list(await self.session.scalars(query))

    async def _finish(self, notification_id: uuid.UUID, **values: object) -> bool:
        return await self._set_if_pending(Notification.status, notification_id, **values)
