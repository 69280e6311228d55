"""An open-loop HTTP load generator, run as its own process by `bench_api.py`.

Open loop: request i is due at `start + i / rate` whatever happened to earlier
ones, and its latency is measured from that due time, not from when a free
connection finally sent it. A slow server therefore shows up as latency
(queueing included) instead of silently lowering the offered load, the error
closed-loop tools like `wrk` make ("coordinated omission").

HTTP/1.1 keep-alive over raw asyncio protocols on uvloop: the generator must
stay cheap, since it shares two cores with the server it measures. Its own CPU
time is reported so that cost is visible.

    echo '{"port": 8000, "rate": 1000, "duration": 10, "paths": ["/healthz"]}' \
        | python -m scripts.bench.api_load
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any, cast

import uvloop

from scripts.bench.common import percentile

Done = Callable[[int, float], None]


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self, on_lost: Callable[[_Connection], None]) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._done: Done | None = None
        self._due = 0.0
        self._on_lost = on_lost

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but speak its interface.
        self.transport = cast(asyncio.Transport, transport)

    def send(self, request: bytes, due: float, done: Done) -> None:
        assert self.transport is not None
        self._done, self._due = done, due
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self._buffer[:end]).split(b"\r\n")
        length = 0
        for line in head[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(self._buffer) < end + 4 + length:
            return
        del self._buffer[: end + 4 + length]
        status = int(head[0].split(b" ", 2)[1])
        done, self._done = self._done, None
        if done is not None:
            done(status, self._due)

    def connection_lost(self, exc: Exception | None) -> None:
        done, self._done = self._done, None
        self.transport = None
        if done is not None:
            done(0, self._due)  # status 0: the connection failed under the request
        self._on_lost(self)


async def drive(config: dict[str, Any]) -> dict[str, Any]:
    """Offer `rate` requests/s for `duration` s over `paths` in turn; report what came back."""
    loop = asyncio.get_running_loop()
    host, port = config.get("host", "127.0.0.1"), int(config["port"])
    rate, duration = float(config["rate"]), float(config["duration"])
    max_connections = int(config.get("max_connections", 256))
    headers = "".join(f"{k}: {v}\r\n" for k, v in config.get("headers", {}).items())
    requests = [
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n".encode() for path in config["paths"]
    ]
    total = max(1, int(rate * duration))
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    idle: list[_Connection] = []
    backlog: deque[tuple[bytes, float]] = deque()
    opened = 0
    finished = asyncio.Event()
    last_done = 0.0

    def lost(connection: _Connection) -> None:
        nonlocal opened
        opened -= 1
        if connection in idle:
            idle.remove(connection)

    def done_on(connection: _Connection) -> Done:
        def done(status: int, due: float) -> None:
            nonlocal last_done
            last_done = time.perf_counter()
            latencies.append(last_done - due)
            statuses[status] += 1
            if len(latencies) >= total:
                finished.set()
            if connection.transport is None:
                return
            if backlog:
                request, next_due = backlog.popleft()
                connection.send(request, next_due, done)
            else:
                idle.append(connection)

        return done

    async def open_and_send(request: bytes, due: float) -> None:
        try:
            _, connection = await loop.create_connection(lambda: _Connection(lost), host, port)
        except OSError:
            lost(_Connection(lost))
            done_on(_Connection(lost))(0, due)
            return
        connection.send(request, due, done_on(connection))

    def dispatch(request: bytes, due: float) -> None:
        nonlocal opened
        if idle:
            connection = idle.pop()
            connection.send(request, due, done_on(connection))
        elif opened < max_connections:
            opened += 1
            loop.create_task(open_and_send(request, due))  # noqa: RUF006 - ends by itself
        else:
            backlog.append((request, due))

    cpu_before = time.process_time()
    start = time.perf_counter() + 0.05
    sent = 0
    while sent < total:
        now = time.perf_counter()
        while sent < total and start + sent / rate <= now:
            dispatch(requests[sent % len(requests)], start + sent / rate)
            sent += 1
        if sent < total:
            await asyncio.sleep(max(0.0, start + sent / rate - time.perf_counter()))
    drain = float(config.get("drain_seconds", 10.0))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(finished.wait(), drain)
    elapsed = max(last_done - start, duration)
    latencies.sort()
    ok = sum(n for status, n in statuses.items() if 200 <= status < 300)
    return {
        "offered_rps": rate,
        "duration_s": duration,
        "sent": sent,
        "completed": len(latencies),
        "achieved_rps": round(ok / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p90_ms": round(percentile(latencies, 0.90) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round((latencies[-1] if latencies else 0.0) * 1000, 2),
        "errors": sent - ok,
        "statuses": {str(status): n for status, n in sorted(statuses.items())},
        "connections": opened,
        "generator_cpu_percent": round((time.process_time() - cpu_before) / elapsed * 100, 1),
    }


def main() -> None:
    config = json.load(sys.stdin)
    result = uvloop.run(drive(config))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
