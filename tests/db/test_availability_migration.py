"""The availability migration on a database with data: backfill, derived in_stock, and back.

Alembic runs its own event loop, so these tests are synchronous and talk to their
database of their own through short `asyncio.run` calls.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from pricealert.db.migrate import alembic_config, upgrade
from pricealert.models import Base
from tests.conftest import PG_HOST, admin_execute, async_url, drop_database

BEFORE = "5c1e9a7d3b42"  # the revision before availability
AVAILABILITY = "315ed5e22cd9"


@pytest.fixture
def empty_database() -> Iterator[str]:
    name = f"pricealert_test_{os.getpid()}_mig_{uuid.uuid4().hex[:8]}"
    admin_execute(f'CREATE DATABASE "{name}"')
    yield name
    drop_database(name)


def sql(database: str, statement: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        connection = await asyncpg.connect(f"postgresql://{PG_HOST}/{database}")
        try:
            return list(await connection.fetch(statement, *args))
        finally:
            await connection.close()

    return asyncio.run(run())


def _seed(database: str) -> None:
    """Three products, in stock, out of stock and unknown, each with one history row."""
    for index, in_stock in enumerate((True, False, None)):
        sql(
            database,
            "INSERT INTO product (url, domain, check_interval_seconds, price, currency, in_stock)"
            " VALUES ($1, 'shop', 3600, 100, 'JPY', $2)",
            f"https://shop.example/p/{index}",
            in_stock,
        )
    sql(
        database,
        "INSERT INTO price_history (product_id, price, currency, in_stock, first_seen_at,"
        " last_seen_at) SELECT id, price, currency, in_stock, now(), now() FROM product",
    )


def test_upgrading_backfills_availability_from_in_stock_and_derives_in_stock(
    empty_database: str,
) -> None:
    url = async_url(empty_database)
    upgrade(BEFORE, database_url=url)
    _seed(empty_database)

    upgrade(AVAILABILITY, database_url=url)

    for table in ("product", "price_history"):
        rows = sql(empty_database, f"SELECT availability, in_stock FROM {table} ORDER BY id")  # noqa: S608
        assert [(r["availability"], r["in_stock"]) for r in rows] == [
            ("InStock", True), ("OutOfStock", False), (None, None),
        ], table  # fmt: skip
    # in_stock follows availability from now on, for every name
    sql(empty_database, "UPDATE product SET availability = 'PreOrder' WHERE availability IS NULL")
    sql(empty_database, "UPDATE product SET availability = 'LimitedAvailability' WHERE in_stock")
    rows = sql(empty_database, "SELECT availability, in_stock FROM product ORDER BY id")
    assert [(r["availability"], r["in_stock"]) for r in rows] == [
        ("LimitedAvailability", True), ("OutOfStock", False), ("PreOrder", False),
    ]  # fmt: skip


def test_in_stock_cannot_be_written_and_availability_takes_only_the_ten_names(
    empty_database: str,
) -> None:
    upgrade(AVAILABILITY, database_url=async_url(empty_database))
    insert = (
        "INSERT INTO product (url, domain, check_interval_seconds, {column})"
        " VALUES ('https://shop.example/p', 'shop', 3600, $1)"
    )
    with pytest.raises(asyncpg.GeneratedAlwaysError):
        sql(empty_database, insert.format(column="in_stock"), True)
    with pytest.raises(asyncpg.CheckViolationError, match="ck_product_availability"):
        sql(empty_database, insert.format(column="availability"), "in stock")
    with pytest.raises(asyncpg.CheckViolationError, match="ck_price_history_availability"):
        sql(
            empty_database,
            "INSERT INTO price_history (product_id, availability, first_seen_at, last_seen_at)"
            " VALUES (1, 'instock', now(), now())",
        )


def test_downgrading_restores_a_plain_in_stock_column(empty_database: str) -> None:
    url = async_url(empty_database)
    upgrade(BEFORE, database_url=url)
    _seed(empty_database)
    upgrade(AVAILABILITY, database_url=url)
    sql(empty_database, "UPDATE product SET availability = 'BackOrder' WHERE availability IS NULL")

    command.downgrade(alembic_config(url), BEFORE)

    rows = sql(empty_database, "SELECT in_stock FROM product ORDER BY id")
    assert [r["in_stock"] for r in rows] == [True, False, False]
    columns = sql(
        empty_database,
        "SELECT column_name, is_generated FROM information_schema.columns"
        " WHERE table_name = 'product' AND column_name IN ('in_stock', 'availability')",
    )
    assert [(c["column_name"], c["is_generated"]) for c in columns] == [("in_stock", "NEVER")]
    sql(empty_database, "UPDATE product SET in_stock = NULL")  # writable again


def test_the_models_describe_the_migrated_availability_columns(empty_database: str) -> None:
    upgrade("head", database_url=async_url(empty_database))

    async def differences() -> list[Any]:
        engine = create_async_engine(async_url(empty_database))
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(
                    lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
                )
        finally:
            await engine.dispose()

    diff = asyncio.run(differences())
    assert [d for d in diff if "availability" in repr(d) or "in_stock" in repr(d)] == []
    generated = sql(
        empty_database,
        "SELECT table_name, generation_expression FROM information_schema.columns"
        " WHERE column_name = 'in_stock' ORDER BY table_name",
    )
    assert [g["table_name"] for g in generated] == ["price_history", "product"]
    for row in generated:
        for name in ("InStock", "LimitedAvailability", "InStoreOnly", "OnlineOnly"):
            assert name in row["generation_expression"]
        assert "PreOrder" not in row["generation_expression"]
