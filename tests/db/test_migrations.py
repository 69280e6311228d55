"""The migrations build the schema the models describe, and the newest one goes back down."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from pricealert.db.migrate import alembic_config, upgrade
from pricealert.models import Base


async def _differences(engine: AsyncEngine) -> list[object]:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: list(compare_metadata(MigrationContext.configure(sync), Base.metadata))
        )


async def _leave_a_failed_build(connection: AsyncConnection, name: str) -> None:
    """What a CONCURRENTLY build that failed half-way leaves: an index of the name,
    INVALID (unusable by the planner)."""
    await connection.execute(text(f"CREATE INDEX {name} ON price_history (id)"))
    await connection.execute(
        text("UPDATE pg_index SET indisvalid = false WHERE indexrelid = CAST(:name AS regclass)"),
        {"name": name},
    )


async def test_the_migrated_schema_is_the_models_schema(engine: AsyncEngine) -> None:
    assert await _differences(engine) == []


async def test_every_revision_goes_down_to_an_empty_database_and_up_again(
    fresh_database_url: str,
) -> None:
    # Once broken unnoticed: a downgrade named a constraint without op.f, the naming
    # convention made it a name that did not exist, and `downgrade base` failed.
    tables = text(
        "SELECT count(*) FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i', 'S')"
        " AND c.relname NOT LIKE 'alembic_version%'"  # alembic's own table and its key
    )
    config = alembic_config(fresh_database_url)
    engine = create_async_engine(fresh_database_url)
    try:
        await asyncio.to_thread(command.downgrade, config, "base")
        async with engine.connect() as connection:
            assert await connection.scalar(tables) == 0  # no table, index or sequence left
        await asyncio.to_thread(upgrade, "head", database_url=fresh_database_url)
        assert await _differences(engine) == []
    finally:
        await engine.dispose()


async def test_verification_goes_down_and_up_again_keeping_channels(
    fresh_database_url: str,
) -> None:
    engine = create_async_engine(fresh_database_url)
    try:
        async with engine.begin() as connection:
            user = await connection.scalar(
                text("INSERT INTO app_user (id, email) VALUES (gen_random_uuid(), 'a@x.example')"
                     " RETURNING id")
            )  # fmt: skip
            await connection.execute(
                text("INSERT INTO channel (id, user_id, kind, target, verified_at) "
                     "VALUES (gen_random_uuid(), :user, 'email', 'a@x.example', NULL)"),
                {"user": user},
            )  # fmt: skip
        config = alembic_config(fresh_database_url)
        await engine.dispose()
        # Alembic runs its own event loop: in a thread of its own.
        await asyncio.to_thread(command.downgrade, config, "315ed5e22cd9")  # before tokens
        await asyncio.to_thread(upgrade, "head", database_url=fresh_database_url)
        async with engine.connect() as connection:
            verified = await connection.scalar(text("SELECT verified_at FROM channel"))
        assert verified is not None  # channels from before verification count as verified
        assert await _differences(engine) == []
    finally:
        await engine.dispose()


async def test_the_unevaluated_rows_index_is_built_concurrently_over_a_failed_build(
    fresh_database_url: str,
) -> None:
    """A CONCURRENTLY build that failed half-way leaves an INVALID index of its name: the
    upgrade replaces it with the valid one, and it goes down and up again."""
    config = alembic_config(fresh_database_url)
    await asyncio.to_thread(command.downgrade, config, "9e4b7c21d5a8")  # before the index
    engine = create_async_engine(fresh_database_url)
    check = text(
        "SELECT i.indisvalid, pg_get_indexdef(i.indexrelid) FROM pg_index AS i "
        "JOIN pg_class AS c ON c.oid = i.indexrelid "
        "WHERE c.relname = 'ix_price_history_unevaluated_product'"
    )
    try:
        async with engine.begin() as connection:
            await _leave_a_failed_build(connection, "ix_price_history_unevaluated_product")
        await asyncio.to_thread(upgrade, "head", database_url=fresh_database_url)
        async with engine.connect() as connection:
            valid, definition = (await connection.execute(check)).one()
        assert valid
        assert "(product_id, first_seen_at, id) WHERE (evaluated_at IS NULL)" in definition
        await asyncio.to_thread(command.downgrade, config, "9e4b7c21d5a8")
        async with engine.connect() as connection:
            assert (await connection.execute(check)).first() is None
        await asyncio.to_thread(upgrade, "head", database_url=fresh_database_url)
        assert await _differences(engine) == []
    finally:
        await engine.dispose()


async def test_a_products_statistics_read_its_history_from_the_index_alone(
    fresh_database_url: str,
) -> None:
    # Shaped as in production: each product's rows scattered over the table (written
    # between every other product's), vacuumed as autovacuum leaves an append-mostly
    # table. The statistics' read must not visit a heap page per row.
    import uuid
    from datetime import UTC, datetime, timedelta

    import asyncpg

    from pricealert.repositories.prices import _STATS_SQL

    connection = await asyncpg.connect(fresh_database_url.replace("+asyncpg", ""))
    try:
        user = await connection.fetchval(
            "INSERT INTO app_user (id, email) VALUES (gen_random_uuid(), 's@x.example')"
            " RETURNING id"
        )
        await connection.execute(
            "INSERT INTO product (url, domain, check_interval_seconds, price, currency)"
            " SELECT 'https://shop.example/' || n, 'shop.example', 3600, 100, 'JPY'"
            " FROM generate_series(1, 200) AS n"
        )
        now = datetime(2026, 12, 1, tzinfo=UTC)
        await connection.execute(
            "INSERT INTO price_history (product_id, price, currency, first_seen_at,"
            " last_seen_at) SELECT p.id, 100 + n % 7, 'JPY', t, t FROM generate_series(1, 100)"
            " AS n, product AS p, LATERAL (SELECT $1::timestamptz - n * interval '1 day' AS t)"
            " AS at ORDER BY n, p.id",
            now,
        )
        watch = uuid.uuid4()
        await connection.execute(
            "INSERT INTO watch (id, user_id, product_id, check_interval_seconds)"
            " SELECT $1, $2, min(id), 3600 FROM product",
            watch,
            user,
        )
        await connection.execute("VACUUM (ANALYZE) price_history")
        explained = await connection.fetchval(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + _STATS_SQL,
            user, watch, now, now - timedelta(days=30), now - timedelta(days=90),
        )  # fmt: skip
    finally:
        await connection.close()
    scans: list[dict[str, Any]] = []

    def walk(node: dict[str, Any]) -> None:
        if node.get("Relation Name") == "price_history":
            scans.append(node)
        for child in node.get("Plans", []):
            walk(child)

    walk(json.loads(explained)[0]["Plan"])
    assert [s["Node Type"] for s in scans] == ["Index Only Scan"], scans
    assert scans[0]["Index Name"] == "ix_price_history_product_seen_price"
    assert scans[0]["Actual Rows"] == 100
    assert scans[0]["Heap Fetches"] == 0


async def test_the_history_index_is_replaced_concurrently_and_goes_back_down(
    fresh_database_url: str,
) -> None:
    config = alembic_config(fresh_database_url)
    engine = create_async_engine(fresh_database_url)
    indexes = text(
        "SELECT c.relname, i.indisvalid, pg_get_indexdef(i.indexrelid) FROM pg_index AS i"
        " JOIN pg_class AS c ON c.oid = i.indexrelid"
        " WHERE c.relname LIKE 'ix_price_history_product_seen%' ORDER BY c.relname"
    )
    try:
        await asyncio.to_thread(command.downgrade, config, "c3a8e5f1b7d2")
        async with engine.begin() as connection:
            assert [r[0] for r in await connection.execute(indexes)] == [
                "ix_price_history_product_seen"
            ]
            await _leave_a_failed_build(connection, "ix_price_history_product_seen_price")
        await asyncio.to_thread(upgrade, "head", database_url=fresh_database_url)
        async with engine.connect() as connection:
            ((name, valid, definition),) = (await connection.execute(indexes)).all()
        assert (name, valid) == ("ix_price_history_product_seen_price", True)
        assert "(product_id, first_seen_at) INCLUDE (price, currency)" in definition
        assert await _differences(engine) == []
    finally:
        await engine.dispose()
