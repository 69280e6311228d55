"""Notification channels: email, SMS, Slack, signed webhooks.

Email and SMS channels are created `pending_verification`: a 6-digit code goes to the
target (through the notifier), and until it is entered deliveries are held, so nobody
can make PriceAlert write to an address or number that did not ask for it. An address
the user has already proved (their verified email, another verified channel to it) is
verified at once. Slack and webhook targets are the user's own endpoints: checked at
creation (`targets.py`) and active at once.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Request, status

from pricealert.errors import Conflict
from pricealert.kinds import VERIFIED_CHANNEL_KINDS
from pricealert.logging import get_logger
from pricealert.queues import DeliverNotification, enqueue_after_commit
from pricealert.repositories.channels import ChannelRepository
from pricealert.repositories.notifications import NotificationRepository
from pricealert.repositories.verification import VerificationRepository
from services.api.channels.schemas import (
    ChannelCreate,
    ChannelCreated,
    ChannelOut,
    ChannelVerified,
    TestQueued,
)
from services.api.channels.service import check_target
from services.api.deps import CurrentPrincipal, OwnPaging, RedisDep, SessionDep, SettingsDep
from services.api.schemas import PageOut, page_out
from services.api.users.schemas import CodeIn, CodeSent
from services.api.users.service import AlreadyVerified, CodesDep, redeem_code

router = APIRouter(prefix="/channels", tags=["channels"])
_security_log = get_logger("pricealert.security")


class ChannelUnverified(Conflict, code="channel_unverified", title="Channel not verified"):
    """The channel is waiting for the code sent to it, and sends nothing until it is
    entered (`POST /v1/channels/{id}/verify`)."""


class TooManyUnverified(
    Conflict, code="too_many_unverified_channels", title="Too many channels waiting for their code"
):
    """Too many of your email and SMS channels are waiting for their code (5 by default):
    verify or delete some before adding another."""


class NoVerificationNeeded(Conflict, code="no_verification_needed", title="Nothing to verify"):
    """Only email and SMS channels are verified with a code; this kind (Slack, webhook)
    needs none."""


def _resend_hint(channel_id: uuid.UUID) -> str:
    return f"ask for a new one with POST /v1/channels/{channel_id}/resend"


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ChannelCreated)
async def create_channel(
    body: ChannelCreate,
    principal: CurrentPrincipal,
    session: SessionDep,
    settings: SettingsDep,
    codes: CodesDep,
) -> ChannelCreated:
    """Add a channel; a webhook's signing secret is in this response only. An email or SMS
    channel waits for the 6-digit code sent to it (`status: pending_verification`)."""
    check_target(body.kind, body.target, settings.fetch_allowed_hosts)
    channels = ChannelRepository(session)
    now = datetime.now(UTC)
    needs_code = body.kind in VERIFIED_CHANNEL_KINDS and not await VerificationRepository(
        session
    ).is_verified(principal.user_id, body.kind, body.target)
    if needs_code and await channels.count_unverified(principal.user_id) >= (
        settings.max_unverified_channels
    ):
        raise TooManyUnverified(
            f"you have {settings.max_unverified_channels} channels waiting for their code: "
            "verify or delete some first"
        )
    channel = await channels.create(
        principal.user_id, body.kind, body.target, verified_at=None if needs_code else now
    )
    if needs_code:
        await codes.send(
            purpose="channel_verification", user_id=principal.user_id, via=body.kind,
            address=body.target, channel_id=channel.id,
        )  # fmt: skip
    if channel.secret:
        _security_log.info("webhook_secret.issued", category="security", channel_id=str(channel.id))
    return ChannelCreated(**ChannelOut.model_validate(channel).model_dump(), secret=channel.secret)


@router.get("", response_model=PageOut[ChannelOut])
async def list_channels(paging: OwnPaging, session: SessionDep) -> PageOut[ChannelOut]:
    page = await paging.read(ChannelRepository(session).list_page)
    return page_out(page, ChannelOut.model_validate)


@router.delete("/{channel_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_channel(
    channel_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> None:
    await ChannelRepository(session).delete(principal.user_id, channel_id)


@router.post("/{channel_id}/verify", response_model=ChannelVerified)
async def verify_channel(
    channel_id: uuid.UUID,
    body: CodeIn,
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    redis: RedisDep,
) -> ChannelVerified:
    """Enter the code sent to the channel's target; its held deliveries go out (those
    detected more than a day ago are recorded `expired` instead)."""
    channel = await ChannelRepository(session).get(principal.user_id, channel_id)
    if channel.kind not in VERIFIED_CHANNEL_KINDS:
        raise NoVerificationNeeded(f"{channel.kind} channels need no verification")
    released = expired = 0
    if channel.verified_at is None:
        verified = await redeem_code(
            request.app.state.sessionmaker,
            redis,
            user_id=principal.user_id,
            purpose="channel_verification",
            code=body.code,
            channel_id=channel.id,
            resend_hint=_resend_hint(channel.id),
        )
        released, expired = verified.released, verified.expired
        await session.refresh(channel)
    return ChannelVerified(
        **ChannelOut.model_validate(channel).model_dump(), released=released, expired=expired
    )


@router.post("/{channel_id}/resend", status_code=status.HTTP_202_ACCEPTED, response_model=CodeSent)
async def resend_code(
    channel_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep, codes: CodesDep
) -> CodeSent:
    """Send a new code to the channel's target (the previous one stops working)."""
    channel = await ChannelRepository(session).get(principal.user_id, channel_id)
    if channel.kind not in VERIFIED_CHANNEL_KINDS:
        raise NoVerificationNeeded(f"{channel.kind} channels need no verification")
    if channel.verified_at is not None:
        raise AlreadyVerified("this channel is already verified")
    token = await codes.resend(
        resend_key=f"channel:{channel.id}", purpose="channel_verification",
        user_id=principal.user_id, via=channel.kind, address=channel.target, channel_id=channel.id,
    )  # fmt: skip
    return CodeSent(expires_at=token.expires_at)


@router.post("/{channel_id}/test", status_code=status.HTTP_202_ACCEPTED)
async def test_channel(
    channel_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep, redis: RedisDep
) -> TestQueued:
    """Send a test message through the channel; its outcome shows in /v1/notifications."""
    channel = await ChannelRepository(session).get(principal.user_id, channel_id)
    if channel.verified_at is None:
        raise ChannelUnverified(
            "the channel is waiting for its code: enter it with "
            f"POST /v1/channels/{channel.id}/verify first"
        )
    notification = await NotificationRepository(session).create_test(channel)
    enqueue_after_commit(session, redis, DeliverNotification(notification_id=str(notification.id)))
    return TestQueued(notification_id=notification.id)
