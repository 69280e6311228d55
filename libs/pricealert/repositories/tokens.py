"""One-time tokens: issue, send (the outbox the notifier works from), redeem, purge.

Issuing retires the user's earlier live tokens for the same purpose (and channel): only
the newest code works. Redeeming locks the row (`FOR UPDATE`), so concurrent guesses are
counted one by one and a token is used at most once. Sending is guarded like the
delivery log: claimed under a lease, recorded `sent` or `failed` only from `pending`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy import Select, delete, or_, select, text, update

from pricealert.models import OneTimeToken
from pricealert.repositories.base import Repository
from pricealert.repositories.delivery import CLOCK_TOLERANCE
from pricealert.tokens import MAX_FAILED_ATTEMPTS, TOKEN_TTL, secret_matches


class Redeemed(Enum):
    """What became of a secret brought to a token."""

    OK = "ok"
    WRONG = "wrong"  # counted; attempts remain
    EXHAUSTED = "exhausted"  # that was the last attempt, or none were left
    EXPIRED = "expired"
    NONE = "none"  # no live token (never issued, used, replaced)


@dataclass(frozen=True, slots=True)
class Redemption:
    outcome: Redeemed
    token: OneTimeToken | None = None
    attempts_left: int = 0


@dataclass(frozen=True, slots=True)
class TokenToSend:
    """A token the notifier now holds for sending (attempt counts this one)."""

    id: uuid.UUID
    purpose: str
    user_id: uuid.UUID
    channel_id: uuid.UUID | None
    via: str
    address: str
    expires_at: datetime
    created_at: datetime
    attempt: int


#: Lease a token still to send (live, unleased). `send_lease_expires_at` is also the time
#: of the next attempt after a transient failure: nobody sends before it (less a little
#: clock tolerance, as for deliveries).
_CLAIM = text(
    """
    UPDATE one_time_token
       SET send_lease_expires_at = :lease_until, send_attempts = send_attempts + 1
     WHERE id = :id AND send_status = 'pending' AND used_at IS NULL AND revoked_at IS NULL
       AND expires_at > :now
       AND (send_lease_expires_at IS NULL OR send_lease_expires_at <= :due)
    RETURNING id, purpose, user_id, channel_id, via, address, expires_at, created_at,
              send_attempts
    """
)


class TokenRepository(Repository):
    async def issue(
        self,
        *,
        purpose: str,
        user_id: uuid.UUID,
        via: str,
        address: str,
        now: datetime,
        channel_id: uuid.UUID | None = None,
        ttl: timedelta = TOKEN_TTL,
    ) -> OneTimeToken:
        """A new token to send to `address`; the user's live ones for the same purpose (and
        channel) are retired."""
        await self.session.execute(
            update(OneTimeToken)
            .where(
                OneTimeToken.user_id == user_id,
                OneTimeToken.purpose == purpose,
                OneTimeToken.channel_id.is_(None)
                if channel_id is None
                else OneTimeToken.channel_id == channel_id,
                OneTimeToken.used_at.is_(None),
                OneTimeToken.revoked_at.is_(None),
            )
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
        token = OneTimeToken(
            purpose=purpose,
            user_id=user_id,
            channel_id=channel_id,
            via=via,
            address=address,
            expires_at=now + ttl,
            created_at=now,
        )
        self.session.add(token)
        await self.session.flush()
        return token

    async def latest(
        self, user_id: uuid.UUID, purpose: str, channel_id: uuid.UUID | None = None
    ) -> OneTimeToken | None:
        """The newest token of this user for `purpose` (and channel), whatever its state."""
        return await self.session.scalar(self._newest(user_id, purpose, channel_id))

    @staticmethod
    def _newest(
        user_id: uuid.UUID, purpose: str, channel_id: uuid.UUID | None
    ) -> Select[OneTimeToken]:
        query = select(OneTimeToken).where(
            OneTimeToken.user_id == user_id, OneTimeToken.purpose == purpose
        )
        if channel_id is not None:
            query = query.where(OneTimeToken.channel_id == channel_id)
        return query.order_by(OneTimeToken.created_at.desc(), OneTimeToken.id.desc()).limit(1)

    async def redeem_code(
        self,
        user_id: uuid.UUID,
        purpose: str,
        code: str,
        now: datetime,
        channel_id: uuid.UUID | None = None,
    ) -> Redemption:
        """Check `code` against the user's newest token for `purpose` (and channel), counting
        a wrong one; a right one uses the token."""
        # Only the newest token counts: issuing one retires those before it.
        token = await self.session.scalar(
            self._newest(user_id, purpose, channel_id).with_for_update()
        )
        return await self._redeem(token, code, now)

    async def redeem_token(
        self, token_id: uuid.UUID, purpose: str, secret: str, now: datetime
    ) -> Redemption:
        """Check a long token's secret (found by its id); a right one uses it. Wrong secrets
        are not counted: 256 random bits are not guessed, and counting would let anyone who
        saw a token's id (it is in the token) retire it."""
        token = await self.session.scalar(
            select(OneTimeToken)
            .where(OneTimeToken.id == token_id, OneTimeToken.purpose == purpose)
            .with_for_update()
        )
        return await self._redeem(token, secret, now, count_failure=False)

    async def _redeem(
        self, token: OneTimeToken | None, secret: str, now: datetime, count_failure: bool = True
    ) -> Redemption:
        if token is None or token.used_at is not None:
            return Redemption(Redeemed.NONE)
        if token.failed_attempts >= MAX_FAILED_ATTEMPTS:
            return Redemption(Redeemed.EXHAUSTED, token)
        if token.revoked_at is not None:
            return Redemption(Redeemed.NONE)
        if token.expires_at <= now:
            return Redemption(Redeemed.EXPIRED, token)
        if secret_matches(token.id, secret, token.secret_hash):
            token.used_at = now
            await self.session.flush()
            return Redemption(Redeemed.OK, token)
        if not count_failure:
            return Redemption(Redeemed.WRONG, token)
        token.failed_attempts += 1
        left = MAX_FAILED_ATTEMPTS - token.failed_attempts
        if left <= 0:
            token.revoked_at = now
        await self.session.flush()
        return Redemption(Redeemed.WRONG if left > 0 else Redeemed.EXHAUSTED, token, left)

    # --- the outbox: the notifier's side ------------------------------------------------

    async def claim_for_sending(
        self, token_id: uuid.UUID, now: datetime, lease: timedelta
    ) -> TokenToSend | None:
        """Lease a token still to send; None when it was sent, failed, is used, retired,
        expired or held by a live sender."""
        row = (
            await self.session.execute(
                _CLAIM,
                {
                    "id": token_id,
                    "now": now,
                    "due": now + CLOCK_TOLERANCE,
                    "lease_until": now + lease,
                },
            )
        ).one_or_none()
        if row is None:
            return None
        return TokenToSend(
            row.id, row.purpose, row.user_id, row.channel_id, row.via, row.address,
            row.expires_at, row.created_at, row.send_attempts,
        )  # fmt: skip

    async def set_secret_hash(self, token_id: uuid.UUID, secret_hash: str) -> None:
        """Store the hash of the secret the sender is about to send (the same every time)."""
        await self.session.execute(
            update(OneTimeToken)
            .where(OneTimeToken.id == token_id)
            .values(secret_hash=secret_hash)
            .execution_options(synchronize_session=False)
        )

    async def mark_sent(self, token_id: uuid.UUID, now: datetime) -> bool:
        """pending → sent; False when no longer pending."""
        return await self._finish(
            token_id, send_status="sent", sent_at=now, send_error=None, send_lease_expires_at=None
        )

    async def mark_send_failed(self, token_id: uuid.UUID, reason: str) -> bool:
        """pending → failed, with the reason (the address refused it for good)."""
        return await self._finish(
            token_id, send_status="failed", send_error=reason, send_lease_expires_at=None
        )

    async def schedule_retry(self, token_id: uuid.UUID, at: datetime, reason: str) -> bool:
        """Stay pending, due again at `at`, with the reason; the job retries then, or the
        sweeper does."""
        return await self._finish(token_id, send_error=reason, send_lease_expires_at=at)

    async def unsent(self, created_before: datetime, now: datetime, limit: int) -> list[uuid.UUID]:
        """Live tokens still to send, created before `created_before`, neither leased nor
        waiting for a retry: their job was lost."""
        query = (
            select(OneTimeToken.id)
            .where(
                OneTimeToken.send_status == "pending",
                OneTimeToken.created_at <= created_before,
                OneTimeToken.expires_at > now,
                OneTimeToken.used_at.is_(None),
                OneTimeToken.revoked_at.is_(None),
                or_(
                    OneTimeToken.send_lease_expires_at.is_(None),
                    OneTimeToken.send_lease_expires_at < now,
                ),
            )
            .order_by(OneTimeToken.created_at)
            .limit(limit)
        )
        return list(await self.session.scalars(query))

    async def purge(self, expired_before: datetime, limit: int) -> int:
        """Delete tokens that expired before `expired_before` (used or not); how many."""
        doomed = (
            select(OneTimeToken.id).where(OneTimeToken.expires_at < expired_before).limit(limit)
        )
        result = await self.session.execute(
            delete(OneTimeToken)
            .where(OneTimeToken.id.in_(doomed.scalar_subquery()))
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0))

    async def _finish(self, token_id: uuid.UUID, **values: object) -> bool:
        return await self._set_if_pending(OneTimeToken.send_status, token_id, **values)
