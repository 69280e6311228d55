"""Reads run straight on the asyncpg connection under a SQLAlchemy one.

For the API's hottest reads (a page of products, a product's history and statistics): one
fixed SQL text, prepared once per connection by asyncpg's own statement cache, its rows
returned as asyncpg Records (C objects: `dict(record)` and the JSON encoder read them without
Python-level work). SQLAlchemy's execution context, result and row processing cost about as
much Python as the rest of such a request; these statements need none of it (their values
are already the Python types SQLAlchemy would give: Decimal, aware datetime, UUID, str).

The connection stays SQLAlchemy's: checked out from its pool, in its transaction if any (a
test's), released by it. A connection PostgreSQL dropped is reported as SQLAlchemy would:
the pool is invalidated and a `DBAPIError` with `connection_invalidated` raised (the API
answers 503, retry).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection


async def fetch(connection: AsyncConnection, sql: str, *args: Any) -> list[Any]:
    """The rows of one statement (`$1`-style parameters) as asyncpg Records."""
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    try:
        rows: list[Any] = await driver.fetch(sql, *args)
    except Exception:
        if driver.is_closed():
            # Let SQLAlchemy meet the closed connection: it invalidates the pool and raises
            # its DBAPIError(connection_invalidated=True), as for any of its own statements.
            await connection.exec_driver_sql("SELECT 1")
        raise
    return rows
