"""The migrations build the schema the models describe, and the newest one goes back down."""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from pricealert.db.migrate import alembic_config, upgrade
from pricealert.models import Base


async def _differences(engine: AsyncEngine) -> list[object]:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: list(compare_metadata(MigrationContext.configure(sync), Base.metadata))
        )


async def test_the_migrated_schema_is_the_models_schema(engine: AsyncEngine) -> None:
    assert await _differences(engine) == []


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
            # What a failed build leaves: an index of the name, unusable by the planner.
            await connection.execute(
                text("CREATE INDEX ix_price_history_unevaluated_product ON price_history (id)")
            )
            await connection.execute(
                text("UPDATE pg_index SET indisvalid = false WHERE indexrelid = "
                     "'ix_price_history_unevaluated_product'::regclass")
            )  # fmt: skip
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
