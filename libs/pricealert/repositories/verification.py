"""Verified addresses: what a redeemed code proves, and the deliveries it releases.

A code sent to an address proves the user reads it, whichever object asked for the
code: verifying `me@example.com` (through sign-up or an email channel) verifies the
user's email if it is that address, and every email channel of theirs with that target;
an SMS code verifies every SMS channel of theirs to that number. Verifying a channel
releases its held deliveries (`release_held`).

Lock order against the notifier's `DeliveryRepository.hold`: the channel row first
(`UPDATE channel`), then its notifications; `hold` takes the channel `FOR SHARE` before
holding a notification, so a delivery is never held after its channel was verified.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import exists, select, text, update

from pricealert.models import Channel, User
from pricealert.repositories.base import Repository

#: A held delivery detected longer ago than this is not sent when its channel is verified
#: (nor kept waiting for ever): it is recorded `expired`. A price alert a day old is
#: stale (the price has likely moved again; daily caps have turned over), and sending a
#: burst of old alerts to a newly verified address helps nobody.
HELD_MAX_AGE: Final = timedelta(hours=24)


def expired_reason(max_age: timedelta) -> str:
    """Why a held delivery was not sent: the delivery log's `last_error`."""
    hours = int(max_age.total_seconds() // 3600)
    return f"expired: held more than {hours} h waiting for the channel to be verified"


@dataclass(frozen=True, slots=True)
class Released:
    """Held deliveries of verified channels: now pending (to enqueue), or expired."""

    pending: list[uuid.UUID]
    expired: int


_RELEASE = text(
    """
    UPDATE notification
       SET status = CASE WHEN detected_at >= :oldest THEN 'pending' ELSE 'expired' END,
           last_error = CASE WHEN detected_at >= :oldest THEN NULL ELSE :reason END,
           next_attempt_at = :now, lease_expires_at = NULL
     WHERE channel_id = ANY(CAST(:channel_ids AS uuid[])) AND status = 'held'
    RETURNING id, status
    """
)


class VerificationRepository(Repository):
    async def is_verified(self, user_id: uuid.UUID, via: str, address: str) -> bool:
        """Whether the user already proved `address` (their verified email, or a verified
        channel of that kind and target)."""
        channel = exists().where(
            Channel.user_id == user_id,
            Channel.kind == via,
            Channel.target == address,
            Channel.verified_at.is_not(None),
        )
        query = select(channel)
        if via == "email":
            user = exists().where(
                User.id == user_id, User.email == address, User.email_verified_at.is_not(None)
            )
            query = select(channel | user)
        return bool(await self.session.scalar(query))

    async def verify_address(
        self, user_id: uuid.UUID, via: str, address: str, now: datetime
    ) -> list[uuid.UUID]:
        """Mark `address` proven for the user: their matching channels (returned: the ones
        newly verified) and, for email, their own address."""
        rows = await self.session.execute(
            update(Channel)
            .where(
                Channel.user_id == user_id,
                Channel.kind == via,
                Channel.target == address,
                Channel.verified_at.is_(None),
            )
            .values(verified_at=now)
            .returning(Channel.id)
            .execution_options(synchronize_session=False)
        )
        verified = [row.id for row in rows]
        if via == "email":
            await self.session.execute(
                update(User)
                .where(User.id == user_id, User.email == address, User.email_verified_at.is_(None))
                .values(email_verified_at=now)
                .execution_options(synchronize_session=False)
            )
        return verified

    async def release_held(
        self, channel_ids: Sequence[uuid.UUID], now: datetime, max_age: timedelta = HELD_MAX_AGE
    ) -> Released:
        """held → pending (due now) for these channels' deliveries detected within
        `max_age`; older ones → expired, with the reason."""
        if not channel_ids:
            return Released([], 0)
        rows = await self.session.execute(
            _RELEASE,
            {
                "channel_ids": list(channel_ids),
                "oldest": now - max_age,
                "reason": expired_reason(max_age),
                "now": now,
            },
        )
        pending, expired = [], 0
        for row in rows:
            if row.status == "pending":
                pending.append(row.id)
            else:
                expired += 1
        return Released(pending, expired)
