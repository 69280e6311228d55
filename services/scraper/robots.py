"""robots.txt: fetched through the guarded client, cached per origin, asked before every page.

What an answer means (RFC 9309 where it decides, common crawler practice where
it leaves room):

- 2xx: the file's rules for our user-agent token (`PriceAlert`), and its
  `Crawl-delay`, which the fetcher uses as a lower bound on its per-domain delay;
- 401 / 403: everything disallowed (the shop said "not for you"; Google and most
  crawlers have long read it so);
- any other 4xx, a file over 500 KiB, a redirect loop: no usable rules, everything allowed;
- unreachable (timeout, refused, TLS failure, 5xx, 429): everything allowed, but
  only for `unreachable_ttl` (5 min), so the file is asked for again soon.
  Deliberate: a shop whose robots.txt is down keeps being watched at our
  usual polite rate rather than dropped;
- a refused address, a bad URL or a name that does not resolve is raised: the
  page itself would fail the same way, and the caller names that failure.

Entries live `ttl` (1 h) in a bounded LRU; concurrent callers for one origin
share one fetch.
"""

from __future__ import annotations

import asyncio
import time
import urllib.robotparser
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

import httpx

from pricealert.http import (
    BadURL,
    BlockedAddress,
    DNSFailure,
    FetchError,
    GuardedClient,
)

#: Google reads at most 500 KiB of a robots.txt; so do we.
ROBOTS_MAX_BYTES: Final = 500 * 1024


@dataclass(frozen=True, slots=True)
class RobotsRules:
    """What one origin's robots.txt says for us."""

    parser: urllib.robotparser.RobotFileParser | None = None  # None: the verdict below for all
    allow_all: bool = True
    crawl_delay: float | None = None

    def allows(self, url: str, agent: str) -> bool:
        """Whether `agent` may fetch `url`."""
        if self.parser is None:
            return self.allow_all
        return self.parser.can_fetch(agent, url)


ALLOW_ALL: Final = RobotsRules()
DISALLOW_ALL: Final = RobotsRules(allow_all=False)


class RobotsCache:
    """The robots rules of each origin, fetched on first need and kept for `ttl` seconds."""

    def __init__(
        self,
        client: GuardedClient,
        *,
        user_agent: str,
        ttl: float = 3600.0,
        unreachable_ttl: float = 300.0,
        max_origins: int = 10_000,
    ) -> None:
        self._client = client
        self._user_agent = user_agent
        self.agent_token = user_agent.split("/", 1)[0].strip() or user_agent
        self._ttl = ttl
        self._unreachable_ttl = unreachable_ttl
        self._max_origins = max_origins
        self._cache: OrderedDict[str, tuple[float, RobotsRules]] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[tuple[float, RobotsRules]]] = {}

    async def allows(self, url: str, origin: str | None = None) -> tuple[bool, RobotsRules]:
        """Whether our agent may fetch `url`, and the origin's rules (for its crawl delay)."""
        rules = await self.rules_for(origin or _origin(url))
        return rules.allows(url, self.agent_token), rules

    async def rules_for(self, origin: str) -> RobotsRules:
        """The cached rules of `origin` (`scheme://host[:port]`), fetching them when stale."""
        cached = self._cache.get(origin)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        lookup = self._inflight.get(origin)
        if lookup is None:
            lookup = asyncio.ensure_future(self._fetch(origin))
            self._inflight[origin] = lookup
            lookup.add_done_callback(lambda done: self._finish(origin, done))
        _expires, rules = await asyncio.shield(lookup)
        return rules

    def _finish(self, origin: str, lookup: asyncio.Future[tuple[float, RobotsRules]]) -> None:
        del self._inflight[origin]
        if lookup.cancelled() or lookup.exception() is not None:
            return
        self._cache[origin] = lookup.result()
        self._cache.move_to_end(origin)
        while len(self._cache) > self._max_origins:
            self._cache.popitem(last=False)

    async def _fetch(self, origin: str) -> tuple[float, RobotsRules]:
        now = time.monotonic()
        try:
            result = await self._client.get(
                f"{origin}/robots.txt",
                headers={"user-agent": self._user_agent},
                max_bytes=ROBOTS_MAX_BYTES,
            )
        except (BlockedAddress, BadURL, DNSFailure):
            raise
        except FetchError as exc:
            if exc.code in {"too_large", "too_many_redirects", "decoding_error"}:
                return now + self._ttl, ALLOW_ALL
            return now + self._unreachable_ttl, ALLOW_ALL
        if result.status in {401, 403}:
            return now + self._ttl, DISALLOW_ALL
        if result.status == 429 or result.status >= 500:
            return now + self._unreachable_ttl, ALLOW_ALL
        if not result.is_success:
            return now + self._ttl, ALLOW_ALL
        return now + self._ttl, self._parse(result.body)

    def _parse(self, body: bytes) -> RobotsRules:
        parser = urllib.robotparser.RobotFileParser()
        parser.parse(body.decode("utf-8", errors="replace").splitlines())
        delay = parser.crawl_delay(self.agent_token)
        return RobotsRules(parser=parser, crawl_delay=float(delay) if delay is not None else None)


def _origin(url: str) -> str:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise BadURL(f"not a valid URL: {exc}", url=url) from exc
    return f"{parsed.scheme}://{parsed.netloc.decode('ascii')}"
