"""Channels: email, SMS, Slack and webhooks; codes for email and SMS; the webhook's signing
secret shown once; a test message."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from pricealert.kinds import ChannelKind
from services.web.api_client import ApiError
from services.web.pages.lists import all_items
from services.web.visit import SignedInDep, Visit, one

router = APIRouter()
KINDS = tuple(ChannelKind)


async def _page(visit: Visit, status: int = 200, **context: Any) -> Response:
    channels = await all_items(visit, "/v1/channels")
    context.setdefault("done", "")
    context.setdefault("form", {})
    context.setdefault("errors", {})
    context.setdefault("channel_errors", {})
    return visit.render("channels.html", status=status, channels=channels, kinds=KINDS, **context)


@router.get("/channels")
async def channels_page(visit: SignedInDep, done: str = "") -> Response:
    return await _page(visit, done=done)


@router.post("/channels")
async def create_channel(visit: SignedInDep) -> Response:
    form = await visit.form_values("kind", "target")
    try:
        channel = await visit.api("POST", "/v1/channels", form)
    except ApiError as error:
        if error.status not in (400, 409, 422, 429):
            raise
        errors = error.field_errors()
        if not errors or "form" in errors or error.status != 422:
            errors = {"target": error.detail}
        return await _page(visit, status=error.status, form=form, errors=errors)
    if channel.get("secret"):
        # Shown in this answer only (no redirect, no-store): the API will not tell it again.
        return visit.render("channel_created.html", channel=channel)
    done = "code_sent" if channel["status"] == "pending_verification" else "channel_added"
    return visit.redirect(f"/channels?done={done}")


@router.post("/channels/{channel_id}/verify")
async def verify(channel_id: uuid.UUID, visit: SignedInDep) -> Response:
    fields = await visit.form()
    try:
        await visit.api("POST", f"/v1/channels/{channel_id}/verify", {"code": one(fields, "code")})
    except ApiError as error:
        if error.status not in (409, 422, 429):
            raise
        message = error.detail
        if error.status == 422 and error.code != "wrong_code":
            message = visit._("Enter the 6-digit code from the message.")
        return await _page(visit, status=error.status, channel_errors={str(channel_id): message})
    return visit.redirect("/channels?done=channel_verified")


@router.post("/channels/{channel_id}/resend")
async def resend(channel_id: uuid.UUID, visit: SignedInDep) -> Response:
    return await _act(
        visit, channel_id, "resend", shown=(409, 429), done="/channels?done=code_sent"
    )


@router.post("/channels/{channel_id}/test")
async def test(channel_id: uuid.UUID, visit: SignedInDep) -> Response:
    return await _act(visit, channel_id, "test", shown=(409,), done="/activity?done=test_queued")


async def _act(
    visit: Visit, channel_id: uuid.UUID, action: str, *, shown: tuple[int, ...], done: str
) -> Response:
    """`POST /v1/channels/{id}/{action}`, then on to `done`; a refusal whose status is in
    `shown` is shown on the channel's card, any other is the error page's."""
    await visit.form()
    try:
        await visit.api("POST", f"/v1/channels/{channel_id}/{action}")
    except ApiError as error:
        if error.status not in shown:
            raise
        return await _page(
            visit, status=error.status, channel_errors={str(channel_id): error.detail}
        )
    return visit.redirect(done)


@router.post("/channels/{channel_id}/delete")
async def delete(channel_id: uuid.UUID, visit: SignedInDep) -> Response:
    await visit.form()
    await visit.api("DELETE", f"/v1/channels/{channel_id}")
    return visit.redirect("/channels?done=channel_deleted")
