"""`pricealert migrate`: apply Alembic migrations (upgrade to head, or a given revision)."""

from __future__ import annotations

import argparse
from typing import Any

from pricealert.cli import add_command


def register(subparsers: Any) -> None:
    command = add_command(subparsers, "migrate", _migrate, "Apply database migrations.")
    command.add_argument("revision", nargs="?", default="head", help="target (default: head)")
    command.add_argument("--database-url", help="overrides PRICEALERT_DATABASE_URL")


def _migrate(args: argparse.Namespace) -> int:
    from pricealert.db.migrate import upgrade

    upgrade(args.revision, database_url=args.database_url)
    return 0
