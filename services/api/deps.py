"""Dependencies shared by every route: the unit of work, the caller, Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from arq.connections import ArqRedis
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from pricealert.db import session_scope
from pricealert.errors import Unauthorized
from pricealert.logging import bind_context, get_logger
from pricealert.repositories.users import Principal, UserRepository
from services.api.middleware import client_address
from services.api.ratelimit import RateLimiter, record, refuse
from services.api.settings import ApiSettings

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer pa_...`")
_security_log = get_logger("pricealert.security")


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    # scope="function": the commit happens before the response is sent, so a client
    # that got 201 can read what it created, and a failed commit is an error response.
    async with session_scope(request.app.state.sessionmaker) as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(_session, scope="function")]


# async: FastAPI runs a plain `def` dependency in a worker thread, a thread hop per request.
async def _settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[ApiSettings, Depends(_settings)]


async def _redis(request: Request) -> ArqRedis:
    redis: ArqRedis = request.app.state.redis
    return redis


RedisDep = Annotated[ArqRedis, Depends(_redis)]


async def _principal(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    now = datetime.now(UTC)
    users = UserRepository(session)
    principal = None
    if credentials is not None and credentials.scheme.lower() == "bearer":
        principal = await users.authenticate(credentials.credentials, now)
    # Counted whether the key is good or not, and judged after the lookup: a throttled
    # address learns nothing about the key it sent.
    limiter: RateLimiter = request.app.state.rate_limiter
    throttled, window = await limiter.authenticate(
        client_address(request.scope),
        principal.key_id if principal else None,
        key_limit=settings.rate_limit_per_minute,
        bad_key_limit=settings.bad_key_limit_per_minute,
    )
    record(request, window)
    if throttled and window is not None:
        _security_log.warning("auth.throttled", category="security", path=request.url.path)
        raise refuse(window, "requests with a missing or bad API key from this address")
    if principal is None:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
        _security_log.warning("auth.refused", category="security", path=request.url.path)
        raise Unauthorized("the API key is unknown, expired or revoked")
    bind_context(user_id=str(principal.user_id))
    if window is not None and window.exceeded:
        raise refuse(window, "requests")
    if window is not None and window.first_in_window:
        await users.touch_key(principal.key_id, now)  # at most one write per key per minute
    return principal


CurrentPrincipal = Annotated[Principal, Depends(_principal)]
