"""Notification channels: email, SMS, Slack, signed webhooks."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from pricealert.logging import get_logger
from pricealert.queues import DeliverNotification, enqueue_after_commit
from pricealert.repositories.channels import ChannelRepository
from pricealert.repositories.notifications import NotificationRepository
from services.api.channels.schemas import ChannelCreate, ChannelCreated, ChannelOut, TestQueued
from services.api.deps import CurrentPrincipal, RedisDep, SessionDep
from services.api.schemas import MAX_PAGE_SIZE, PageOut

router = APIRouter(prefix="/channels", tags=["channels"])
_security_log = get_logger("pricealert.security")


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ChannelCreated)
async def create_channel(
    body: ChannelCreate, principal: CurrentPrincipal, session: SessionDep
) -> ChannelCreated:
    """Add a channel; a webhook's signing secret is in this response only."""
    channel = await ChannelRepository(session).create(principal.user_id, body.kind, body.target)
    if channel.secret:
        _security_log.info("webhook_secret.issued", category="security", channel_id=str(channel.id))
    return ChannelCreated(**ChannelOut.model_validate(channel).model_dump(), secret=channel.secret)


@router.get("", response_model=PageOut[ChannelOut])
async def list_channels(
    principal: CurrentPrincipal,
    session: SessionDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> PageOut[ChannelOut]:
    page = await ChannelRepository(session).list_page(principal.user_id, cursor, limit)
    return PageOut(
        items=[ChannelOut.model_validate(c) for c in page.items], next_cursor=page.next_cursor
    )


@router.delete("/{channel_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_channel(
    channel_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> None:
    channels = ChannelRepository(session)
    await channels.delete(await channels.get(principal.user_id, channel_id))


@router.post("/{channel_id}/test", status_code=status.HTTP_202_ACCEPTED)
async def test_channel(
    channel_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep, redis: RedisDep
) -> TestQueued:
    """Send a test message through the channel; its outcome shows in /v1/notifications."""
    channel = await ChannelRepository(session).get(principal.user_id, channel_id)
    notification = await NotificationRepository(session).create_test(channel)
    enqueue_after_commit(session, redis, DeliverNotification(notification_id=str(notification.id)))
    return TestQueued(notification_id=notification.id)
