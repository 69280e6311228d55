"""Dependencies shared by every route: the unit of work, the caller, Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import datetime
from typing import Annotated, TypeVar

from arq.connections import ArqRedis
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from pricealert.db import session_scope
from pricealert.errors import Unauthorized
from pricealert.logging import bind_context, get_logger
from pricealert.repositories.driver import Readable, pooled
from pricealert.repositories.pagination import Page
from pricealert.repositories.users import Principal, UserRepository, hash_key
from services.api.keycache import PrincipalCache
from services.api.middleware import client_address
from services.api.ratelimit import RateLimiter, record, refuse
from services.api.schemas import PageQuery, Paging
from services.api.settings import ApiSettings

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer pa_...`")
_security_log = get_logger("pricealert.security")


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    # scope="function": the commit happens before the response is sent, so a client
    # that got 201 can read what it created, and a failed commit is an error response.
    async with session_scope(request.app.state.sessionmaker) as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(_session, scope="function")]


def read_sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    """Sessions for reads: no BEGIN/COMMIT around their statements (AUTOCOMMIT on the
    same pool), each statement seeing committed data as of its start.

    Where the app's sessionmaker was replaced (tests bind it to their own transaction),
    reads follow the replacement, so they see what the test wrote."""
    state = request.app.state
    maker: async_sessionmaker[AsyncSession] = state.sessionmaker
    if getattr(state, "read_sessionmaker_of", None) is maker:
        reader: async_sessionmaker[AsyncSession] = state.read_sessionmaker
        return reader
    return maker


async def _read_session(request: Request) -> AsyncIterator[AsyncSession]:
    # Nothing to commit: closing it returns the connection (a no-op ROLLBACK is not sent
    # in AUTOCOMMIT; in a test's transaction it releases the savepoint).
    async with read_sessionmaker(request)() as session:
        yield session


#: A session for endpoints that only read.
ReadSessionDep = Annotated[AsyncSession, Depends(_read_session, scope="function")]


def read_connection(request: Request) -> AbstractAsyncContextManager[Readable]:
    """A connection for this request's reads (`async with`): one of the pool's, bare (no
    SQLAlchemy `Connection`, no transaction: `repositories.driver.pooled`); the test's own,
    in tests."""
    bind = read_sessionmaker(request).kw.get("bind")
    if isinstance(bind, AsyncConnection):  # a test's own transaction
        return nullcontext(bind)
    assert isinstance(bind, AsyncEngine)
    return pooled(bind)


async def _read_connection(request: Request) -> AsyncIterator[Readable]:
    async with read_connection(request) as connection:
        yield connection


#: A bare pooled connection (no ORM Session, no transaction) for the hottest reads.
ReadConnectionDep = Annotated[Readable, Depends(_read_connection, scope="function")]


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
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    return await authenticate(request, credentials.credentials if credentials else None)


def bearer_token(request: Request) -> str | None:
    """The key of an `Authorization: Bearer <key>` header, read as `_bearer` reads it
    (for routes served without FastAPI's dependencies, `services.api.fastroute`)."""
    authorization = request.headers.get("authorization")
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if not (scheme and token) or scheme.lower() != "bearer":
        return None
    return token


async def authenticate(request: Request, token: str | None) -> Principal:
    """The caller of a request whose bearer key is `token` (None: no usable header).

    Counts the request in its rate-limit window (shown on the response), refuses with
    401 (no, unknown, expired or revoked key) or 429, and notes the key's use."""
    # Settings read directly, not as a dependency: one less for FastAPI to solve per request.
    settings: ApiSettings = request.app.state.settings
    now: datetime = request.app.state.clock()
    principal = None
    if token is not None:
        principal = await _authenticate(request, token, now)
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
        if token is None:
            raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
        _security_log.warning("auth.refused", category="security", path=request.url.path)
        raise Unauthorized("the API key is unknown, expired or revoked")
    bind_context(user_id=str(principal.user_id))
    if window is not None and window.exceeded:
        raise refuse(window, "requests")
    if window is not None and window.first_in_window:
        # At most one write per key per minute, in its own short unit of work.
        async with session_scope(read_sessionmaker(request)) as session:
            await UserRepository(session).touch_key(principal.key_id, now)
    return principal


async def _authenticate(request: Request, key: str, now: datetime) -> Principal | None:
    """The key's principal: from this process's cache (live keys, at most
    `key_cache_seconds` old, revocations broadcast), else from PostgreSQL."""
    cache: PrincipalCache = request.app.state.key_cache
    key_hash = hash_key(key)
    principal = cache.get(key_hash, now)
    if principal is not None:
        return principal
    generation = cache.generation
    async with read_sessionmaker(request)() as session:
        live = await UserRepository(session).live_key(key_hash, now)
    if live is None:
        return None
    cache.put(key_hash, live[0], live[1], generation)
    return live[0]


CurrentPrincipal = Annotated[Principal, Depends(_principal)]


R = TypeVar("R")


class OwnPage:
    """A page of one of the caller's own lists: `?cursor=&limit=` (`PageQuery`) and whose."""

    def __init__(self, user_id: uuid.UUID, query: PageQuery) -> None:
        self.user_id = user_id
        self.cursor = query.cursor
        self.limit = query.limit

    async def read(
        self, list_page: Callable[[uuid.UUID, str | None, int], Awaitable[Page[R]]]
    ) -> Page[R]:
        """The page a repository's `list_page(user_id, cursor, limit)` reads."""
        return await list_page(self.user_id, self.cursor, self.limit)


async def _own_page(principal: CurrentPrincipal, paging: Paging) -> OwnPage:
    return OwnPage(principal.user_id, paging)


#: The caller (`CurrentPrincipal`) and the page they ask for of one of their lists.
OwnPaging = Annotated[OwnPage, Depends(_own_page)]
