"""Benchmark the whole pipeline: scrape → evaluate → notify, all four services running.

    python -m scripts.bench.bench_pipeline [--products 1500] [--interval 5] [--change-every 10]
                                           [--users 500] [--duration 60] [--instances 1]
                                           [--evaluate-one-by-one]

The defaults offer 300 checks/s (what the scraper benchmark sustains on this machine
class, wall clock) with every other check a price change; `--change-every 50` makes it
one in ten.

Resets its own database (`pricealert_bench`) and Redis db 8; starts a shop
process (`pipeline_shop`: N products whose prices change every
`--change-every` seconds, spread evenly), the real stack (`pricealert_ops.devtools.stack`),
and a signed-webhook receiver in this process. Through the API it signs up
`--users` users, each with a webhook channel, and watches every product
(checked every `--interval` seconds) with a `change` rule of user
i % users — many users, as in production, so evaluations are not all
serialised on one user's lock; their daily notification caps are raised to the
API's maximum (1000) in the benchmark's own database, so that caps, not the
pipeline, do not set the pace (`withheld` in the output shows if they did).
Once every product has its first price it measures for `--duration` seconds
and prints one JSON object:

- checks/s (product pages the shop served) against the offered load (N / interval);
- notifications/s (distinct signed webhooks received);
- latency p50/p99/max from the change being detected (`detected_at`, the
  price_history row's first_seen_at) to the webhook's arrival, from the shop's
  change to arrival (adds the wait for the next check), and per stage from the
  notification rows (detected → notification created → sent);
- CPU seconds of the stack's processes, of the PostgreSQL backends serving the
  benchmark database, of the shop and of this process, and checks per CPU
  second (the issue's "checks/s per core"); Redis's CPU is not attributable
  on a shared server and is left out;
- what was still queued at the end (a growing backlog means the offered load
  was above what the pipeline sustains).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis

from pricealert.db.migrate import upgrade
from pricealert.queues import ALL_QUEUES
from pricealert.settings import PriceAlertSettings
from pricealert_ops.devtools.receiver import Receiver
from pricealert_ops.devtools.stack import Api, Stack, reset_database, with_path
from scripts.bench.common import machine_info
from scripts.bench.pipeline_measure import cpu_between, cpu_seconds, percentiles
from scripts.bench.pipeline_shop import PriceClock
from services.api.users.schemas import MAX_DAILY_NOTIFICATIONS

#: The stack as deployed, except what a single local shop and a benchmark need.
STACK_ENV = {
    "PRICEALERT_MIN_CHECK_INTERVAL_SECONDS": "1",
    "PRICEALERT_RATE_LIMIT_PER_MINUTE": "1000000000",
    "PRICEALERT_SIGNUP_LIMIT_PER_HOUR": "1000000000",
    # One local shop stands in for thousands of domains: per-domain politeness off.
    "PRICEALERT_PER_DOMAIN_CONCURRENCY": "100",
    "PRICEALERT_PER_DOMAIN_DELAY_SECONDS": "0",
    # Leases, timeouts and sweepers as deployed (the test stack's are made fast for tests:
    # a sweeper every 2 s with no grace re-issues work that is merely waiting its turn).
    "PRICEALERT_LEASE_SECONDS": "300",
    "PRICEALERT_CHECK_TIMEOUT_SECONDS": "120",
    "PRICEALERT_DELIVERY_LEASE_SECONDS": "120",
    "PRICEALERT_JOB_TIMEOUT_SECONDS": "60",
    "PRICEALERT_HTTP_TIMEOUT_SECONDS": "10",
    "PRICEALERT_SWEEP_INTERVAL_SECONDS": "30",
    "PRICEALERT_SWEEP_AFTER_SECONDS": "120",
    "PRICEALERT_SWEEP_GRACE_SECONDS": "30",
    "PRICEALERT_RETRY_BASE_SECONDS": "10",
}


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    base = PriceAlertSettings()
    database_url = with_path(base.database_url, f"/{args.database}")
    redis_url = with_path(base.redis_url, f"/{args.redis_db}")
    await reset_database(database_url)
    await asyncio.to_thread(upgrade, "head", database_url=database_url)
    queues = aioredis.Redis.from_url(redis_url)
    await queues.flushdb()
    shop = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "scripts.bench.pipeline_shop",
        "--products", str(args.products), "--change-every", str(args.change_every),
        stdout=asyncio.subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    receiver = Receiver()
    stack: Stack | None = None
    db = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        assert shop.stdout is not None
        origin = (await shop.stdout.readline()).decode().strip()
        await receiver.start()
        stack = Stack(
            database_url,
            redis_url,
            allowed_hosts=[origin.split("://", 1)[1], receiver.netloc],
            instances=args.instances,
            env={
                **STACK_ENV,
                "PRICEALERT_EVALUATE_BATCHES_TOGETHER": str(not args.evaluate_one_by_one).lower(),
            },
        )
        await stack.start()
        async with Api(stack.api_url, timeout=60) as api:
            await _watch_all(api, db, receiver, origin, args)
            result = await _measure(stack, db, queues, receiver, origin, shop.pid, args)
        result["logs"] = str(stack.log_path)
        return result
    finally:
        if stack is not None:
            await stack.stop()
        if shop.returncode is None:
            shop.terminate()
        await shop.wait()
        await receiver.close()
        await db.close()
        await queues.flushdb()
        await queues.aclose()


async def _watch_all(
    api: Api, db: asyncpg.Connection, receiver: Receiver, origin: str, args: argparse.Namespace
) -> None:
    """`--users` users, each with a webhook channel; product i watched by user i % users
    with a `change` rule."""
    channels = []
    for number in range(args.users):
        key = await api.sign_up(f"bench{number}@pricealert.example")
        target = f"{receiver.url}?user={number}"
        channel = await api.call("POST", "/v1/channels", {"kind": "webhook", "target": target})
        receiver.secrets_by_target[f"{receiver.path}?user={number}"] = channel["secret"]
        channels.append((key, channel["id"]))
    # The API's largest daily cap: high enough for the run, bounded as in production.
    await db.execute("UPDATE app_user SET daily_notification_cap = $1", MAX_DAILY_NOTIFICATIONS)
    gate = asyncio.Semaphore(16)

    async def watch(index: int) -> None:
        key, channel_id = channels[index % len(channels)]
        async with gate:
            product = await api.call(
                "POST",
                "/v1/products",
                {"url": f"{origin}/p/{index}", "check_interval_seconds": args.interval},
                key=key,
            )
            await api.call(
                "POST",
                "/v1/alerts",
                {"product_id": product["id"], "kind": "change", "channel_ids": [channel_id]},
                key=key,
            )

    await asyncio.gather(*(watch(i) for i in range(args.products)))
    deadline = time.monotonic() + args.warmup_timeout
    while await db.fetchval("SELECT count(*) FROM product WHERE price IS NULL"):
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: not every product was checked within {args.warmup_timeout} s")
        await asyncio.sleep(0.5)


async def _measure(
    stack: Stack,
    db: asyncpg.Connection,
    queues: aioredis.Redis,
    receiver: Receiver,
    origin: str,
    shop_pid: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    async def pids() -> dict[str, list[int]]:
        backends = await db.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        )
        services = {f"stack_{c.service}": [c.pid] for c in stack.children()}
        return {
            **services,
            "stack": stack.processes(),
            "postgres_backends": [row["pid"] for row in backends],
            "shop": [shop_pid],
            "bench_receiver": [os.getpid()],
        }

    async with httpx.AsyncClient() as client:
        served_before = (await client.get(f"{origin}/stats")).json()["served"]
        cpu_before = {name: cpu_seconds(p) for name, p in (await pids()).items()}
        started = time.time()
        await asyncio.sleep(args.duration)  # the measurement window: the pipeline runs
        ended = time.time()
        cpu_after = {name: cpu_seconds(p) for name, p in (await pids()).items()}
        served = (await client.get(f"{origin}/stats")).json()["served"] - served_before
    window = ended - started
    cpu = {
        name: round(cpu_between(cpu_before.get(name, {}), cpu_after[name]), 2) for name in cpu_after
    }

    clock = PriceClock(args.products, args.change_every)
    first: dict[str, Any] = {}
    invalid = 0
    for delivery in receiver.received:
        if not delivery.signature_valid:
            invalid += 1
        elif started <= delivery.at <= ended:
            first.setdefault(delivery.headers["webhook-id"], delivery)
    detected_to_received, change_to_received = [], []
    for delivery in first.values():
        data = delivery.json["data"]
        detected = datetime.fromisoformat(data["detected_at"]).timestamp()
        index = int(data["product"]["url"].rsplit("/", 1)[1])
        detected_to_received.append(delivery.at - detected)
        change_to_received.append(delivery.at - clock.last_change(index, detected))
    rows = await db.fetch(
        "SELECT detected_at, created_at, sent_at FROM notification"
        " WHERE status = 'sent' AND sent_at BETWEEN $1 AND $2",
        datetime.fromtimestamp(started, UTC),
        datetime.fromtimestamp(ended, UTC),
    )
    backlog = {queue: await queues.zcard(queue) for queue in ALL_QUEUES}
    backlog["pending_notifications"] = await db.fetchval(
        "SELECT count(*) FROM notification WHERE status = 'pending'"
    )
    withheld = {
        str(row["reason"]): int(row["count"])
        for row in await db.fetch(
            "SELECT split_part(coalesce(last_error, status), ':', 1) AS reason, count(*)"
            " FROM notification WHERE status NOT IN ('pending', 'sent') GROUP BY 1"
        )
    }
    return {
        "benchmark": "pipeline",
        "config": {
            "products": args.products,
            "users": args.users,
            "check_interval_seconds": args.interval,
            "change_every_seconds": args.change_every,
            "worker_instances": args.instances,
            "evaluate_batches_together": not args.evaluate_one_by_one,
            "window_seconds": round(window, 1),
        },
        "offered_checks_per_second": round(args.products / args.interval, 1),
        "checks_per_second": round(served / window, 1),
        "notifications_per_second": round(len(first) / window, 1),
        "latency_detected_to_webhook_seconds": percentiles(detected_to_received),
        "latency_shop_change_to_webhook_seconds": percentiles(change_to_received),
        "stages_seconds": {
            "detected_to_notification_created": percentiles(
                [(r["created_at"] - r["detected_at"]).total_seconds() for r in rows]
            ),
            "created_to_sent": percentiles(
                [(r["sent_at"] - r["created_at"]).total_seconds() for r in rows]
            ),
        },
        "cpu_seconds": cpu,
        "checks_per_cpu_second": {
            "stack": round(served / cpu["stack"], 1) if cpu["stack"] else None,
            "stack_and_postgres": round(served / (cpu["stack"] + cpu["postgres_backends"]), 1)
            if cpu["stack"] + cpu["postgres_backends"]
            else None,
        },
        "withheld": withheld,
        "backlog_at_end": backlog,
        "invalid_signatures": invalid,
        "machine": machine_info(),
    }


def _database_name(value: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", value):
        raise argparse.ArgumentTypeError("use lower-case letters, digits and _")
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=1500)
    parser.add_argument("--users", type=int, default=500, help="product i is user i % users'")
    parser.add_argument("--interval", type=int, default=5, help="check interval, seconds (≥ 1)")
    parser.add_argument("--change-every", type=float, default=10.0, help="seconds per price")
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds")
    parser.add_argument("--instances", type=int, default=1, help="processes per worker")
    parser.add_argument("--warmup-timeout", type=float, default=180.0)
    parser.add_argument(
        "--evaluate-one-by-one", action="store_true",
        help="baseline: the evaluator takes each change of a batch in its own unit of work",
    )  # fmt: skip
    parser.add_argument("--database", type=_database_name, default="pricealert_bench")
    parser.add_argument("--redis-db", type=int, default=8, choices=range(16))
    args = parser.parse_args()
    if args.products < 1 or args.interval < 1 or args.duration <= 0 or args.change_every <= 0:
        parser.error("--products and --interval must be at least 1; durations positive")
    print(json.dumps(asyncio.run(bench(args)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
