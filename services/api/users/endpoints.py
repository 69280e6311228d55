"""Sign-up and API keys."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from pricealert.errors import InvalidInput
from pricealert.logging import get_logger
from pricealert.repositories.users import UserRepository
from services.api.deps import CurrentPrincipal, SessionDep, SettingsDep
from services.api.middleware import client_address
from services.api.ratelimit import RateLimiter
from services.api.schemas import MAX_PAGE_SIZE, PageOut
from services.api.users.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    UserCreate,
    UserCreated,
    UserOut,
    UserUpdate,
)

router = APIRouter(tags=["users"])
_security_log = get_logger("pricealert.security")


@router.post("/users", status_code=status.HTTP_201_CREATED, response_model=UserCreated)
async def sign_up(
    body: UserCreate, request: Request, session: SessionDep, settings: SettingsDep
) -> UserCreated:
    """Create a user and its first API key (shown once)."""
    limiter: RateLimiter = request.app.state.rate_limiter
    await limiter.hit(
        f"signup:{client_address(request.scope)}",
        settings.signup_limit_per_hour,
        window_seconds=3600,
    )
    users = UserRepository(session)
    user = await users.create_user(str(body.email))
    _, key = await users.create_key(user.id, name="default")
    _security_log.info("user.created", category="security", user_id=str(user.id))
    return UserCreated(id=user.id, email=user.email, api_key=key)


@router.get("/users/me", response_model=UserOut)
async def me(principal: CurrentPrincipal, session: SessionDep) -> UserOut:
    """The calling user."""
    return UserOut.model_validate(await UserRepository(session).get_user(principal.user_id))


@router.patch("/users/me", response_model=UserOut)
async def update_me(body: UserUpdate, principal: CurrentPrincipal, session: SessionDep) -> UserOut:
    """Set the calling user's daily notification and SMS caps."""
    user = await UserRepository(session).set_caps(
        principal.user_id,
        daily_notification_cap=body.daily_notification_cap,
        daily_sms_cap=body.daily_sms_cap,
    )
    return UserOut.model_validate(user)


@router.get("/api-keys", response_model=PageOut[ApiKeyOut])
async def list_keys(
    principal: CurrentPrincipal,
    session: SessionDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> PageOut[ApiKeyOut]:
    """The user's keys (by prefix only; revoked ones too), oldest first, a page at a time."""
    page = await UserRepository(session).list_keys_page(principal.user_id, cursor, limit)
    return PageOut(
        items=[ApiKeyOut.model_validate(row) for row in page.items], next_cursor=page.next_cursor
    )


@router.post("/api-keys", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
async def create_key(
    body: ApiKeyCreate, principal: CurrentPrincipal, session: SessionDep
) -> ApiKeyCreated:
    """Another key for the user (shown once)."""
    expires_at = body.expires_at
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise InvalidInput("expires_at must carry a timezone", field="expires_at")
        if expires_at <= datetime.now(UTC):
            raise InvalidInput("expires_at must be in the future", field="expires_at")
    row, key = await UserRepository(session).create_key(principal.user_id, body.name, expires_at)
    _security_log.info("api_key.created", category="security", key_id=str(row.id))
    return ApiKeyCreated(**ApiKeyOut.model_validate(row).model_dump(), api_key=key)


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_key(key_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep) -> None:
    """Revoke a key: it stops working at once."""
    await UserRepository(session).revoke_key(principal.user_id, key_id)
    _security_log.info("api_key.revoked", category="security", key_id=str(key_id))
