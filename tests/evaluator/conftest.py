"""Evaluator and notifier fixtures: Redis db 14, and sessions inside the test's transaction."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from pricealert.queues import queue_client

#: Redis database 14 belongs to the evaluator and notifier suites.
REDIS_URL = os.environ.get("PRICEALERT_TEST_REDIS", "redis://127.0.0.1:6379") + "/14"


@pytest.fixture
async def redis() -> AsyncIterator[ArqRedis]:
    client = queue_client(REDIS_URL)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose(close_connection_pool=True)


@pytest.fixture
def sessionmaker(db_connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Sessions whose commits are savepoints of the test's transaction (rolled back after)."""
    return async_sessionmaker(
        bind=db_connection,
        join_transaction_mode="create_savepoint",
        expire_on_commit=False,
        autoflush=False,
    )
