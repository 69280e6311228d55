"""Witnesses that run beside the stack: the API prober, the schedule sampler, the final read.

- `ApiProber` asks /healthz, an authenticated read (`GET /v1/products?limit=1`)
  and /readyz at a fixed rate, each with a short timeout, and records every
  answer (or its absence).
- `DueSampler` reads every product's `next_check_at`, `last_checked_at` and
  `status` from PostgreSQL at a fixed rate (it simply misses samples while
  PostgreSQL is down).
- `read_outcome` reads the notification and price-history rows after the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from pricealert_ops.chaos.records import DueSample, HistoryRow, NotificationRow, Probe
from pricealert_ops.chaos.servers import libpq_url

PROBE_TIMEOUT_SECONDS = 2.0


class ApiProber:
    """Probes the API every `period` seconds until stopped; `probes` holds the answers."""

    def __init__(self, api_url: str, api_key: str, period: float = 0.25) -> None:
        self.api_url = api_url
        self.api_key = api_key
        self.period = period
        self.probes: list[Probe] = []

    async def run(self) -> None:
        """Probe until cancelled (a fixed rate: the next round starts `period` after the last)."""
        async with httpx.AsyncClient(base_url=self.api_url, timeout=PROBE_TIMEOUT_SECONDS) as http:
            auth = {"Authorization": f"Bearer {self.api_key}"}
            while True:
                started = time.monotonic()
                await asyncio.gather(
                    self._probe(http, "healthz", "/healthz", {}),
                    self._probe(http, "read", "/v1/products?limit=1", auth),
                    self._probe(http, "readyz", "/readyz", {}),
                )
                await asyncio.sleep(max(0.0, self.period - (time.monotonic() - started)))

    async def _probe(
        self, http: httpx.AsyncClient, endpoint: str, path: str, headers: dict[str, str]
    ) -> None:
        at = time.time()
        started = time.monotonic()
        status: int | None
        try:
            status = (await http.get(path, headers=headers)).status_code
        except httpx.HTTPError:
            status = None
        self.probes.append(Probe(at, endpoint, status, round(time.monotonic() - started, 4)))


class DueSampler:
    """Samples the products' schedule from PostgreSQL every `period` seconds."""

    def __init__(
        self, database_url: str, product_of: Callable[[str], int | None], period: float = 0.5
    ) -> None:
        self.dsn = libpq_url(database_url)
        self.product_of = product_of
        self.period = period
        self.samples: list[DueSample] = []
        self.failures = 0

    async def run(self) -> None:
        """Sample until cancelled; reconnect after PostgreSQL comes back."""
        connection: asyncpg.Connection | None = None
        try:
            while True:
                try:
                    if connection is None or connection.is_closed():
                        connection = await asyncpg.connect(self.dsn, timeout=2)
                    rows = await connection.fetch(
                        "SELECT url, next_check_at, last_checked_at, status FROM product",
                        timeout=2,
                    )
                    at = time.time()
                    for row in rows:
                        product = self.product_of(row["url"])
                        if product is not None:
                            self.samples.append(
                                DueSample(
                                    at,
                                    product,
                                    row["next_check_at"].timestamp(),
                                    _stamp(row["last_checked_at"]),
                                    row["status"],
                                )
                            )
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                    self.failures += 1  # PostgreSQL away: that span simply has no samples
                    await _discard(connection)
                    connection = None
                await asyncio.sleep(self.period)
        finally:
            await _discard(connection)


async def _discard(connection: asyncpg.Connection | None) -> None:
    if connection is not None:
        with contextlib.suppress(Exception):  # closing a broken connection may fail any way
            await asyncio.wait_for(connection.close(), 2)


def _stamp(at: datetime | None) -> float | None:
    return None if at is None else at.timestamp()


async def read_outcome(
    database_url: str, product_of: Callable[[str], int | None]
) -> tuple[list[NotificationRow], list[HistoryRow]]:
    """The notification and price-history rows the run left in PostgreSQL."""
    connection = await asyncpg.connect(libpq_url(database_url), timeout=10)
    try:
        notes = await connection.fetch(
            "SELECT n.id, p.url, n.status, n.attempts, n.payload "
            "FROM notification n LEFT JOIN product p ON p.id = n.product_id"
        )
        history = await connection.fetch(
            "SELECT p.url, h.price, h.first_seen_at, h.suspicious "
            "FROM price_history h JOIN product p ON p.id = h.product_id"
        )
    finally:
        await connection.close()
    notifications = []
    for row in notes:
        payload: Any = row["payload"]
        price = (json.loads(payload) if isinstance(payload, str) else payload)["data"]["price"]
        notifications.append(
            NotificationRow(
                id=str(row["id"]),
                product=None if row["url"] is None else product_of(row["url"]),
                status=row["status"],
                attempts=row["attempts"],
                old=_amount(price.get("old")),
                new=_amount(price.get("new")),
            )
        )
    rows = [
        HistoryRow(
            product=index,
            price=row["price"],
            first_seen_at=row["first_seen_at"].timestamp(),
            suspicious=row["suspicious"],
        )
        for row in history
        if (index := product_of(row["url"])) is not None
    ]
    return notifications, rows


def _amount(value: Any) -> Decimal | None:
    return None if not value else Decimal(str(value["amount"]))
