"""Alembic, driven from Python: `pricealert migrate` and the tests use this."""

from __future__ import annotations

from pathlib import Path

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
    """Upgrade the database schema to `revision`."""
    command.upgrade(alembic_config(database_url), revision)


def current_heads() -> set[str]:
    """Head revisions of the packaged migrations (a worker refuses to start on an older schema)."""
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config("postgresql://unused")).get_heads())
