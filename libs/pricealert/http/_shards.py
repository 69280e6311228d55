"""A bounded LRU of small httpx transports, one per (scheme, host, address, port).

httpcore's pool rescans every connection for every waiter, which costs ~4 ms of
CPU per request at 50 connections in one pool and ~1 ms at a few; so each
destination gets its own small pool. Keying by host name as well as address
means a TLS connection set up (and verified) for one name is never reused for
another name on the same address.
"""

from __future__ import annotations

import ssl
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import httpx

ShardKey = tuple[str, str, str, int]  # scheme, host name, pinned address, port


@dataclass(slots=True)
class Shard:
    """One transport and how many requests are using it right now."""

    key: ShardKey
    transport: httpx.AsyncHTTPTransport
    users: int = 0


class ShardPool:
    """Hands out the transport for a destination; closes idle ones beyond `max_shards`."""

    def __init__(
        self,
        *,
        ssl_context: Callable[[], ssl.SSLContext],
        max_shards: int,
        max_connections: int,
        keepalive_expiry: float = 30.0,
    ) -> None:
        self._ssl_context = ssl_context
        self._max_shards = max_shards
        self._limits = httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=keepalive_expiry,
        )
        self._shards: OrderedDict[ShardKey, Shard] = OrderedDict()
        self._retired: list[Shard] = []

    def acquire(self, key: ShardKey) -> Shard:
        """The shard for `key`, created on first use; pair with `release`."""
        shard = self._shards.get(key)
        if shard is None:
            # trust_env=False: no proxy, netrc or SSL_CERT_* from the environment, ever.
            transport = httpx.AsyncHTTPTransport(
                verify=self._ssl_context(), trust_env=False, limits=self._limits, retries=0
            )
            shard = self._shards[key] = Shard(key, transport)
            self._evict_beyond_limit()
        else:
            self._shards.move_to_end(key)
        shard.users += 1
        return shard

    async def release(self, shard: Shard) -> None:
        """Give the shard back; closes it if it was evicted meanwhile and is now idle."""
        shard.users -= 1
        if self._retired:
            idle = [s for s in self._retired if s.users == 0]
            self._retired = [s for s in self._retired if s.users > 0]
            for retired in idle:
                await retired.transport.aclose()

    def _evict_beyond_limit(self) -> None:
        while len(self._shards) > self._max_shards:
            _key, oldest = self._shards.popitem(last=False)
            # Closed on the next release: closing needs an await and acquire must not.
            self._retired.append(oldest)

    async def aclose(self) -> None:
        """Close every transport (in-flight requests fail)."""
        shards = [*self._shards.values(), *self._retired]
        self._shards.clear()
        self._retired.clear()
        for shard in shards:
            await shard.transport.aclose()

    def __len__(self) -> int:
        return len(self._shards)
