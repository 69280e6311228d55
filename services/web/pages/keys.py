"""API keys (see, create — shown once — and revoke; never the last one) and the signed-in
browsers (sessions), each of which can be signed out."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from services.web.api_client import ApiError
from services.web.pages.lists import all_items
from services.web.visit import SignedInDep, Visit, one

router = APIRouter()
EXPIRY_DAYS = (0, 30, 90, 365)


async def _page(visit: Visit, status: int = 200, **context: Any) -> Response:
    keys = await all_items(visit, "/v1/api-keys")
    now = datetime.now(UTC)

    def live(key: dict[str, Any]) -> bool:
        expires = key["expires_at"]
        return key["revoked_at"] is None and (
            expires is None or datetime.fromisoformat(expires) > now
        )

    context.setdefault("done", "")
    context.setdefault("error", None)
    context.setdefault("created", None)
    return visit.render(
        "keys.html", status=status,
        api_keys=[k for k in keys if k["kind"] == "api" and live(k)],
        old_keys=[k for k in keys if k["kind"] == "api" and not live(k)],
        sessions=[k for k in keys if k["kind"] == "session" and live(k)],
        expiry_days=EXPIRY_DAYS, **context,
    )  # fmt: skip


@router.get("/keys")
async def keys_page(visit: SignedInDep, done: str = "") -> Response:
    return await _page(visit, done=done)


@router.post("/keys")
async def create_key(visit: SignedInDep) -> Response:
    fields = await visit.form()
    body: dict[str, Any] = {"name": one(fields, "name") or None}
    days = one(fields, "expires_days", "0")
    if days.isdigit() and int(days) > 0:
        body["expires_at"] = (datetime.now(UTC) + timedelta(days=int(days))).isoformat()
    try:
        created = await visit.api("POST", "/v1/api-keys", body)
    except ApiError as error:
        if error.status != 422:
            raise
        return await _page(visit, status=422, error=error.detail)
    # The key is in this answer only (no-store): the API keeps nothing but its hash.
    return await _page(visit, created=created)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(key_id: uuid.UUID, visit: SignedInDep) -> Response:
    await visit.form()
    assert visit.session is not None
    try:
        await visit.api("DELETE", f"/v1/api-keys/{key_id}")
    except ApiError as error:
        if error.code != "last_active_key":
            raise
        message = visit._(
            "This is your last working API key: revoking it would lock your programs out. "
            "Create another key first, then revoke this one."
        )
        return await _page(visit, status=409, error=message)
    if str(key_id) == visit.session.key_id:
        visit.sign_out()
        return visit.redirect("/sign-in?signed_out=1")
    return visit.redirect("/keys?done=key_revoked")
