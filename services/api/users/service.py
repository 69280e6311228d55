"""Proving an address: send a code (through the notifier), redeem it, release what waited.

Shared by the user's own email (`/v1/users/me/verify`) and email/SMS channels
(`/v1/channels/{id}/verify`). The API records the token and queues its message after
commit; the notifier derives the secret, sends it and stores its hash (`pricealert.tokens`),
so the API never holds a code. Redeeming a code verifies its address for the user
everywhere it appears (`VerificationRepository.verify_address`) and releases the held
deliveries of every channel that it verified.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from arq.connections import ArqRedis
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pricealert.db import session_scope
from pricealert.errors import Conflict, InvalidInput
from pricealert.logging import get_logger
from pricealert.models import OneTimeToken, User
from pricealert.queues import SendOneTimeToken, deliveries, enqueue_after_commit
from pricealert.repositories.tokens import Redeemed, TokenRepository
from pricealert.repositories.verification import Released, VerificationRepository
from services.api.deps import RedisDep, SessionDep, SettingsDep
from services.api.middleware import client_address
from services.api.ratelimit import enforce
from services.api.settings import ApiSettings

_security_log = get_logger("pricealert.security")


class WrongCode(InvalidInput, code="wrong_code", title="Wrong code"):
    """The code entered is not the one sent. The problem document says how many attempts
    are left (`attempts_left`); after 5 wrong codes the code stops working
    (`code_exhausted`) and a new one must be asked for."""


class CodeExpired(Conflict, code="code_expired", title="Code expired"):
    """The code was sent more than 30 minutes ago and no longer works: ask for a new one
    (`POST /v1/users/me/resend`, or a channel's `/resend`)."""


class CodeExhausted(Conflict, code="code_exhausted", title="Too many wrong codes"):
    """After 5 wrong codes a code no longer works, even when the right one follows: ask
    for a new one."""


class NoCodeSent(Conflict, code="no_code_sent", title="No code to check"):
    """No code is waiting to be entered (none was sent, or it was already used): ask for
    one first."""


class AlreadyVerified(Conflict, code="already_verified", title="Already verified"):
    """The address or channel is verified already: there is nothing to enter or resend."""


@dataclass(frozen=True, slots=True)
class Verified:
    """What a redeemed code did."""

    verified_at: datetime
    #: Held deliveries now on their way, and those too old to send (recorded `expired`).
    released: int
    expired: int


def address_bucket(address: str) -> str:
    """A rate-limit bucket name for an address that does not put the address in Redis."""
    return hashlib.sha256(address.encode()).hexdigest()[:32]


class Codes:
    """Sending verification codes in a request: its session (whose commit has the notifier
    send the message), Redis, settings and rate limits (`CodesDep`)."""

    def __init__(
        self, request: Request, session: AsyncSession, redis: ArqRedis, settings: ApiSettings
    ) -> None:
        self.request = request
        self.session = session
        self.redis = redis
        self.settings = settings

    async def send(
        self,
        *,
        purpose: str,
        user_id: uuid.UUID,
        via: str,
        address: str,
        channel_id: uuid.UUID | None = None,
        limited: bool = True,
    ) -> OneTimeToken:
        """Issue a code for `address` (retiring the previous one) and have the notifier send
        it once this unit of work commits; 429 past the user's hourly allowance (`limited`:
        sign-up's first code is limited by sign-ups per address instead)."""
        request, settings = self.request, self.settings
        if limited:
            await enforce(
                request,
                f"verify-send:{user_id}",
                settings.verification_messages_per_hour,
                3600,
                what="verification messages",
            )
            if via == "sms":
                await enforce(
                    request,
                    f"verify-sms:{user_id}",
                    settings.verification_sms_per_day,
                    24 * 3600,
                    what="verification SMS",
                )
        token = await TokenRepository(self.session).issue(
            purpose=purpose,
            user_id=user_id,
            via=via,
            address=address,
            channel_id=channel_id,
            now=datetime.now(UTC),
        )
        enqueue_after_commit(self.session, self.redis, SendOneTimeToken(token_id=str(token.id)))
        _security_log.info(
            "verification.code_issued", category="security", purpose=purpose, via=via,
            token_id=str(token.id),
        )  # fmt: skip
        return token

    async def resend(
        self,
        *,
        resend_key: str,
        purpose: str,
        user_id: uuid.UUID,
        via: str,
        address: str,
        channel_id: uuid.UUID | None = None,
    ) -> OneTimeToken:
        """A code asked for again: at most one per `verification_resend_interval_seconds`
        per `resend_key` (429 sooner), then `send`."""
        await enforce(
            self.request, f"resend:{resend_key}", 1,
            self.settings.verification_resend_interval_seconds, what="codes",
        )  # fmt: skip
        return await self.send(
            purpose=purpose, user_id=user_id, via=via, address=address, channel_id=channel_id
        )


async def _codes(
    request: Request, session: SessionDep, redis: RedisDep, settings: SettingsDep
) -> Codes:
    return Codes(request, session, redis, settings)


CodesDep = Annotated[Codes, Depends(_codes)]


async def mail_link(
    session: AsyncSession, redis: ArqRedis, user: User, *, purpose: str, event: str
) -> None:
    """Issue a one-time `purpose` token (a sign-in or recovery link) to the user's own
    address and have the notifier mail it once this unit of work commits; logged as
    `event`."""
    token = await TokenRepository(session).issue(
        purpose=purpose, user_id=user.id, via="email", address=user.email, now=datetime.now(UTC)
    )
    enqueue_after_commit(session, redis, SendOneTimeToken(token_id=str(token.id)))
    _security_log.info(event, category="security", user_id=str(user.id), token_id=str(token.id))


async def enforce_address_limits(
    request: Request, name: str, email: str, *, per_client: int, per_email: int
) -> None:
    """429 past `per_client` requests an hour from this client (`<name>:<client>`) or
    `per_email` for this address (`<name>-email:<bucket>`, the address not in Redis)."""
    await enforce(request, f"{name}:{client_address(request.scope)}", per_client, 3600)
    await enforce(request, f"{name}-email:{address_bucket(email)}", per_email, 3600)


async def verify_and_release(
    session: AsyncSession,
    redis: ArqRedis,
    user_id: uuid.UUID,
    via: str,
    address: str,
    now: datetime,
    *,
    purpose: str,
) -> Released:
    """Mark `address` proven for the user and queue the deliveries it releases (after
    commit); what a redeemed code, or a redeemed recovery link, proves."""
    verifications = VerificationRepository(session)
    channel_ids = await verifications.verify_address(user_id, via, address, now)
    released = await verifications.release_held(channel_ids, now)
    for job in deliveries([str(n) for n in released.pending]):
        enqueue_after_commit(session, redis, job)
    _security_log.info(
        "verification.verified", category="security", purpose=purpose, via=via,
        channels=len(channel_ids), released=len(released.pending), expired=released.expired,
    )  # fmt: skip
    return released


async def redeem_code(
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: ArqRedis,
    *,
    user_id: uuid.UUID,
    purpose: str,
    code: str,
    resend_hint: str,
    channel_id: uuid.UUID | None = None,
) -> Verified:
    """Check the code; on success verify its address for the user and release what was
    held for it. Raises a problem naming what to do when the code does not work.

    A unit of work of its own, committed before the answer: a wrong code must count even
    though the request answers with an error (which rolls the request's own work back).
    """
    now = datetime.now(UTC)
    released = Released([], 0)
    async with session_scope(sessionmaker) as session:
        redemption = await TokenRepository(session).redeem_code(
            user_id, purpose, code, now, channel_id=channel_id
        )
        token = redemption.token
        if redemption.outcome is Redeemed.OK and token is not None:
            released = await verify_and_release(
                session, redis, user_id, token.via, token.address, now, purpose=purpose
            )
            return Verified(now, len(released.pending), released.expired)
    outcome = redemption.outcome
    if outcome is Redeemed.WRONG:
        _security_log.warning("verification.wrong_code", category="security", purpose=purpose)
        raise WrongCode(
            f"that is not the code; {redemption.attempts_left} attempts left",
            attempts_left=redemption.attempts_left,
        )
    if outcome is Redeemed.EXHAUSTED:
        _security_log.warning("verification.exhausted", category="security", purpose=purpose)
        raise CodeExhausted(f"too many wrong codes: this code no longer works; {resend_hint}")
    if outcome is Redeemed.EXPIRED:
        raise CodeExpired(f"the code has expired; {resend_hint}")
    raise NoCodeSent(f"there is no code waiting to be entered; {resend_hint}")
