"""Name resolution for the guarded client, and the name check aiohttp runs it through.

`Resolver` is the small interface a lookup satisfies (the system's, or a test's
hosts file); `GuardedResolver` puts the policy on it for aiohttp: a name is
refused if ANY of its answers is refused, before a connection is attempted.
aiohttp's connector caches the accepted answers (30 s: `getaddrinfo` gives no
TTL; short enough that a moved shop is found again soon) and lets one lookup
per name run at a time. Whatever it caches, the socket factory checks the
address each connection actually goes to (`pricealert.http._guard`).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Protocol

from aiohttp.abc import AbstractResolver, ResolveResult

from pricealert.http._addresses import AllowedHosts, IPAddress, blocked_reason, parse_ip_literal
from pricealert.http._errors import BlockedAddress, DNSFailure

_NUMERIC_FLAGS = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV


class Resolver(Protocol):
    """Turns a host name into the addresses to try, in preference order."""

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """All addresses of `host`; raises `DNSFailure` when there are none."""
        ...


class SystemResolver:
    """The system's resolver: `loop.getaddrinfo` (a worker thread)."""

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """All addresses of `host`, as `getaddrinfo` orders them."""
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


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver: `lookup`'s answers, refused whole if any one is refused."""

    def __init__(self, lookup: Resolver, allowed: AllowedHosts) -> None:
        self._lookup = lookup
        self._allowed = allowed

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The checked answers for `host`; `BlockedAddress` or `DNSFailure` otherwise."""
        addresses = await self._lookup.resolve(host, port)
        if not (self._allowed and self._allowed.allows(host, port)):
            for address in addresses:
                reason = blocked_reason(address)
                if reason is not None:
                    raise BlockedAddress(f"{host} is {address}: {reason}")
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                proto=0,
                flags=_NUMERIC_FLAGS,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        """Nothing to release: the lookup owns no resources here."""
