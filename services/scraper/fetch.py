"""Fetching product pages politely, on top of the guarded client.

`ShopFetcher.fetch(url, etag=..., last_modified=...)` returns a `FetchOutcome`
and never raises for a shop's behaviour. Per request it:

1. asks robots.txt (`services.scraper.robots`), under our honest User-Agent;
2. waits its turn for the domain (host name): at most `per_domain_concurrency`
   requests at once, starts at least `per_domain_delay` seconds apart (or the
   robots `Crawl-delay`, capped at `max_crawl_delay`), and not before a pause
   that a `Retry-After` asked for;
3. sends a conditional GET (`If-None-Match` / `If-Modified-Since`); a 304 is
   `not_modified` with no body, costing no parse;
4. on 429, or 503 with `Retry-After`, does not retry: the domain is paused and
   the outcome's `retry_after` (aware UTC) tells the scheduler when to try the
   product again;
5. retries transient failures only (connect errors, timeouts, 502/503/504),
   at most `max_retries` times, with exponential backoff and jitter. 4xx,
   refused addresses, oversized bodies and TLS errors are final.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Final

import httpx

from pricealert.http import (
    DEFAULT_USER_AGENT,
    ConnectionFailed,
    FetchError,
    FetchResult,
    FetchTimeout,
    GuardedClient,
)
from pricealert.metrics import FETCH_BYTES, FETCH_DURATION
from services.scraper.robots import RobotsCache

TRANSIENT_STATUSES: Final = frozenset({502, 503, 504})


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """How politely the scraper fetches; the defaults suit real shops."""

    user_agent: str = DEFAULT_USER_AGENT
    respect_robots: bool = True
    robots_ttl: float = 3600.0
    per_domain_concurrency: int = 2
    per_domain_delay: float = 1.0
    max_crawl_delay: float = 30.0
    max_retries: int = 2
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    default_retry_after: float = 60.0  # 429 without a usable Retry-After
    max_domain_pause: float = 3600.0  # longer asks still reach the caller in `retry_after`
    #: A paused domain longer than this is not waited for: the outcome is `domain_paused`
    #: with `retry_after`, so a worker slot is not held for the length of a shop's pause.
    max_pause_wait: float = 5.0


@dataclass(frozen=True, slots=True)
class FetchOutcome:
    """What fetching one product page came to."""

    url: str
    final_url: str
    status: int | None = None
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    retry_after: datetime | None = None  # when the shop said to come back (aware UTC)
    error: str | None = None  # a FetchError code, "http_status" or "robots_disallowed"
    detail: str | None = None
    attempts: int = 0

    @property
    def ok(self) -> bool:
        """A 2xx page to parse, or a 304."""
        return self.error is None


class ShopFetcher:
    """The scraper's page fetcher; share one per process (it holds the per-domain state)."""

    def __init__(self, client: GuardedClient, policy: FetchPolicy | None = None) -> None:
        self._client = client
        self.policy = policy or FetchPolicy()
        self._robots = RobotsCache(
            client, user_agent=self.policy.user_agent, ttl=self.policy.robots_ttl
        )
        self._gates = DomainGates(self.policy.per_domain_concurrency)

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchOutcome:
        """Fetch `url` under robots, politeness, conditional headers and bounded retries."""
        policy = self.policy
        delay = policy.per_domain_delay
        try:
            parsed = httpx.URL(url)
            domain = parsed.host
            if policy.respect_robots:
                origin = f"{parsed.scheme}://{parsed.netloc.decode('ascii')}"
                allowed, rules = await self._robots.allows(url, origin)
                if not allowed:
                    return FetchOutcome(url, url, error="robots_disallowed",
                                        detail="robots.txt disallows this page")  # fmt: skip
                if rules.crawl_delay is not None:
                    delay = max(delay, min(rules.crawl_delay, policy.max_crawl_delay))
        except (FetchError, httpx.InvalidURL) as exc:
            return _failed(url, exc, attempts=0)
        paused_for = self._gates.pause_left(domain)
        if paused_for > policy.max_pause_wait:
            return FetchOutcome(
                url, url, error="domain_paused", detail="the shop asked us to come back later",
                retry_after=datetime.now(UTC) + timedelta(seconds=paused_for),
            )  # fmt: skip
        headers = {"user-agent": policy.user_agent}
        if etag:
            headers["if-none-match"] = etag
        if last_modified:
            headers["if-modified-since"] = last_modified

        attempt = 0
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                async with self._gates.turn(domain, delay):
                    result = await self._client.get(url, headers=headers)
            except FetchError as exc:
                FETCH_DURATION.observe(time.monotonic() - started)
                if (
                    isinstance(exc, ConnectionFailed | FetchTimeout)
                    and attempt <= policy.max_retries
                ):
                    await asyncio.sleep(self._backoff(attempt))
                    continue
                return _failed(url, exc, attempts=attempt)
            FETCH_DURATION.observe(result.elapsed)
            FETCH_BYTES.inc(result.bytes_received)
            retry_at = self._retry_at(domain, result)
            transient = retry_at is None and result.status in TRANSIENT_STATUSES
            if transient and attempt <= policy.max_retries:
                await asyncio.sleep(self._backoff(attempt))
                continue
            return _outcome(url, result, etag, last_modified, retry_at, attempt)

    def _retry_at(self, domain: str, result: FetchResult) -> datetime | None:
        """For 429, and 503 with Retry-After: when to come back; also pauses the domain."""
        header = result.headers.get("retry-after")
        if result.status != 429 and not (result.status == 503 and header):
            return None
        now = datetime.now(UTC)
        retry_at = parse_retry_after(header, now) if header else None
        if retry_at is None:
            retry_at = now + timedelta(seconds=self.policy.default_retry_after)
        pause = min((retry_at - now).total_seconds(), self.policy.max_domain_pause)
        self._gates.pause(domain, pause)
        return retry_at

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.policy.backoff_max, self.policy.backoff_base * 2.0 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # "equal jitter": never ~0


def parse_retry_after(value: str, now: datetime) -> datetime | None:
    """`Retry-After` (delay-seconds or an HTTP date) as an aware UTC time; None if unreadable."""
    value = value.strip()
    if value.isdigit():
        return now + timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return max(when, now)


class _Gate:
    __slots__ = ("next_start", "paused_until", "slots", "users")

    def __init__(self, concurrency: int) -> None:
        self.slots = asyncio.Semaphore(concurrency)
        self.next_start = 0.0
        self.paused_until = 0.0
        self.users = 0


class DomainGates:
    """Per-domain concurrency, spacing between request starts, and pauses (bounded LRU)."""

    def __init__(self, concurrency: int, *, max_domains: int = 10_000) -> None:
        self._concurrency = concurrency
        self._max_domains = max_domains
        self._gates: OrderedDict[str, _Gate] = OrderedDict()

    @asynccontextmanager
    async def turn(self, domain: str, delay: float) -> AsyncIterator[None]:
        """Hold one of the domain's slots, starting no sooner than its delay and pause allow."""
        gate = self._gate(domain)
        gate.users += 1
        try:
            async with gate.slots:
                while True:
                    now = time.monotonic()
                    start = max(gate.next_start, gate.paused_until)
                    if start <= now:
                        break
                    # Re-check after waking: a pause may have begun, or a peer took the turn.
                    await asyncio.sleep(start - now)
                gate.next_start = now + delay
                yield
        finally:
            gate.users -= 1

    def pause_left(self, domain: str) -> float:
        """Seconds until a pause on `domain` ends (0 when it is not paused)."""
        gate = self._gates.get(domain)
        return max(gate.paused_until - time.monotonic(), 0.0) if gate else 0.0

    def pause(self, domain: str, seconds: float) -> None:
        """No new request to `domain` for `seconds`."""
        gate = self._gate(domain)
        gate.paused_until = max(gate.paused_until, time.monotonic() + seconds)

    def _gate(self, domain: str) -> _Gate:
        gate = self._gates.get(domain)
        if gate is None:
            gate = self._gates[domain] = _Gate(self._concurrency)
            if len(self._gates) > self._max_domains:
                self._forget_idle()
        else:
            self._gates.move_to_end(domain)
        return gate

    def _forget_idle(self) -> None:
        now = time.monotonic()
        for name, gate in list(self._gates.items()):
            if len(self._gates) <= self._max_domains:
                break
            if gate.users == 0 and gate.next_start <= now and gate.paused_until <= now:
                del self._gates[name]


def _failed(url: str, exc: FetchError | httpx.InvalidURL, *, attempts: int) -> FetchOutcome:
    if isinstance(exc, FetchError):
        return FetchOutcome(
            url, exc.url or url, error=exc.code, detail=exc.detail, attempts=attempts
        )
    return FetchOutcome(url, url, error="bad_url", detail=str(exc), attempts=attempts)


def _outcome(
    url: str,
    result: FetchResult,
    etag: str | None,
    last_modified: str | None,
    retry_at: datetime | None,
    attempts: int,
) -> FetchOutcome:
    not_modified = result.status == 304
    success = result.is_success or not_modified
    return FetchOutcome(
        url=url,
        final_url=result.url,
        status=result.status,
        body=result.body if result.is_success else b"",
        headers=result.headers,
        # a 304 may omit the validators; the ones we sent are still current then
        etag=result.headers.get("etag") or (etag if not_modified else None),
        last_modified=result.headers.get("last-modified")
        or (last_modified if not_modified else None),
        not_modified=not_modified,
        retry_after=retry_at,
        error=None if success else "http_status",
        detail=None if success else f"the shop answered {result.status}",
        attempts=attempts,
    )
