"""The engine's connection pool: idle connections are pinged, busy ones are not."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from pricealert.db import create_engine
from pricealert.repositories.driver import fetch, pooled
from pricealert.settings import PriceAlertSettings


class Clock:
    """A monotonic clock the test moves by hand (seconds)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _engine(database_url: str, idle_seconds: float, clock: Clock | None = None) -> AsyncEngine:
    settings = PriceAlertSettings(
        environment="test",
        database_url=database_url,
        database_pool_size=1,
        database_max_overflow=0,
        database_ping_after_idle_seconds=idle_seconds,
    )
    return create_engine(settings, clock=clock or Clock())


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(text("SELECT pg_backend_pid()")) or 0)


async def _terminate(database_url: str, pid: int) -> None:
    admin = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        # Waits (up to 5 s) until the backend has gone, so the next use meets a dead socket.
        assert await admin.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)
    finally:
        await admin.close()


async def test_a_connection_killed_while_idle_is_replaced_unseen(fresh_database_url: str) -> None:
    clock = Clock()
    engine = _engine(fresh_database_url, idle_seconds=60, clock=clock)
    try:
        first = await _backend_pid(engine)
        await _terminate(fresh_database_url, first)
        clock.now += 61  # idle past the threshold: pinged, found dead, replaced
        second = await _backend_pid(engine)
        assert second != first
    finally:
        await engine.dispose()


async def test_a_busy_connection_is_not_pinged_so_its_death_surfaces_once(
    fresh_database_url: str,
) -> None:
    engine = _engine(fresh_database_url, idle_seconds=3600)
    try:
        first = await _backend_pid(engine)
        await _terminate(fresh_database_url, first)
        # Not idle long enough to be pinged: the statement meets the dead connection...
        with pytest.raises(DBAPIError) as failure:
            await _backend_pid(engine)
        assert failure.value.connection_invalidated
        # ... and the pool has replaced it for the next unit of work.
        assert await _backend_pid(engine) != first
    finally:
        await engine.dispose()


async def test_a_read_on_the_driver_connection_reports_a_dead_connection_as_sqlalchemy_does(
    fresh_database_url: str,
) -> None:
    # The API's hottest reads run straight on asyncpg (repositories/driver.py): a connection
    # PostgreSQL dropped must still be SQLAlchemy's invalidated-connection error (a 503 to
    # retry), and the pool renewed.
    engine = _engine(fresh_database_url, idle_seconds=3600)
    try:
        first = await _backend_pid(engine)
        async with engine.connect() as connection:
            assert [tuple(r) for r in await fetch(connection, "SELECT $1::int", 7)] == [(7,)]
        await _terminate(fresh_database_url, first)
        with pytest.raises(DBAPIError) as failure:
            async with engine.connect() as connection:
                await fetch(connection, "SELECT 1")
        assert failure.value.connection_invalidated
        assert await _backend_pid(engine) != first
    finally:
        await engine.dispose()


async def test_a_bare_pooled_read_reports_a_dead_connection_as_sqlalchemy_does(
    fresh_database_url: str,
) -> None:
    # The API's reads check a connection out bare (driver.pooled): the same 503-to-retry
    # error, every older connection of the pool replaced, and the next read succeeds.
    engine = _engine(fresh_database_url, idle_seconds=3600)
    try:
        async with pooled(engine) as connection:
            first = (await fetch(connection, "SELECT pg_backend_pid()"))[0][0]
        await _terminate(fresh_database_url, first)
        with pytest.raises(DBAPIError) as failure:
            async with pooled(engine) as connection:
                await fetch(connection, "SELECT 1")
        assert failure.value.connection_invalidated
        async with pooled(engine) as connection:
            assert (await fetch(connection, "SELECT pg_backend_pid()"))[0][0] != first
    finally:
        await engine.dispose()


async def test_a_bare_pooled_read_gets_an_idle_connection_pinged_and_replaced(
    fresh_database_url: str,
) -> None:
    clock = Clock()
    engine = _engine(fresh_database_url, idle_seconds=60, clock=clock)
    try:
        async with pooled(engine) as connection:
            first = (await fetch(connection, "SELECT pg_backend_pid()"))[0][0]
        await _terminate(fresh_database_url, first)
        clock.now += 61  # the pool's checkout events apply to a bare checkout too
        async with pooled(engine) as connection:
            assert (await fetch(connection, "SELECT pg_backend_pid()"))[0][0] != first
    finally:
        await engine.dispose()


async def test_a_bare_pooled_read_runs_outside_any_transaction(fresh_database_url: str) -> None:
    engine = _engine(fresh_database_url, idle_seconds=3600)
    try:
        async with pooled(engine) as connection:
            # No BEGIN was sent: each statement is its own transaction.
            first = await fetch(connection, "SELECT txid_current()")
            second = await fetch(connection, "SELECT txid_current()")
            assert first[0][0] != second[0][0]
        async with engine.connect() as connection:  # the pool's connection came back whole
            assert await connection.scalar(text("SELECT 1")) == 1
    finally:
        await engine.dispose()


async def test_a_burst_past_the_pool_waits_for_connections_instead_of_churning_them(
    fresh_database_url: str,
) -> None:
    """The default pool opens at most its size and closes none under a burst beyond it:
    overflow connections (opened past the pool, closed on return while it is full) cost a
    backend fork and a new session each, over and over while a process is saturated."""
    settings = PriceAlertSettings(environment="test", database_url=fresh_database_url)
    engine = create_engine(settings)
    opened: list[object] = []
    closed: list[object] = []
    event.listen(engine.sync_engine.pool, "connect", lambda dbapi, record: opened.append(dbapi))
    event.listen(engine.sync_engine.pool, "close", lambda dbapi, record: closed.append(dbapi))

    async def hold() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT pg_sleep(0.02)"))

    try:
        for _ in range(3):
            await asyncio.gather(*(hold() for _ in range(3 * settings.database_pool_size)))
        assert len(opened) == settings.database_pool_size
        assert closed == []
        assert engine.sync_engine.pool.checkedin() == settings.database_pool_size  # type: ignore[attr-defined]
    finally:
        await engine.dispose()
