"""A service's side of being supervised, and the command that runs each service.

The runtime's part of `pricealert run`'s contract (the supervisor itself is developer
tooling, in `pricealert_ops.supervisor`): the exit code of a child that cannot start,
how a worker says READY, and the one command line per service that Docker, ECS and
`pricealert run` all use (`tests/test_compose.py` checks they agree).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from typing import Final

SERVICES: Final = ("api", "web", "scraper", "evaluator", "notifier")
#: The HTTP services: one process each (uvicorn), the others are arq workers.
HTTP_SERVICES: Final = ("api", "web")
#: Each worker's /metrics port: base + offset, + 100 per extra instance.
METRICS_PORT_OFFSETS: Final = {"scraper": 1, "evaluator": 2, "notifier": 3}
#: A child exiting with this cannot start until a person fixes something (sysexits EX_CONFIG).
EXIT_CANNOT_START: Final = 78
#: Where a supervised worker says READY (an abstract Unix datagram socket, `@name`).
READY_SOCKET_ENV: Final = "PRICEALERT_READY_SOCKET"
#: The child's name (`scraper-0`) in its READY message.
CHILD_NAME_ENV: Final = "PRICEALERT_SUPERVISED_AS"


def notify_ready() -> None:
    """Tell the supervisor (if any) that this process is ready; harmless when unsupervised."""
    address = os.environ.get(READY_SOCKET_ENV, "")
    name = os.environ.get(CHILD_NAME_ENV, "")
    if not address or not name:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock, contextlib.suppress(OSError):
        sock.sendto(f"READY {name}".encode(), socket_address(address))


def socket_address(address: str) -> str:
    """The address `bind`/`sendto` take: `@name` is Linux's abstract namespace."""
    return "\0" + address[1:] if address.startswith("@") else address


def worker_command(service: str) -> list[str]:
    """The arq command of a worker, its own log lines JSON like every other line."""
    return [
        "arq", "--custom-log-dict", "pricealert.logging.ARQ_LOG_CONFIG",
        f"services.{service}.worker.WorkerSettings",
    ]  # fmt: skip


def service_command(service: str, *, host: str, port: int, web_port: int = 8080) -> list[str]:
    """The command that runs one service (the same in Docker, ECS and here); `port` is the
    API's, `web_port` the web UI's."""
    if service in HTTP_SERVICES:
        return [
            sys.executable, "-m", "uvicorn", f"services.{service}.main:app",
            "--host", host, "--port", str(port if service == "api" else web_port),
            "--no-access-log", "--proxy-headers", "--loop", "uvloop", "--http", "httptools",
        ]  # fmt: skip
    if service in SERVICES:
        return [sys.executable, "-m", *worker_command(service)]
    raise ValueError(f"unknown service {service!r}")
