"""Fixtures every test shares: real PostgreSQL and Redis, isolated per test.

- `template_database_url`: a database migrated by Alembic once per session; new
  databases are cloned from it (`CREATE DATABASE ... TEMPLATE`), which is fast.
- `database_url`: the session's working database (a clone of the template).
- `db_session`: a session inside a transaction that is rolled back after the test
  (`join_transaction_mode="create_savepoint"`: code under test may commit freely).
- `fresh_database_url`: a database of its own for tests whose data must really be
  committed (real worker processes, schemathesis), dropped afterwards.
- `redis_url`: the suite's Redis database, flushed before and after each test;
  `redis`: an arq client on it. The one Redis fixture: every suite reuses it.
- `sessionmaker`: sessions whose commits are savepoints of `db_connection`'s transaction.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis as sync_redis
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from pricealert.db.migrate import upgrade
from pricealert.queues import queue_client

PG_HOST = os.environ.get("PRICEALERT_TEST_PG", "postgres@127.0.0.1:5432")
ADMIN_URL = f"postgresql://{PG_HOST}/postgres"
REDIS_BASE = os.environ.get("PRICEALERT_TEST_REDIS", "redis://127.0.0.1:6379")
#: Redis databases 1-9 belong to the main suite; 10-15 to component suites.
MAIN_REDIS_DB = 1


def async_url(name: str) -> str:
    return f"postgresql+asyncpg://{PG_HOST}/{name}"


def admin_execute(*statements: str) -> None:
    """Run statements on the maintenance database (CREATE/DROP DATABASE)."""
    import asyncio
    import concurrent.futures

    import asyncpg

    async def run() -> None:
        connection = await asyncpg.connect(ADMIN_URL)
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    # In a thread of its own: callers may be inside a running event loop (async fixtures).
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, run()).result()


def clone_database(template: str, name: str) -> None:
    admin_execute(
        f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
        f'CREATE DATABASE "{name}" TEMPLATE "{template}"',
    )


def drop_database(name: str) -> None:
    admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def template_database() -> Iterator[str]:
    name = f"pricealert_test_tpl_{os.getpid()}"
    admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    upgrade("head", database_url=async_url(name))
    yield name
    drop_database(name)


@pytest.fixture(scope="session")
def database_url(template_database: str) -> Iterator[str]:
    name = f"pricealert_test_{os.getpid()}"
    clone_database(template_database, name)
    yield async_url(name)
    drop_database(name)


@pytest.fixture
def fresh_database_url(template_database: str) -> Iterator[str]:
    name = f"pricealert_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    clone_database(template_database, name)
    yield async_url(name)
    drop_database(name)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture
async def db_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as connection:
        transaction = await connection.begin()
        yield connection
        await transaction.rollback()


@pytest.fixture
async def db_session(db_connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    session = AsyncSession(
        bind=db_connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    yield session
    await session.close()


@pytest.fixture
def redis_url() -> Iterator[str]:
    url = f"{REDIS_BASE}/{MAIN_REDIS_DB}"
    client = sync_redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[ArqRedis]:
    client = queue_client(redis_url)
    yield client
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
