"""Nothing is lost when workers die or Redis forgets: PostgreSQL leases re-issue the work.

The real scraper worker runs as a subprocess against a database of its own and a
real shop on loopback whose pages are slow, so checks are in flight when it is
SIGKILLed. Redis is then flushed (every queued job and arq's in-progress keys are
gone) and a new worker started. Every product must still be checked, and no
product may go unchecked longer than its interval plus the lease plus a stated
slack; a lost check runs again once the lease it held has expired. That lease was
taken when the check was claimed or, for a check already running, when it
started, so time spent waiting in the queue before that (ordinary claim lag) and
time with no worker running at all are measured and added, not hidden in the
slack. arq alone would not re-run a job whose worker died until the job timeout
expired, and not at all after a flush; the lease is what brings it back.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO

import pytest
import redis as sync_redis
from arq.connections import ArqRedis
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from pricealert.availability import Availability
from pricealert.http import GuardedClient
from pricealert.models import PriceHistory, Product
from pricealert.queues import EVALUATE_QUEUE, CheckProduct, enqueue, queue_client, queue_length
from pricealert_ops.devtools.shop import Page, Shop
from services.scraper.check import FLUSH_SECONDS, ProductCheck
from services.scraper.fetch import ShopFetcher
from services.scraper.settings import ScraperSettings
from services.scraper.tasks import check_product
from tests.scraper.conftest import add_product, product_page

#: This module's own Redis database (flushed before and after each test).
ROOT = Path(__file__).resolve().parents[2]

PRODUCTS = 30
INTERVAL_SECONDS = 15
#: The check timeout must outlast the slowest page; the lease must be at least the check
#: timeout + 10 s (arq's in-progress margin: the scraper refuses less).
CHECK_TIMEOUT_SECONDS = 4.0
LEASE_SECONDS = CHECK_TIMEOUT_SECONDS + 10
TICK_SECONDS = 0.2
WORKER_SLOTS = 20  # fewer than the products: some checks are still queued at the kill
#: Shop "domains": the guarded client pools 4 connections per host, so 8 hosts at 4
#: requests each let every worker slot fetch at once.
HOSTS = [f"127.0.0.{i}" for i in range(2, 10)]
PER_HOST = 4


def page_delay(index: int) -> float:
    """Slow pages, finishing one after another: 0.3 s to 1.75 s."""
    return 0.3 + 0.05 * index


#: How long past its lease a lost check may take: a tick to be claimed, a wait for a free
#: worker slot (one slowest fetch), its own fetch, and 2 s for a cold process sharing
#: 2 busy cores (at load 5 the new worker's first 20 checks took ~1.5 s of CPU).
SLACK_SECONDS = TICK_SECONDS + 2 * page_delay(PRODUCTS - 1) + 2.0


@pytest.fixture
async def engine(fresh_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(fresh_database_url, pool_size=3)
    yield engine
    await engine.dispose()


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    async with Shop() as running:
        await running.listen("127.0.0.1")
        yield running


@pytest.fixture
async def shops() -> AsyncIterator[Shop]:
    async with Shop() as running:
        for host in HOSTS:
            await running.listen(host)
        yield running


class Workers:
    """Real scraper worker processes, each logging to its own file."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.processes: list[tuple[subprocess.Popen[bytes], Path, IO[bytes]]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = self.log_dir / f"worker-{len(self.processes)}.log"
        out = log.open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "arq", "services.scraper.worker.WorkerSettings"],
            cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.processes.append((process, log, out))
        return process

    async def wait_started(self, process: subprocess.Popen[bytes], within: float = 60) -> None:
        log = next(path for p, path, _ in self.processes if p is process)
        await _wait_for(
            lambda: b'"worker.started"' in log.read_bytes(),
            within,
            lambda: f"no worker.started (exit {process.poll()}):\n{log.read_text()[-3000:]}",
        )

    def started_at(self, process: subprocess.Popen[bytes]) -> datetime:
        """When the worker logged `worker.started` (its own clock, UTC)."""
        log = next(path for p, path, _ in self.processes if p is process)
        for line in log.read_text().splitlines():
            if '"worker.started"' in line:
                return datetime.fromisoformat(json.loads(line)["timestamp"])
        raise AssertionError(f"{log.name} has no worker.started line")

    def stop_all(self) -> None:
        for process, _, out in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
            out.close()


async def _wait_for(condition: Callable[[], bool], within: float, why: Callable[[], str]) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(why())
        await asyncio.sleep(0.1)


@pytest.fixture
def workers(fresh_database_url: str, redis_url: str, tmp_path: Path) -> Iterator[Workers]:
    env = {
        **os.environ,
        "PRICEALERT_ENVIRONMENT": "test",
        "PRICEALERT_DATABASE_URL": fresh_database_url,
        "PRICEALERT_REDIS_URL": redis_url,
        "PRICEALERT_FETCH_ALLOWED_HOSTS": ",".join(HOSTS),
        "PRICEALERT_LEASE_SECONDS": str(LEASE_SECONDS),
        "PRICEALERT_CHECK_TIMEOUT_SECONDS": str(CHECK_TIMEOUT_SECONDS),
        "PRICEALERT_CLAIM_INTERVAL_SECONDS": str(TICK_SECONDS),
        "PRICEALERT_RESPECT_ROBOTS": "false",
        "PRICEALERT_PER_DOMAIN_DELAY_SECONDS": "0",
        "PRICEALERT_PER_DOMAIN_CONCURRENCY": str(PER_HOST),
        "PRICEALERT_WORKER_CONCURRENCY": str(WORKER_SLOTS),
        "PRICEALERT_METRICS_PORT": "0",
        "PRICEALERT_LOG_LEVEL": "INFO",  # `worker.started` tells the test it is ready
    }
    running = Workers(env, tmp_path)
    yield running
    running.stop_all()


async def _check_times(engine: AsyncEngine) -> dict[int, datetime | None]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(Product.id, Product.last_checked_at))
        return {row.id: row.last_checked_at for row in rows}


async def _lease_ends(engine: AsyncEngine) -> dict[int, datetime]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(Product.id, Product.lease_expires_at))
        return {row.id: row.lease_expires_at for row in rows if row.lease_expires_at}


@pytest.mark.slow  # real worker processes, killed and restarted (~40 s)
async def test_killing_a_worker_mid_check_and_flushing_redis_loses_no_check(
    engine: AsyncEngine, workers: Workers, shops: Shop, redis_url: str
) -> None:
    shop = shops
    first = workers.start()
    await workers.wait_started(first)

    for index in range(PRODUCTS):
        shop.serve(f"/p/{index}", Page(body=product_page(f"{1000 + index}").body,
                                       delay=page_delay(index)))  # fmt: skip
    maker = async_sessionmaker(engine, expire_on_commit=False)
    async with maker() as session, session.begin():
        products = [
            await add_product(
                session, shop.url(f"/p/{i}", origin=i % len(HOSTS)), interval=INTERVAL_SECONDS
            )
            for i in range(PRODUCTS)
        ]
    due_at = {p.id: p.next_check_at for p in products}
    path_of = {p.id: f"/p/{i}" for i, p in enumerate(products)}

    # Observe every check as PostgreSQL records it (last_checked_at moves on).
    seen: dict[int, set[datetime]] = {p.id: set() for p in products}

    async def observe() -> None:
        for product_id, checked_at in (await _check_times(engine)).items():
            if checked_at is not None:
                seen[product_id].add(checked_at)

    async def poll_until(condition: Callable[[], bool], within: float, why: str) -> None:
        deadline = time.monotonic() + within
        while True:
            await observe()
            if condition():
                return
            if time.monotonic() > deadline:
                pytest.fail(why)
            await asyncio.sleep(0.1)

    await poll_until(lambda: sum(bool(t) for t in seen.values()) >= 5, 60,
                     "the first worker checked fewer than 5 products")  # fmt: skip
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    killed_at = datetime.now(UTC)
    requested_paths = {r.path for r in shop.requests}
    sync_redis.Redis.from_url(redis_url).flushdb()
    await observe()
    lost = {pid for pid, times in seen.items() if not times}  # in flight or queued at the kill
    in_flight = {pid for pid in lost if path_of[pid] in requested_paths}
    assert in_flight, "the worker was killed with checks in flight"
    lease_ends = await _lease_ends(engine)

    second = workers.start()
    # Every product checked at least twice: the lost ones once more after the kill, and
    # all of them again one interval later.
    await poll_until(
        lambda: all(len(t) >= 2 for t in seen.values()),
        3 * INTERVAL_SECONDS + 60,
        "not every product was checked twice",
    )
    assert second.poll() is None, "the second worker is still running"
    ended_at = datetime.now(UTC)
    second_started = workers.started_at(second)

    late: dict[int, str] = {}
    for product_id, times in seen.items():
        checks = sorted(times)
        # Due at `due_at` means last checked one interval before.
        moments = [due_at[product_id] - timedelta(seconds=INTERVAL_SECONDS), *checks, ended_at]
        worst = max((b - a).total_seconds() for a, b in itertools.pairwise(moments))
        bound = INTERVAL_SECONDS + LEASE_SECONDS + SLACK_SECONDS
        if product_id in lost:
            # The lease a lost check held was taken when it was claimed or, if it started,
            # when it started: the wait before that is queueing, not the fault. And while
            # no scraper runs at all, nothing can be checked.
            lease_end = lease_ends[product_id]
            queued = (lease_end - due_at[product_id]).total_seconds() - LEASE_SECONDS
            no_scraper = (second_started - lease_end).total_seconds()
            bound += max(queued, 0.0) + max(no_scraper, 0.0)
            assert checks[0] > killed_at, "a lost check is re-issued"
            reissued_by = max(lease_end, second_started) + timedelta(seconds=SLACK_SECONDS)
            assert checks[0] <= reissued_by, "a lost check runs once its lease has expired"
        if worst > bound:
            late[product_id] = f"{worst:.2f} s > {bound:.2f} s"
    assert late == {}, f"unchecked too long: {late}"

    async with maker() as session:
        rows = await session.execute(
            select(PriceHistory.product_id, func.count()).group_by(PriceHistory.product_id)
        )
        per_product = {product_id: count for product_id, count in rows}
        assert per_product == {p.id: 1 for p in products}  # never changed: one row each


# --- the same check job twice has the effect of once ---


@pytest.fixture
async def product_check(
    engine: AsyncEngine, redis_url: str, fresh_database_url: str
) -> AsyncIterator[ProductCheck]:
    settings = ScraperSettings(
        environment="test",
        database_url=fresh_database_url,
        redis_url=redis_url,
        fetch_allowed_hosts=["127.0.0.1"],
        per_domain_delay_seconds=0.0,
        respect_robots=False,
    )
    redis = queue_client(redis_url)
    async with GuardedClient.from_settings(settings) as client:
        fetcher = ShopFetcher(client, settings.fetch_policy())
        yield ProductCheck(async_sessionmaker(engine, expire_on_commit=False), redis, fetcher,
                           settings)  # fmt: skip
    await redis.aclose(close_connection_pool=True)


async def _history_count(session: AsyncSession, product_id: int) -> int:
    count = await session.scalar(
        select(func.count()).select_from(PriceHistory).where(PriceHistory.product_id == product_id)
    )
    return int(count or 0)


async def test_the_same_check_job_run_twice_at_once_records_one_change_and_one_evaluation(
    product_check: ProductCheck, shop: Shop, engine: AsyncEngine
) -> None:
    shop.serve("/kettle", Page(body=product_page("1280").body, delay=0.3))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    async with maker() as session, session.begin():
        product = await add_product(session, shop.url("/kettle"))
    job = CheckProduct(product_id=product.id, lease_token="from-the-claim")
    ctx = {"product_check": product_check}
    redis: ArqRedis = product_check.redis

    results = await asyncio.gather(check_product(ctx, job), check_product(ctx, job))

    # The later lease wins; the earlier check finds its lease gone and writes nothing.
    assert sorted(results) == ["changed", "lease_lost"]
    async with maker() as session:
        assert await _history_count(session, product.id) == 1
    assert await redis.zcard(EVALUATE_QUEUE) == 1

    # Run again after the first finished: the state is the same, so nothing new is recorded.
    assert await check_product(ctx, job) == "unchanged"
    async with maker() as session:
        assert await _history_count(session, product.id) == 1
        stored = await session.get(Product, product.id)
        assert stored is not None
        assert stored.lease_token is None
    assert await redis.zcard(EVALUATE_QUEUE) == 1


async def test_a_check_queued_twice_is_one_job(product_check: ProductCheck) -> None:
    redis: ArqRedis = product_check.redis
    job = CheckProduct(product_id=7, lease_token="a")
    assert await enqueue(redis, job) is True
    assert await enqueue(redis, CheckProduct(product_id=7, lease_token="b")) is False
    assert await redis.zcard(job.queue) == 1


# --- the one-statement path for unchanged checks writes only when it should ---


async def test_an_unchanged_check_that_lost_its_lease_writes_nothing(
    product_check: ProductCheck, shop: Shop, engine: AsyncEngine
) -> None:
    maker = async_sessionmaker(engine, expire_on_commit=False)
    shop.serve("/kettle", product_page("1280"))
    async with maker() as session, session.begin():
        product = await add_product(session, shop.url("/kettle"))
    assert await product_check.run(product.id) == "changed"
    async with maker() as session:
        before = await session.get(Product, product.id)
    arrived = asyncio.Event()

    def slow_page(_request: object) -> Page:
        arrived.set()
        return Page(body=product_page("1280").body, delay=0.3)

    shop.handle("/kettle", slow_page)
    check = asyncio.create_task(product_check.run(product.id))
    await arrived.wait()
    async with maker() as session, session.begin():
        taken = await session.get(Product, product.id)
        assert taken is not None
        taken.lease_token = "another-check"
    assert await check == "lease_lost"

    async with maker() as session:
        after = await session.get(Product, product.id)
        rows = list(await session.scalars(select(PriceHistory)))
    assert before is not None
    assert after is not None
    assert after.last_checked_at == before.last_checked_at
    assert after.next_check_at == before.next_check_at
    assert after.lease_token == "another-check"
    assert [r.checks for r in rows] == [1]


async def test_a_known_state_without_a_history_row_opens_one(
    product_check: ProductCheck, shop: Shop, engine: AsyncEngine
) -> None:
    maker = async_sessionmaker(engine, expire_on_commit=False)
    shop.serve("/kettle", product_page("1280"))
    async with maker() as session, session.begin():
        product = await add_product(session, shop.url("/kettle"), price=Decimal(1280),
                                    currency="JPY", availability=Availability.IN_STOCK)  # fmt: skip
    assert await product_check.run(product.id) == "changed"
    async with maker() as session:
        assert await _history_count(session, product.id) == 1
    assert await product_check.run(product.id) == "unchanged"
    async with maker() as session:
        rows = list(await session.scalars(select(PriceHistory)))
        stored = await session.get(Product, product.id)
    assert [r.checks for r in rows] == [2]
    assert stored is not None
    assert (stored.last_result, stored.lease_token, stored.status) == ("unchanged", None, "active")
    assert stored.next_check_at > datetime.now(UTC) + timedelta(seconds=3000)


# --- a claim's batch: unchanged checks recorded together, the rest each on its own ---


async def _lease(maker: async_sessionmaker[AsyncSession], ids: list[int], token: str) -> None:
    async with maker() as session, session.begin():
        await session.execute(
            update(Product)
            .where(Product.id.in_(ids))
            .values(lease_token=token, lease_expires_at=datetime.now(UTC) + timedelta(minutes=5))
        )


async def test_a_batch_records_its_unchanged_checks_together_and_each_change_on_its_own(
    product_check: ProductCheck, shop: Shop, engine: AsyncEngine
) -> None:
    maker = async_sessionmaker(engine, expire_on_commit=False)
    for name in ("a", "b"):
        shop.serve(f"/{name}", product_page("1280"))
    shop.serve("/moved", product_page("1280"), product_page("1180"))
    shop.serve("/known", product_page("990"))
    async with maker() as session, session.begin():
        a, b, moved = [await add_product(session, shop.url(f"/{n}")) for n in ("a", "b", "moved")]
        # The state it will see, but no history row yet.
        known = await add_product(session, shop.url("/known"), price=Decimal(990), currency="JPY",
                                  availability=Availability.IN_STOCK)  # fmt: skip
    for product in (a, b, moved):
        assert await product_check.run(product.id) == "changed"
    redis = product_check.redis
    await redis.flushdb()
    ids = [a.id, b.id, moved.id, known.id]
    await _lease(maker, ids, "claim")

    results = await product_check.run_batch("claim", ids)

    assert results == {"unchanged": 2, "changed": 2}
    async with maker() as session:
        rows = {
            pid: [(r.price, r.checks) for r in await session.scalars(
                select(PriceHistory).where(PriceHistory.product_id == pid)
                .order_by(PriceHistory.first_seen_at, PriceHistory.id)
            )]
            for pid in ids
        }  # fmt: skip
        stored = {pid: await session.get(Product, pid) for pid in ids}
    assert rows[a.id] == rows[b.id] == [(Decimal(1280), 2)]
    assert rows[moved.id] == [(Decimal(1280), 1), (Decimal(1180), 1)]
    assert rows[known.id] == [(Decimal(990), 1)]
    results_stored = {}
    for pid, found in stored.items():
        assert found is not None
        assert found.lease_token is None
        assert found.status == "active"
        assert found.next_check_at > datetime.now(UTC) + timedelta(seconds=3000)
        results_stored[pid] = found.last_result
    assert results_stored == {a.id: "unchanged", b.id: "unchanged", moved.id: "changed",
                              known.id: "changed"}  # fmt: skip
    assert await queue_length(redis, EVALUATE_QUEUE) == 2  # one evaluation per change


async def test_a_batch_skips_a_product_whose_lease_another_check_took(
    product_check: ProductCheck, shop: Shop, engine: AsyncEngine
) -> None:
    maker = async_sessionmaker(engine, expire_on_commit=False)
    shop.serve("/kettle", product_page("1280"))
    async with maker() as session, session.begin():
        product = await add_product(session, shop.url("/kettle"))
    await _lease(maker, [product.id], "a-check-now")

    assert await product_check.run_batch("claim", [product.id]) == {"not_leased": 1}
    assert shop.requests_to("/kettle") == []
    async with maker() as session:
        stored = await session.get(Product, product.id)
    assert stored is not None
    assert (stored.lease_token, stored.last_checked_at) == ("a-check-now", None)


async def test_a_check_still_running_when_its_batch_is_out_of_time_is_abandoned(
    product_check: ProductCheck, shop: Shop, engine: AsyncEngine
) -> None:
    maker = async_sessionmaker(engine, expire_on_commit=False)
    shop.serve("/quick", product_page("1280"))
    shop.serve("/slow", Page(body=product_page("1280").body, delay=5))
    async with maker() as session, session.begin():
        quick = await add_product(session, shop.url("/quick"))
        slow = await add_product(session, shop.url("/slow"))
    await _lease(maker, [quick.id, slow.id], "claim")
    product_check.batch_seconds = 1.0

    assert await product_check.run_batch("claim", [quick.id, slow.id]) == {
        "changed": 1,
        "abandoned": 1,
    }
    async with maker() as session:
        stored = await session.get(Product, slow.id)
    assert stored is not None
    # Not recorded: the lease stays until it expires, and the product is claimed again then.
    assert (stored.lease_token, stored.last_checked_at) == ("claim", None)
    assert stored.lease_expires_at is not None
    assert stored.lease_expires_at > datetime.now(UTC)


async def test_a_batch_records_a_304_as_not_modified_with_its_unchanged_checks(
    product_check: ProductCheck, shop: Shop, engine: AsyncEngine
) -> None:
    maker = async_sessionmaker(engine, expire_on_commit=False)
    shop.serve("/kettle", Page(body=product_page("980").body, etag='"v1"'))
    async with maker() as session, session.begin():
        product = await add_product(session, shop.url("/kettle"))
    assert await product_check.run(product.id) == "changed"
    await _lease(maker, [product.id], "claim")

    assert await product_check.run_batch("claim", [product.id]) == {"not_modified": 1}
    assert shop.requests_to("/kettle")[-1].headers["if-none-match"] == '"v1"'
    async with maker() as session:
        stored = await session.get(Product, product.id)
        rows = list(await session.scalars(select(PriceHistory)))
    assert stored is not None
    assert (stored.last_result, stored.etag, stored.lease_token) == ("not_modified", '"v1"', None)
    assert [(r.price, r.checks) for r in rows] == [(Decimal(980), 2)]


async def test_a_batch_records_finished_checks_before_its_slowest_one_ends(
    product_check: ProductCheck, shop: Shop, engine: AsyncEngine
) -> None:
    maker = async_sessionmaker(engine, expire_on_commit=False)
    shop.serve("/quick", product_page("1280"))
    shop.serve("/slow", Page(body=product_page("1280").body, delay=FLUSH_SECONDS + 2))
    async with maker() as session, session.begin():
        quick = await add_product(session, shop.url("/quick"))
        slow = await add_product(session, shop.url("/slow"))
    await _lease(maker, [quick.id, slow.id], "claim")

    batch = asyncio.create_task(product_check.run_batch("claim", [quick.id, slow.id]))
    await asyncio.sleep(FLUSH_SECONDS + 1)
    assert not batch.done()
    async with maker() as session:
        assert await _history_count(session, quick.id) == 1  # committed, evaluation queued
        assert await _history_count(session, slow.id) == 0
    assert await product_check.redis.zcard(EVALUATE_QUEUE) == 1
    assert await batch == {"changed": 2}
    assert await product_check.redis.zcard(EVALUATE_QUEUE) == 2
