"""The notification log: each delivery and what became of it, newest first."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from services.web.pages.lists import all_items
from services.web.visit import SignedInDep

router = APIRouter()
STATUSES = ("sent", "pending", "held", "failed", "capped", "cooldown", "suppressed", "expired")


@router.get("/activity")
async def activity(
    visit: SignedInDep, status: str = "", cursor: str = "", done: str = "", fragment: str = ""
) -> Response:
    params: dict[str, Any] = {"order": "desc", "limit": 50}
    if status in STATUSES:
        params["status"] = status
    if cursor:
        params["cursor"] = cursor[:200]
    page, channels = await asyncio.gather(
        visit.api("GET", "/v1/notifications", params=params), all_items(visit, "/v1/channels")
    )
    template = "activity_rows.html" if fragment else "activity.html"
    return visit.render(
        template, notifications=page["items"], next_cursor=page["next_cursor"],
        status_filter=status, statuses=STATUSES, channel_names={c["id"]: c for c in channels},
        done=done, first_page=not cursor,
    )  # fmt: skip
