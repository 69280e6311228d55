"""`pricealert run api|web|scraper|evaluator|notifier|all`: the services under one supervisor.

Refuses to start (a named error, exit 2) when another run of this checkout holds
`.local/run.lock` or a port it needs is taken, rather than restarting children
that cannot bind forever.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
from pathlib import Path
from typing import Any

from pricealert.cli import CommandError
from pricealert.logging import configure_logging
from pricealert.settings import PriceAlertSettings
from pricealert.supervised import METRICS_PORT_OFFSETS, SERVICES
from pricealert_ops.cli import add_top_command
from pricealert_ops.supervisor import AlreadyRunning, RunLock, Supervisor

DEFAULT_METRICS_PORT_BASE = 9100


def register(subparsers: Any) -> None:
    command = add_top_command(subparsers, "run", _run)
    command.add_argument("services", nargs="+", choices=[*SERVICES, "all"], metavar="SERVICE")
    command.add_argument("--instances", type=int, default=1, help="processes per worker service")
    command.add_argument("--host", default=None, help="API bind address (PRICEALERT_API_HOST)")
    command.add_argument("--port", type=int, default=None, help="API port (PRICEALERT_API_PORT)")
    command.add_argument(
        "--web-port", type=int, default=None, help="web UI port (PRICEALERT_WEB_PORT, 8080)"
    )
    command.add_argument(
        "--metrics-port-base",
        type=int,
        default=None,
        help="workers serve /metrics on base+1 (scraper), +2 (evaluator), +3 (notifier); 0: off "
        f"(PRICEALERT_METRICS_PORT_BASE, default {DEFAULT_METRICS_PORT_BASE})",
    )
    command.add_argument(
        "--lock-file",
        type=Path,
        default=None,
        help="one run per lock file (default: .local/run.lock, under PRICEALERT_LOCAL_DIR)",
    )


def _metrics_port_base(value: int | None) -> int:
    if value is not None:
        return value
    raw = os.environ.get("PRICEALERT_METRICS_PORT_BASE", str(DEFAULT_METRICS_PORT_BASE))
    try:
        return int(raw)
    except ValueError:
        raise CommandError(
            "invalid_argument", f"PRICEALERT_METRICS_PORT_BASE={raw!r} is not a number"
        ) from None


def _port_taken(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        # As uvicorn binds: connections of a run just stopped, in TIME_WAIT, do not hold the
        # port (the web UI's pooled connections to the API leave some); a listener does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _check_ports(supervisor: Supervisor) -> None:
    """Name a taken port now, instead of a child failing to bind and restarting forever."""
    wanted: list[tuple[str, int, str]] = []
    if "api" in supervisor.services:
        wanted.append((supervisor.host, supervisor.port, "the API (PRICEALERT_API_PORT, --port)"))
    if "web" in supervisor.services:
        wanted.append(
            (supervisor.host, supervisor.web_port, "the web UI (PRICEALERT_WEB_PORT, --web-port)")
        )
    if supervisor.metrics_port_base:
        for child in supervisor.children:
            metrics_port = child.env.get("PRICEALERT_METRICS_PORT")
            if metrics_port:
                what = (
                    f"{child.name}'s /metrics (--metrics-port-base, PRICEALERT_METRICS_PORT_BASE)"
                )
                wanted.append(("0.0.0.0", int(metrics_port), what))  # noqa: S104 - workers bind
    for host, port, what in wanted:
        if _port_taken(host, port):
            raise CommandError(
                "port_in_use", f"port {port} is taken (wanted for {what}); choose another"
            )


def _run(args: argparse.Namespace) -> int:
    if args.instances < 1:
        raise CommandError("invalid_argument", "--instances must be at least 1")
    settings = PriceAlertSettings()
    services = list(SERVICES) if "all" in args.services else list(dict.fromkeys(args.services))
    metrics_base = _metrics_port_base(args.metrics_port_base)
    if (
        metrics_base
        and metrics_base + max(METRICS_PORT_OFFSETS.values()) + 100 * (args.instances - 1) > 65535
    ):
        raise CommandError("invalid_argument", f"--metrics-port-base {metrics_base} is too high")
    lock_path = args.lock_file or Path(os.environ.get("PRICEALERT_LOCAL_DIR") or ".local")
    if args.lock_file is None:
        lock_path = lock_path / "run.lock"
    lock = RunLock(lock_path)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        raise CommandError("already_running", str(exc)) from exc
    try:
        configure_logging("supervisor")
        supervisor = Supervisor(
            services=services,
            instances=args.instances,
            host=args.host or settings.api_host,
            port=args.port or settings.api_port,
            web_port=args.web_port or settings.web_port,
            metrics_port_base=metrics_base,
            pass_fds=(lock.fd,) if lock.fd is not None else (),
        )
        _check_ports(supervisor)
        return asyncio.run(supervisor.run())
    finally:
        lock.release()
