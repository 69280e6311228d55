"""The workers benchmark's scaffolding: rows, changes, jobs in Redis, child processes, counters.

Helpers of `bench_workers.py`; nothing here is measured.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from pricealert.models import AlertRule, Channel, PriceHistory, Product, User, Watch
from pricealert.models import alert_rule_channel as rule_channel
from pricealert.queues import EvaluateChange, EvaluateChanges, JobPayload
from scripts.bench.scrape_setup import ROOT

#: A fixed secret: the receiver child checks every signature with it.
WEBHOOK_SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def add_watched_products(engine: AsyncEngine, count: int, webhook_url: str) -> None:
    """One user (caps out of the way, as in the pipeline bench), one webhook channel, and
    `count` products each watched with a `change` rule on that channel, first price seen."""
    user_id, channel_id = uuid.uuid4(), uuid.uuid4()
    async with engine.begin() as connection:
        await connection.execute(
            insert(User).values(
                id=user_id, email="bench@pricealert.example", daily_notification_cap=10**9
            )
        )
        await connection.execute(
            insert(Channel).values(
                id=channel_id, user_id=user_id, kind="webhook", target=webhook_url,
                secret=WEBHOOK_SECRET, verified_at=T0,  # unverified channels are held
            )
        )  # fmt: skip
        products = (
            await connection.execute(
                insert(Product).returning(Product.id),
                [
                    {
                        "url": f"https://shop.bench.example/p/{index}",
                        "domain": "shop.bench.example",
                        "check_interval_seconds": 3600,
                        "title": f"Bench product {index}",
                        "price": 100,
                        "currency": "USD",
                        "availability": "InStock",
                        "next_check_at": T0 + timedelta(days=3650),
                    }
                    for index in range(count)
                ],
            )
        ).scalars()
        product_ids = list(products)
        watches = {pid: uuid.uuid4() for pid in product_ids}
        rules = {pid: uuid.uuid4() for pid in product_ids}
        await connection.execute(
            insert(Watch),
            [{"id": watches[p], "user_id": user_id, "product_id": p,
              "check_interval_seconds": 3600} for p in product_ids],
        )  # fmt: skip
        state = {"created_price": "100", "created_currency": "USD", "created_in_stock": True}
        await connection.execute(
            insert(AlertRule),
            [{"id": rules[p], "user_id": user_id, "watch_id": watches[p], "product_id": p,
              "kind": "change", "state": state, "created_at": T0} for p in product_ids],
        )  # fmt: skip
        await connection.execute(
            insert(rule_channel), [{"rule_id": r, "channel_id": channel_id} for r in rules.values()]
        )
        seen = T0 + timedelta(seconds=1)
        await connection.execute(
            insert(PriceHistory),
            [{"product_id": p, "price": 100, "currency": "USD", "availability": "InStock",
              "first_seen_at": seen, "last_seen_at": seen, "evaluated_at": seen}
             for p in product_ids],
        )  # fmt: skip


async def record_changes(engine: AsyncEngine, price: int) -> list[EvaluateChange]:
    """A new price on every product, recorded as the scraper records a change."""
    async with engine.begin() as connection:
        rows = await connection.execute(
            text(
                "INSERT INTO price_history (product_id, price, currency, availability,"
                " first_seen_at, last_seen_at)"
                " SELECT id, :price, 'USD', 'InStock', now(), now() FROM product"
                " RETURNING product_id, id"
            ),
            {"price": price},
        )
        jobs = [EvaluateChange(product_id=p, history_id=h) for p, h in rows]
        await connection.execute(text("UPDATE product SET price = :price"), {"price": price})
    return jobs


async def enqueue_all(redis: Any, jobs: Sequence[JobPayload]) -> None:
    """Queue the jobs exactly as `pricealert.queues.enqueue` does, in one pipeline, so the
    evaluator running in this process starts on them only once they are all in."""
    from arq.connections import ArqRedis
    from arq.constants import job_key_prefix
    from arq.jobs import serialize_job
    from arq.utils import timestamp_ms

    from pricealert.queues import serializer

    assert isinstance(redis, ArqRedis)
    now = timestamp_ms()
    async with redis.pipeline(transaction=True) as pipe:
        for job in jobs:
            job_id = job.job_id()
            data = serialize_job(
                job.function, (job.model_dump(mode="json"),), {}, None, now, serializer=serializer
            )
            pipe.psetex(job_key_prefix + job_id, redis.expires_extra_ms, data)
            pipe.zadd(job.queue, {job_id: now})
        await pipe.execute()


class RedisCommands:
    """Redis commands sent by this process (each one packed once, pipelined or not)."""

    count: ClassVar[int] = 0

    @classmethod
    def install(cls) -> None:
        from redis.asyncio.connection import AbstractConnection

        original = AbstractConnection.pack_command

        def pack_command(self: Any, *args: Any) -> Any:
            cls.count += 1
            return original(self, *args)

        AbstractConnection.pack_command = pack_command  # type: ignore[method-assign]


class Statements:
    """SQL statements executed through SQLAlchemy in this process."""

    count: ClassVar[int] = 0

    @classmethod
    def install(cls) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        def counted(*_args: Any) -> None:
            cls.count += 1

        event.listen(Engine, "before_cursor_execute", counted)


def counters() -> dict[str, int]:
    """Writes to PostgreSQL and Redis sockets, SQL statements and Redis commands so far."""
    from scripts.bench.scrape_phases import RoundTrips

    writes = RoundTrips.snapshot()
    return {
        "postgres_round_trips": writes.get("postgres", 0),
        "sql_statements": Statements.count,
        "redis_round_trips": writes.get("redis", 0),
        "redis_commands": RedisCommands.count,
    }


def install_counters() -> None:
    from scripts.bench.scrape_phases import RoundTrips

    RoundTrips.install()
    RedisCommands.install()
    Statements.install()


@dataclass
class Child:
    """A helper process speaking one JSON line per request on stdin/stdout."""

    process: asyncio.subprocess.Process
    hello: dict[str, Any]

    @classmethod
    async def start(cls, module: str, *args: str, env: dict[str, str] | None = None) -> Child:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", module, *args,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT, env=env,
        )  # fmt: skip
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
        if not line:
            raise RuntimeError(f"{module} did not start")
        return cls(process, json.loads(line))

    async def ask(self, request: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(request.encode() + b"\n")
        await self.process.stdin.drain()
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout=120)
        if not line:
            raise RuntimeError(f"a bench child ended while asked {request!r}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def stop(self) -> None:
        if self.process.returncode is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                await asyncio.wait_for(self.process.wait(), timeout=30)
            except TimeoutError:
                self.process.terminate()
                await self.process.wait()


async def serve_requests(answer: Any) -> None:
    """A child's loop: answer each stdin line with `await answer(line)` until stdin closes."""
    out = sys.__stdout__
    assert out is not None
    while True:
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            return
        reply = await answer(line.strip())
        out.write(json.dumps(reply) + "\n")
        out.flush()


def announce(hello: dict[str, Any]) -> None:
    out = sys.__stdout__
    assert out is not None
    out.write(json.dumps(hello) + "\n")
    out.flush()


def as_batches(jobs: list[EvaluateChange], size: int) -> Sequence[JobPayload]:
    """The jobs as the scraper hands them on: `EvaluateChanges` of `size` (1: one job each)."""
    if size <= 1:
        return jobs
    return [
        EvaluateChanges(changes=tuple(jobs[start : start + size]))
        for start in range(0, len(jobs), size)
    ]
