"""The faults experiments inject, each an `Inject`: it runs while prices move (for
`drill.run_seconds`), does its damage through the `Drill`, notes what it did in
`drill.records.actions` and returns when the fault is over (the rollback).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import signal
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from pricealert_ops.chaos.records import Records, Window
from pricealert_ops.chaos.servers import PrivatePostgres, PrivateRedis
from pricealert_ops.chaos.world import FaultyReceiver, FaultyShop, decoy_price, product_page
from pricealert_ops.devtools.shop import Page, RecordedRequest
from pricealert_ops.devtools.stack import WORKERS, ChildProcess, Stack, StackError

SHOP_READ_TIMEOUT_SECONDS = 10.0  # the scraper's read timeout (not a setting)


@dataclass
class Drill:
    """What an experiment's fault can touch while it runs."""

    stack: Stack
    redis: PrivateRedis
    postgres: PrivatePostgres
    shop: FaultyShop
    receiver: FaultyReceiver
    records: Records
    run_seconds: float
    env: dict[str, str]
    rng: random.Random = field(default_factory=lambda: random.Random(11))

    def note(self, action: str) -> None:
        """Remember what the fault did, stamped with seconds since the run began."""
        self.records.actions.append(f"+{time.time() - self.records.started:.1f} s {action}")


Inject = Callable[[Drill], Awaitable[None]]


async def _at(drill: Drill, fraction: float) -> None:
    """Sleep until `fraction` of the run has passed."""
    wait = drill.records.started + fraction * drill.run_seconds - time.time()
    await asyncio.sleep(max(0.0, wait))


IN_FLIGHT_SECONDS = 0.8


async def kill_workers(drill: Drill) -> None:
    """Repeatedly SIGKILL 30 % of the worker processes (spread over the services).

    Rounds are at least a lease apart: the promise under test is that a check killed
    mid-run is re-run within its lease, so a product is hit at most once per lease
    window (two kills of one check within a lease would need twice the lease).
    """
    period = max(3.0, drill.run_seconds / 8, drill.records.bounds.lease_seconds)
    schedule = drill.shop.schedule
    # Slow pages and a slow receiver keep work in flight, so a kill lands mid-check and
    # mid-delivery rather than between jobs.
    drill.shop.fault = lambda product, _request: Page(
        body=product_page(f"Product {product}", schedule.price(product)), delay=IN_FLIGHT_SECONDS
    )
    drill.receiver.fault = lambda _id, _attempt: Page(status=204, delay=IN_FLIGHT_SECONDS)
    await _at(drill, 0.1)
    while True:
        workers = [c for c in drill.stack.children() if c.service in WORKERS]
        count = math.ceil(0.3 * len(WORKERS) * drill.stack.instances)
        drill.rng.shuffle(workers)
        # Partial failure, as the plan's hypothesis says: never the last live process of a
        # service (a restarting one may still be in the supervisor's backoff), and one per
        # service first.
        live = {name: sum(c.service == name for c in workers) for name in WORKERS}
        victims: list[ChildProcess] = []
        for one_per_service in (True, False):
            for child in workers:
                taken = {v.service for v in victims}
                if child in victims or len(victims) >= count or live[child.service] <= 1:
                    continue
                if one_per_service and child.service in taken:
                    continue
                victims.append(child)
                live[child.service] -= 1
        for child in victims:
            with contextlib.suppress(StackError, ProcessLookupError):  # it died on its own
                drill.stack.kill(child.service, child.instance, signal.SIGKILL)
        drill.note("SIGKILL " + ", ".join(f"{c.service}-{c.instance}" for c in victims))
        if time.time() + period > drill.records.started + drill.run_seconds:
            break
        await asyncio.sleep(period)
    drill.shop.fault = drill.receiver.fault = None


async def flush_redis(drill: Drill) -> None:
    """FLUSHALL twice: every queued job and arq's bookkeeping are gone; PostgreSQL still knows."""
    client = aioredis.Redis.from_url(drill.redis.url())
    try:
        for fraction in (0.35, 0.7):
            await _at(drill, fraction)
            await client.flushall()
            drill.note("FLUSHALL")
    finally:
        await client.aclose()


async def restart_redis(drill: Drill) -> None:
    """Stop the private redis-server (its keys die with it), wait, start it on the same port."""
    await _at(drill, 0.35)
    stopping = time.time()
    await drill.redis.stop()
    drill.note("redis-server stopped")
    await asyncio.sleep(3)
    await drill.redis.start()
    drill.note("redis-server started (empty)")
    drill.records.outages.append(Window("redis_restart", stopping, time.time()))


async def restart_postgres(drill: Drill) -> None:
    """Crash the private PostgreSQL (immediate stop), keep it down, start it (crash recovery)."""
    await _at(drill, 0.35)
    asked = time.time()
    await drill.postgres.stop("immediate")
    down = time.time()
    drill.note("PostgreSQL stopped (immediate)")
    await asyncio.sleep(4)
    restarting = time.time()
    await drill.postgres.start()
    drill.note("PostgreSQL started")
    drill.records.database_down.append(Window("postgres_down", down, restarting))
    # The API's pool notices the restart on the next request it makes: a moment, stated.
    drill.records.excused.append(Window("postgres_restart", asked, time.time() + 2.0))
    drill.records.outages.append(Window("postgres_restart", asked, time.time()))


FAULT_WINDOW_SECONDS = 3.0
SHOP_FAULTS = ("timeout", "5xx", "429", "captcha", "truncated")


async def faulty_shops(drill: Drill) -> None:
    """Shortly after each price change, the product's page misbehaves for a few seconds."""
    shop, schedule = drill.shop, drill.shop.schedule
    served: dict[str, int] = {}

    def fault(product: int, request: RecordedRequest) -> Page | None:
        now = time.time()
        if schedule.started is None or now > drill.records.started + drill.run_seconds:
            return None
        offset = now - schedule.started
        past = [i for i, (at, _) in enumerate(schedule.steps[product]) if at <= offset]
        index = past[-1] if past else 0
        since = offset - schedule.steps[product][index][0]
        if not 1.0 <= since < 1.0 + FAULT_WINDOW_SECONDS:
            return None
        kind = SHOP_FAULTS[(product + index) % len(SHOP_FAULTS)]
        served[kind] = served.get(kind, 0) + 1
        decoy = decoy_price(schedule.price(product, now))
        if kind == "timeout":
            return Page(delay=SHOP_READ_TIMEOUT_SECONDS + 1)
        if kind == "5xx":
            return Page(status=drill.rng.choice((500, 502, 503)), body=b"oops")
        if kind == "429":
            return Page.retry_after("2")
        shop.decoys.add(decoy)
        if kind == "captcha":
            wall = "<div id='px-captcha'>Please verify you are human</div>"
            return Page(body=product_page(f"Product {product}", decoy, marker=wall))
        full = product_page(f"Product {product}", decoy)
        return Page.truncated(full[: len(full) // 2], declared_length=len(full))

    shop.fault = fault
    await _at(drill, 1.0)
    drill.note(f"shop faults served: {served} of {shop.requests} page requests")
    shop.fault = None


async def faulty_receivers(drill: Drill) -> None:
    """Most deliveries meet a 500, then a timeout, then a slow answer before a 2xx."""
    timeout = float(drill.env["PRICEALERT_HTTP_TIMEOUT_SECONDS"])

    def fault(webhook_id: str, attempt: int) -> Page | None:
        if zlib.crc32(webhook_id.encode()) % 10 >= 6:
            return Page(status=204, delay=1.0) if attempt == 1 else None
        if attempt == 1:
            return Page(status=500, body=b"receiver broke")
        if attempt == 2:
            return Page(status=204, delay=timeout + 1.0)  # past the notifier's timeout
        if attempt == 3:
            return Page(status=204, delay=timeout / 2)
        return None

    drill.receiver.fault = fault
    await _at(drill, 1.0)
    drill.note(f"receiver answered {len(drill.receiver.receiver.received)} webhook requests")
    drill.receiver.fault = None
