"""Reads run straight on the asyncpg connection of SQLAlchemy's pool.

For the API's hottest reads (a product, a page of products, a product's history and
statistics): one fixed SQL text, prepared once per connection by asyncpg's own statement
cache, its rows returned as asyncpg Records (C objects: `dict(record)` and the JSON encoder
read them without Python-level work). SQLAlchemy's execution context, result and row
processing cost about as much Python as the rest of such a request; these statements need
none of it (their values are already the Python types SQLAlchemy would give: Decimal, aware
datetime, UUID, str).

The connection stays SQLAlchemy's pool's: either under a SQLAlchemy `AsyncConnection` (in its
transaction, if any: a session's, a test's), or checked out bare with `pooled` (no
`Connection` object around it, no transaction: each statement sees what was committed when
it started; measured here, the bare checkout and return cost 80 µs of CPU against 165 µs for
`engine.connect()`), with the pool's own checkout events (the idle ping) either way. A
connection PostgreSQL dropped is reported as SQLAlchemy would: the pool is invalidated and a
`DBAPIError` with `connection_invalidated` raised (the API answers 503, retry).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn


class PooledConnection:
    """A connection of an engine's pool checked out without a SQLAlchemy `Connection`."""

    __slots__ = ("driver", "engine", "proxied")

    def __init__(self, engine: AsyncEngine, proxied: PoolProxiedConnection) -> None:
        self.engine = engine
        self.proxied = proxied
        self.driver: Any = proxied.driver_connection

    def lost(self, sql: str, error: Exception) -> DBAPIError:
        """What SQLAlchemy does when a statement finds its connection gone: every connection
        of the pool made before now is replaced at its next checkout (this one at once), and
        the error says the connection was invalidated."""
        self.engine.sync_engine.pool._invalidate(self.proxied, error)
        return DBAPIError(sql, None, error, connection_invalidated=True)


#: What the reads below run on.
Readable = AsyncConnection | PooledConnection


class pooled:
    """A connection of `engine`'s pool for reads, returned to it at the end of the block.

    A class, not an `@asynccontextmanager`: a generator-based one costs an async generator
    per request (created, registered with the loop's weak set, finalised)."""

    __slots__ = ("_connection", "_engine")

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: PooledConnection | None = None

    async def __aenter__(self) -> PooledConnection:
        self._connection = PooledConnection(self._engine, await self._engine.raw_connection())
        return self._connection

    async def __aexit__(self, *_: object) -> None:
        if self._connection is not None:
            proxied, self._connection = self._connection.proxied, None
            await greenlet_spawn(proxied.close)


async def fetch(connection: Readable, sql: str, *args: Any) -> list[Any]:
    """The rows of one statement (`$1`-style parameters) as asyncpg Records."""
    if isinstance(connection, PooledConnection):
        driver = connection.driver
    else:
        driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    try:
        rows: list[Any] = await driver.fetch(sql, *args)
    except Exception as error:
        if driver.is_closed():
            if isinstance(connection, PooledConnection):
                raise connection.lost(sql, error) from error
            # Let SQLAlchemy meet the closed connection: it invalidates the pool and raises
            # its DBAPIError(connection_invalidated=True), as for any of its own statements.
            await connection.exec_driver_sql("SELECT 1")
        raise
    return rows
