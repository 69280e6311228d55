"""Database access: one engine per process, one session scope.

`session_scope()` is the only place that commits: a request or a job opens a
scope, services and repositories only add and flush, and the scope commits at
its end (or rolls back on error). Work that must happen only once the data is
durable — enqueueing a job, above all — is registered with `after_commit` and
runs right after the commit succeeds, never before and never after a rollback.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from pricealert.logging import get_logger
from pricealert.settings import PriceAlertSettings

AfterCommit = Callable[[], Awaitable[Any]]

_log = get_logger(__name__)


def create_engine(
    settings: PriceAlertSettings,
    *,
    clock: Callable[[], float] = time.monotonic,
    **overrides: Any,
) -> AsyncEngine:
    """An asyncpg engine sized by the settings, pinging connections that sat idle (by
    `clock`, seconds; tests pass one they move)."""
    options: dict[str, Any] = {
        "pool_size": settings.database_pool_size,
        "max_overflow": settings.database_max_overflow,
        "pool_timeout": settings.database_pool_timeout_seconds,
        "pool_recycle": 1800,
        "connect_args": {"server_settings": {"application_name": settings.service_name}},
    }
    options.update(overrides)
    engine = create_async_engine(settings.database_url, **options)
    if not options.get("pool_pre_ping"):
        ping_idle_connections(engine, settings.database_ping_after_idle_seconds, clock=clock)
    return engine


def ping_idle_connections(
    engine: AsyncEngine, idle_seconds: float, *, clock: Callable[[], float] = time.monotonic
) -> None:
    """Ping a pooled connection before use only if it sat idle more than `idle_seconds`.

    SQLAlchemy's `pool_pre_ping` pings on every checkout: three round trips (BEGIN, `;`,
    ROLLBACK) before each unit of work, a quarter of a worker job's. A connection in
    steady use needs none: if PostgreSQL went away under it, its statement fails once,
    SQLAlchemy sees a disconnect and invalidates the whole pool, and the unit of work is
    retried (API clients retry a 503; jobs are re-issued by leases and sweepers). A
    connection that sat idle — the case a restart or a dropped firewall state catches —
    is pinged, and replaced if the ping fails, so nobody sees that error.
    """
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "checkin")
    def _idle_since(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = clock()

    @event.listens_for(pool, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or clock() - since <= idle_seconds:
            return
        try:
            dbapi_connection.ping()
        except Exception as exc:
            # The pool discards this connection and checks out another (a fresh one).
            raise DisconnectionError("an idle pooled connection failed its ping") from exc


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run `callback` once the scope owning `session` has committed."""
    session.info.setdefault("after_commit", []).append(callback)


@asynccontextmanager
async def session_scope(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A unit of work: commit at the end, roll back on error, then run after-commit hooks."""
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            session.info.pop("after_commit", None)
            raise
        await run_after_commit(session)


async def run_after_commit(session: AsyncSession) -> None:
    """Run (and forget) the hooks registered on `session`; a failing hook is logged, not raised."""
    callbacks: list[AfterCommit] = session.info.pop("after_commit", [])
    for callback in callbacks:
        try:
            await callback()
        except Exception:
            # The data is committed; a lost enqueue is re-issued from Postgres by the sweepers.
            _log.exception("after_commit.failed")
