"""Keep-alive connections, pooled per (scheme, host name, pinned address, port).

Keying by host name as well as address means a TLS connection set up (and
verified) for one name is never reused for another name on the same address.
Each destination holds at most `max_connections` connections (idle, busy or
being opened); further requests wait in line, up to the pool timeout. Idle
connections expire after `keepalive_expiry` seconds. At most `max_hosts`
destinations are kept, least recently used first out: an evicted destination's
idle connections are closed at once, its busy ones when they are released.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from typing import Final

from pricealert.http._connection import Connection
from pricealert.http._errors import FetchTimeout

DestinationKey = tuple[str, str, str, int]  # scheme, host name, pinned address, port

#: A connection or, when `None`, a reserved slot: the holder opens a new connection.
Lease = Connection | None

_SWEEP_EVERY: Final = 5.0


class Destination:
    """The connections to one destination, and the requests waiting for one."""

    __slots__ = ("busy", "evicted", "idle", "key", "waiters")

    def __init__(self, key: DestinationKey) -> None:
        self.key = key
        self.idle: list[Connection] = []
        self.busy = 0  #: connections handed out, or being opened
        self.waiters: deque[asyncio.Future[Lease]] = deque()
        self.evicted = False


class ConnectionPool:
    """Hands out a pooled connection or a slot to open one; takes connections back."""

    def __init__(
        self, *, max_hosts: int, max_connections: int, keepalive_expiry: float = 30.0
    ) -> None:
        self._max_hosts = max_hosts
        self._max_connections = max_connections
        self._expiry = keepalive_expiry
        self._destinations: OrderedDict[DestinationKey, Destination] = OrderedDict()
        self._next_sweep = 0.0

    async def acquire(
        self, key: DestinationKey, *, pool_timeout: float, url: str
    ) -> tuple[Destination, Lease]:
        """An idle connection to `key`, or `None` and a slot to open one; pair with `release`."""
        now = time.monotonic()
        if now >= self._next_sweep:
            self._sweep(now)
        destination = self._destinations.get(key)
        if destination is None:
            destination = self._destinations[key] = Destination(key)
            self._evict_beyond_limit()
        else:
            self._destinations.move_to_end(key)
        idle = destination.idle
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < self._expiry:
                destination.busy += 1
                return destination, connection
            connection.close()
        if destination.busy < self._max_connections:
            destination.busy += 1
            return destination, None
        waiter: asyncio.Future[Lease] = asyncio.get_running_loop().create_future()
        destination.waiters.append(waiter)
        try:
            async with asyncio.timeout(pool_timeout):
                return destination, await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self.release(destination, waiter.result())  # handed over as we gave up
            if isinstance(exc, TimeoutError):
                raise FetchTimeout(
                    f"pool timeout: no connection to {key[1]} free within {pool_timeout} s",
                    url=url,
                    phase="pool",
                ) from exc
            raise

    def release(self, destination: Destination, lease: Lease) -> None:
        """Give back what `acquire` handed out (the connection, if one was opened)."""
        connection = lease
        if connection is not None and not (connection.reusable and not connection.closed):
            connection.close()
            connection = None
        waiters = destination.waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)  # the slot passes on; `busy` is unchanged
                return
        destination.busy -= 1
        if connection is None:
            return
        if destination.evicted:
            connection.close()
        else:
            connection.idle_since = time.monotonic()
            destination.idle.append(connection)

    def _evict_beyond_limit(self) -> None:
        while len(self._destinations) > self._max_hosts:
            _key, oldest = self._destinations.popitem(last=False)
            self._drop(oldest)

    def _drop(self, destination: Destination) -> None:
        destination.evicted = True
        for connection in destination.idle:
            connection.close()
        destination.idle.clear()

    def _sweep(self, now: float) -> None:
        """Close expired idle connections; forget destinations with nothing left."""
        self._next_sweep = now + _SWEEP_EVERY
        for key, destination in list(self._destinations.items()):
            fresh = []
            for connection in destination.idle:
                if connection.closed or now - connection.idle_since >= self._expiry:
                    connection.close()
                else:
                    fresh.append(connection)
            destination.idle = fresh
            if not fresh and not destination.busy and not destination.waiters:
                del self._destinations[key]

    def close(self) -> None:
        """Close every idle connection; busy ones are closed when released."""
        for destination in self._destinations.values():
            self._drop(destination)
        self._destinations.clear()

    def __len__(self) -> int:
        return len(self._destinations)
