"""Name resolution for the guarded client: the system resolver behind a short TTL cache.

`getaddrinfo` gives no TTL, so answers are kept for a fixed short time (30 s by
default): long enough to spare a thread hop per request, short enough that a
moved shop is found again quickly. Whatever is cached, the client checks the
answer it uses and connects to exactly that address.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import OrderedDict
from typing import Protocol

from pricealert.http._addresses import IPAddress, parse_ip_literal
from pricealert.http._errors import DNSFailure


class Resolver(Protocol):
    """Turns a host name into the addresses to try, in preference order."""

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """All addresses of `host`; raises `DNSFailure` when there are none."""
        ...


class CachingResolver:
    """`loop.getaddrinfo` (a worker thread) with a TTL cache and one lookup per name at a time."""

    def __init__(self, *, ttl: float = 30.0, max_entries: int = 4096) -> None:
        self._ttl = ttl
        self._max_entries = max_entries
        self._cache: OrderedDict[str, tuple[float, list[IPAddress]]] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[list[IPAddress]]] = {}

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Cached addresses of `host`, looked up again once the TTL has passed."""
        cached = self._cache.get(host)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        lookup = self._inflight.get(host)
        if lookup is None:
            # The lookup is its own task so that one caller's cancellation (a total
            # timeout) does not fail the other callers waiting for the same name.
            lookup = asyncio.ensure_future(_getaddrinfo(host, port))
            self._inflight[host] = lookup
            lookup.add_done_callback(lambda done: self._finish(host, done))
        return await asyncio.shield(lookup)

    def _finish(self, host: str, lookup: asyncio.Future[list[IPAddress]]) -> None:
        del self._inflight[host]
        if not lookup.cancelled() and lookup.exception() is None:
            self._store(host, time.monotonic() + self._ttl, lookup.result())

    def _store(self, host: str, expires: float, addresses: list[IPAddress]) -> None:
        self._cache[host] = (expires, addresses)
        self._cache.move_to_end(host)
        while len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)


async def _getaddrinfo(host: str, port: int) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DNSFailure(f"{host} did not resolve: {exc}") from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # A link-local IPv6 answer carries a %zone; without it the policy sees (and refuses) it.
        address = parse_ip_literal(str(sockaddr[0]).partition("%")[0])
        if address is not None and address not in addresses:
            addresses.append(address)
    if not addresses:
        raise DNSFailure(f"{host} has no usable address")
    return addresses
