"""Database access: one engine per process, one session scope.

`session_scope()` is the only place that commits: a request or a job opens a
scope, services and repositories only add and flush, and the scope commits at
its end (or rolls back on error). Work that must happen only once the data is
durable — enqueueing a job, above all — is registered with `after_commit` and
runs right after the commit succeeds, never before and never after a rollback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

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


def create_engine(settings: PriceAlertSettings, **overrides: Any) -> AsyncEngine:
    """An asyncpg engine sized by the settings."""
    options: dict[str, Any] = {
        "pool_size": settings.database_pool_size,
        "max_overflow": settings.database_max_overflow,
        "pool_pre_ping": True,
        "pool_recycle": 1800,
        "connect_args": {"server_settings": {"application_name": settings.service_name}},
    }
    options.update(overrides)
    return create_async_engine(settings.database_url, **options)


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
