"""Sending one-time tokens: verification codes and key recovery tokens.

The API records a token (`one_time_token`, its outbox columns) and queues
`SendOneTimeToken`; this sends its message through the same email and SMS senders as
alerts:

1. Claim (own transaction): still to send, live, unleased → leased, `send_attempts + 1`;
   the secret is derived here (`pricealert.tokens.derive_secret`, from the id and
   `PRICEALERT_SECRET_KEY`) and its hash stored. Nothing to claim (sent, failed, used,
   replaced, expired, held by a live sender) → `skipped`.
2. Send, outside any transaction.
3. Record: `sent`; or `failed` with the reason (the address refused it for good); or,
   for a transient failure, the next attempt's time (backoff as for deliveries) and the
   reason: the job retries then (arq `Retry`), later the sweeper, until the token expires.

A worker killed between 2 and 3 leaves the lease to expire and the sweeper re-issues
the job: the message goes out again with the same secret (derived, not random) and the
same `Message-ID`, so it is the same message twice at worst, never two different codes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pricealert.db import session_scope
from pricealert.logging import get_logger
from pricealert.repositories.tokens import TokenRepository, TokenToSend
from pricealert.repositories.users import UserRepository
from pricealert.tokens import derive_secret, hash_secret, present
from services.notifier.channels import Delivery, DeliveryFailed, TransientFailure
from services.notifier.delivery import Attempt, Outbox, retry_delay
from services.notifier.message import TOKEN_EVENT

_log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class _Claimed:
    token: TokenToSend
    secret: str
    #: The user's language (sign-in links are written in it), None: not chosen.
    locale: str | None


class TokenSender(Outbox):
    """Sends the messages that carry one-time secrets, keeping the outbox straight."""

    async def send(self, token_id: uuid.UUID) -> Attempt:
        """One attempt at sending the token's message (see the module doc)."""
        claimed = await self._claim(token_id)
        if claimed is None:
            return Attempt("skipped")
        token = claimed.token
        sender = self.senders.get(token.via)
        if sender is None:
            return await self._fail(token, f"no sender for {token.via!r}")
        delivery = Delivery(
            notification_id=token.id,
            channel_kind=token.via,
            target=token.address,
            secret=None,
            payload=self._payload(token, claimed.secret, claimed.locale),
            detected_at=token.created_at,
            attempt=token.attempt,
        )
        try:
            await sender.send(delivery)
        except DeliveryFailed as exc:
            if exc.transient:
                return await self._retry(token, exc)
            return await self._fail(token, exc.reason)
        except Exception as exc:  # a bug or an unforeseen library error: retry, never lose it
            _log.exception("token.unexpected_error", token_id=str(token.id))
            return await self._retry(token, TransientFailure(f"{type(exc).__name__}: {exc}"))
        async with session_scope(self.sessionmaker) as session:
            recorded = await TokenRepository(session).mark_sent(token.id, datetime.now(UTC))
        if not recorded:
            return Attempt("skipped")
        _log.info("token.sent", token_id=str(token.id), purpose=token.purpose, via=token.via)
        return Attempt("sent")

    async def _claim(self, token_id: uuid.UUID) -> _Claimed | None:
        now = datetime.now(UTC)
        lease = timedelta(seconds=self.settings.delivery_lease_seconds)
        key = self.settings.secret_key.get_secret_value()
        async with session_scope(self.sessionmaker) as session:
            tokens = TokenRepository(session)
            token = await tokens.claim_for_sending(token_id, now, lease)
            if token is None:
                return None
            secret = derive_secret(key, token.id, token.purpose)
            await tokens.set_secret_hash(token.id, hash_secret(token.id, secret))
            locale = (await UserRepository(session).get_user(token.user_id)).locale
        return _Claimed(token, present(token.id, token.purpose, secret), locale)

    def _payload(self, token: TokenToSend, secret: str, locale: str | None) -> dict[str, Any]:
        minutes = max(1, int((token.expires_at - token.created_at).total_seconds() // 60))
        return {
            "type": TOKEN_EVENT,
            "purpose": token.purpose,
            "secret": secret,
            "expires_minutes": minutes,
            "channel_id": str(token.channel_id) if token.channel_id else None,
            "locale": locale,
            "web_base_url": self.settings.web_base_url,
        }

    async def _fail(self, token: TokenToSend, reason: str) -> Attempt:
        async with session_scope(self.sessionmaker) as session:
            recorded = await TokenRepository(session).mark_send_failed(token.id, reason)
        if recorded:
            _log.warning(
                "token.failed", token_id=str(token.id), purpose=token.purpose, via=token.via,
                reason=reason,
            )  # fmt: skip
        return Attempt("failed" if recorded else "skipped", reason=reason)

    async def _retry(self, token: TokenToSend, failure: DeliveryFailed) -> Attempt:
        delay = retry_delay(token.attempt, self.settings, self.rng)
        if failure.retry_after is not None:
            delay = max(delay, failure.retry_after)
        next_at = datetime.now(UTC) + timedelta(seconds=delay)
        if next_at >= token.expires_at:
            return await self._fail(token, f"gave up before expiry: {failure.reason}")
        async with session_scope(self.sessionmaker) as session:
            recorded = await TokenRepository(session).schedule_retry(
                token.id, next_at, failure.reason
            )
        if not recorded:
            return Attempt("skipped")
        _log.info(
            "token.retry", token_id=str(token.id), attempt=token.attempt,
            retry_in=round(delay, 1), reason=failure.reason,
        )  # fmt: skip
        return Attempt("retry", retry_in=delay, reason=failure.reason)
