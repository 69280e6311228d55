"""The delivery log: what was sent, when, how many tries, and why it failed."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from pricealert.kinds import NotificationStatus
from pricealert.models import Notification
from pricealert.repositories.notifications import NotificationRepository
from services.api.deps import CurrentPrincipal, SessionDep
from services.api.notifications.schemas import NotificationOut
from services.api.schemas import PageOut, Paging, page_out

router = APIRouter(prefix="/notifications", tags=["notifications"])


def notification_out(n: Notification) -> NotificationOut:
    return NotificationOut(
        id=n.id,
        alert_id=n.rule_id,
        channel_id=n.channel_id,
        channel_kind=n.channel_kind,
        rule_kind=n.rule_kind,
        status=n.status,
        attempts=n.attempts,
        last_error=n.last_error,
        payload=n.payload,
        detected_at=n.detected_at,
        created_at=n.created_at,
        sent_at=n.sent_at,
    )


@router.get("", response_model=PageOut[NotificationOut])
async def list_notifications(
    principal: CurrentPrincipal,
    session: SessionDep,
    paging: Paging,
    status: NotificationStatus | None = None,
    order: Annotated[
        Literal["asc", "desc"],
        Query(
            description="`asc`: oldest first (the default, like every list); `desc`: newest "
            "first, as a log is read. A cursor continues in the order it was made in."
        ),
    ] = "asc",
) -> PageOut[NotificationOut]:
    """The delivery log: every notification and what became of it."""
    page = await NotificationRepository(session).list_page(
        principal.user_id, paging.cursor, paging.limit, status, newest_first=order == "desc"
    )
    return page_out(page, notification_out)
