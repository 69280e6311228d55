"""`pricealert run api|scraper|evaluator|notifier|all`: the services under one supervisor."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from pricealert.cli import CommandError, add_command
from pricealert.logging import configure_logging
from pricealert.settings import PriceAlertSettings
from pricealert.supervisor import SERVICES, Supervisor


def register(subparsers: Any) -> None:
    command = add_command(
        subparsers, "run", _run, "Run services, restarting any that exits (Ctrl-C stops all)."
    )
    command.add_argument("services", nargs="+", choices=[*SERVICES, "all"], metavar="SERVICE")
    command.add_argument("--instances", type=int, default=1, help="processes per worker service")
    command.add_argument("--host", default=None, help="API bind address (PRICEALERT_API_HOST)")
    command.add_argument("--port", type=int, default=None, help="API port (PRICEALERT_API_PORT)")
    command.add_argument(
        "--metrics-port-base",
        type=int,
        default=9100,
        help="workers serve /metrics on base+1 (scraper), +2 (evaluator), +3 (notifier); 0: off",
    )


def _run(args: argparse.Namespace) -> int:
    if args.instances < 1:
        raise CommandError("invalid_argument", "--instances must be at least 1")
    settings = PriceAlertSettings()
    services = list(SERVICES) if "all" in args.services else list(dict.fromkeys(args.services))
    configure_logging("supervisor")
    supervisor = Supervisor(
        services=services,
        instances=args.instances,
        host=args.host or settings.api_host,
        port=args.port or settings.api_port,
        metrics_port_base=args.metrics_port_base,
    )
    return asyncio.run(supervisor.run())
