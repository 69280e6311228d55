"""Alembic, driven from Python: `pricealert migrate` and the tests use this."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from alembic import command
from alembic.config import Config

from pricealert.settings import PriceAlertSettings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str | None = None) -> Config:
    """An Alembic config for the packaged migrations and the given (or configured) database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url or PriceAlertSettings().database_url)
    return config


def upgrade(revision: str = "head", *, database_url: str | None = None) -> None:
    """Upgrade the database schema to `revision`, creating the database first if missing."""
    url = database_url or PriceAlertSettings().database_url
    asyncio.run(ensure_database(url))
    command.upgrade(alembic_config(url), revision)


async def ensure_database(url: str) -> bool:
    """Create the database `url` names when it does not exist yet; True if it was created."""
    import asyncpg

    parts = urlsplit(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    connection = await asyncpg.connect(admin)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        quoted = '"' + name.replace('"', '""') + '"'
        await connection.execute(f"CREATE DATABASE {quoted}")
        return True
    finally:
        await connection.close()


def current_heads() -> set[str]:
    """Head revisions of the packaged migrations (a worker refuses to start on an older schema)."""
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config("postgresql://unused")).get_heads())
