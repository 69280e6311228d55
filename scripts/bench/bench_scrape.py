"""Benchmark the scraper end to end: checks per second per core, CPU milliseconds per check.

The real worker (`services.scraper.worker.WorkerSettings`, run in this process by
arq's `Worker`) claims due products from a scratch PostgreSQL database
(`pricealert_bench_<pid>`, dropped afterwards), queues their checks in Redis
(db 5, flushed), fetches the pages through the guarded client from a shop in a
separate process (`scrape_shop.py`: 100–300 KB pages on 127.0.0.2, 127.0.0.3, …,
one "domain" each, so per-domain concurrency applies), extracts, stores, and
queues an evaluation for each change. Only this process's CPU is counted
(`time.process_time`): not the shop's, PostgreSQL's or Redis's.

Per-domain delay is 0 (a real deployment waits ~1 s between requests to one shop,
which costs wall time, not CPU); robots.txt is on (cached per shop); pages carry no
ETag (every check parses: the worst case). Two scenarios, each the median of
several passes over every product:

- `unchanged`: the steady state; each check extends the current history row.
- `first_check`: every product seen for the first time; each check opens a history
  row and queues one evaluation job.

One extra pass under cProfile splits the CPU into phases (shares of the profile,
scaled to the unprofiled figure; extraction is timed exactly). Prints one JSON object.

`--baseline REV` also runs every steady pass with the `pricealert.http` of git revision
REV (e.g. `381cb7a`, the transport of our own that aiohttp replaced; loaded beside
today's as in `http_client_bench`), in the same worker, alternating which goes first;
`baseline` in the JSON has its figures and the per-pass paired ratio ours/theirs. The
machine's speed moves between runs more than the clients differ: pairs are what it can
compare.

    python scripts/bench/bench_scrape.py [--products 2000] [--hosts 16] [--runs 5]
        [--baseline REV]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import importlib
import json
import os
import statistics
import time
from typing import Any

from scripts.bench.common import machine_info, workers_log_elsewhere
from scripts.bench.http_client_bench import baseline_package, paired
from scripts.bench.scrape_phases import ExtractTimer, RoundTrips, phase_shares
from scripts.bench.scrape_setup import (
    REDIS_URL,
    add_products,
    checked_since,
    create_database,
    drop_database,
    make_all_due,
    results,
    shop_process,
)

TARGET_CHECKS_PER_SECOND_PER_CORE = 450


def configure(database_url: str, origins: list[str], args: argparse.Namespace) -> None:
    """The worker reads its settings from the environment at import, as in production."""
    os.environ.update({
        "PRICEALERT_ENVIRONMENT": "test",
        "PRICEALERT_DATABASE_URL": database_url,
        "PRICEALERT_REDIS_URL": REDIS_URL,
        "PRICEALERT_FETCH_ALLOWED_HOSTS": ",".join(o.split("://", 1)[1] for o in origins),
        "PRICEALERT_PER_DOMAIN_DELAY_SECONDS": "0",
        "PRICEALERT_METRICS_PORT": "0",
        "PRICEALERT_WORKER_CONCURRENCY": str(args.concurrency),
    })  # fmt: skip


class Bench:
    def __init__(self, engine: Any, worker: Any, products: int) -> None:
        self.engine = engine
        self.worker = worker
        self.products = products

    async def one_pass(
        self, *, forget_state: bool, profiler: cProfile.Profile | None = None
    ) -> dict[str, Any]:
        """Make every product due; CPU and wall time until all are checked and idle."""
        since = await make_all_due(self.engine, forget_state=forget_state)
        extract_cpu = ExtractTimer.total
        sent = RoundTrips.snapshot()
        wall = time.perf_counter()
        cpu = time.process_time()
        if profiler is not None:
            profiler.enable()
        # Polling is the point: the state is in PostgreSQL and in arq's task table.
        while await checked_since(self.engine, since) < self.products:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        # ... and the last checks' after-commit enqueues
        while any(not t.done() for t in self.worker.tasks.values()):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        if profiler is not None:
            profiler.disable()
        cpu = time.process_time() - cpu
        wall = time.perf_counter() - wall
        after = RoundTrips.snapshot()
        round_trips = {k: (after[k] - sent.get(k, 0)) / self.products for k in sorted(after)}
        outcome = await results(self.engine)
        expected = "changed" if forget_state else "unchanged"
        if outcome != {expected: self.products}:
            raise RuntimeError(f"the pass was not all {expected}: {outcome}; not a benchmark")
        await self.worker.pool.flushdb()  # queued evaluations: no evaluator runs here
        return {
            "cpu_ms_per_check": cpu * 1000 / self.products,
            "extract_ms_per_check": (ExtractTimer.total - extract_cpu) * 1000 / self.products,
            "wall_checks_per_second": self.products / wall,
            "results": outcome,
            "round_trips_per_check": round_trips,
        }


def summary(passes: list[dict[str, Any]]) -> dict[str, Any]:
    cpu_ms = statistics.median(p["cpu_ms_per_check"] for p in passes)
    return {
        "checks_per_second_per_core": round(1000 / cpu_ms, 1),
        "cpu_ms_per_check": round(cpu_ms, 3),
        "extract_cpu_ms_per_check": round(
            statistics.median(p["extract_ms_per_check"] for p in passes), 3
        ),
        "wall_checks_per_second": round(
            statistics.median(p["wall_checks_per_second"] for p in passes), 1
        ),
        "cpu_ms_per_check_each_pass": [round(p["cpu_ms_per_check"], 3) for p in passes],
        "results_last_pass": passes[-1]["results"],
        # counted in this process: the bench's own progress polls add ~0.01 postgres
        "writes_per_check": {
            k: round(v, 2) for k, v in passes[-1]["round_trips_per_check"].items()
        },
    }


#: What-ifs for code this benchmark does not own; off by default, named in the output.
EXPERIMENTS = {
    "no-arq-job-logs": "arq's Worker(log_results=False): no two log lines per job from arq",
    "uvloop": "the event loop is uvloop's",
}


def apply_experiments(names: list[str]) -> dict[str, Any]:
    """Patch in the named what-ifs; returns Worker overrides."""
    overrides: dict[str, Any] = {}
    if "no-arq-job-logs" in names:
        overrides["log_results"] = False
    return overrides


def baseline_check(ctx: dict[str, Any], module: str, settings: Any) -> Any:
    """The worker's `ProductCheck` again, fetching through `module`'s `GuardedClient`."""
    from services.scraper.check import ProductCheck
    from services.scraper.fetch import ShopFetcher

    client = importlib.import_module(module).GuardedClient.from_settings(
        settings, max_connections_per_host=settings.per_domain_concurrency
    )
    ctx["baseline_http_client"] = client
    fetcher = ShopFetcher(client, settings.fetch_policy())
    return ProductCheck(ctx["sessionmaker"], ctx["redis"], fetcher, settings)


async def run(args: argparse.Namespace, database_url: str, shop: Any) -> dict[str, Any]:
    from arq.worker import Worker
    from sqlalchemy.ext.asyncio import create_async_engine

    configure(database_url, shop.origins, args)
    from services.scraper import worker as scraper_worker  # reads the settings just set

    ExtractTimer.install()
    RoundTrips.install()
    engine = create_async_engine(database_url, pool_size=2)
    await add_products(engine, shop, args.products)
    overrides = apply_experiments(args.experiment)
    worker = Worker(**{**scraper_worker.WorkerSettings, **overrides}, handle_signals=False)
    main = asyncio.create_task(worker.async_run())
    while "product_check" not in worker.ctx:  # noqa: ASYNC110 - arq has no "started" event
        await asyncio.sleep(0.05)
    await worker.pool.flushdb()
    bench = Bench(engine, worker, args.products)
    checks = {"guarded": worker.ctx["product_check"]}
    if args.baseline:
        checks["baseline"] = baseline_check(
            worker.ctx, args.baseline_module, scraper_worker.settings
        )
    steady: dict[str, list[dict[str, Any]]] = {name: [] for name in checks}
    try:
        await bench.one_pass(forget_state=True)  # warm-up: connections, caches, robots
        first = [await bench.one_pass(forget_state=True) for _ in range(args.changed_runs)]
        for check in checks.values():  # every product has a history row again; and
            worker.ctx["product_check"] = check  # each client's connections and robots
            await bench.one_pass(forget_state=False)
        names = list(checks)
        for n in range(args.runs):
            for name in names if n % 2 == 0 else names[::-1]:  # who goes first alternates
                worker.ctx["product_check"] = checks[name]
                steady[name].append(await bench.one_pass(forget_state=False))
        worker.ctx["product_check"] = checks["guarded"]
        breakdown: dict[str, float] = {}
        if not args.no_profile:
            profiler = cProfile.Profile(time.process_time)  # CPU, not wall: the box is shared
            profiled = await bench.one_pass(forget_state=False, profiler=profiler)
            breakdown = phase_shares(profiler, summary(steady["guarded"]), profiled, args.products)
            if args.profile_out:
                profiler.dump_stats(args.profile_out)
    finally:
        if "baseline_http_client" in worker.ctx:
            await worker.ctx["baseline_http_client"].aclose()
        await worker.close()
        with contextlib.suppress(asyncio.CancelledError):
            await main
        await engine.dispose()
    report: dict[str, Any] = {
        "unchanged": summary(steady["guarded"]),
        "first_check": summary(first),
    }
    if args.baseline:
        report["baseline"] = {
            "revision": args.baseline,
            "unchanged": summary(steady["baseline"]),
            "paired_unchanged": paired(
                [p["cpu_ms_per_check"] for p in steady["guarded"]],
                [p["cpu_ms_per_check"] for p in steady["baseline"]],
            ),
        }
    report["unchanged_breakdown_cpu_ms_per_check"] = breakdown
    report["settings"] = {
        "worker_concurrency": args.concurrency,
        "per_domain_concurrency": scraper_worker.settings.per_domain_concurrency,
        "per_domain_delay_seconds": scraper_worker.settings.per_domain_delay_seconds,
        "respect_robots": scraper_worker.settings.respect_robots,
        "claim_batch_size": scraper_worker.settings.claim_batch_size,
        "log_level": scraper_worker.settings.log_level,
    }
    return report


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    name = f"pricealert_bench_{os.getpid()}"
    database_url = await create_database(name)
    try:
        with shop_process(args.hosts) as shop:
            report = await run(args, database_url, shop)
    finally:
        await drop_database(name)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=50, help="worker max_jobs")
    parser.add_argument("--runs", type=int, default=5, help="steady-state passes")
    parser.add_argument("--changed-runs", type=int, default=3, help="first-check passes")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--profile-out", help="also save the profiled pass (pstats) here")
    parser.add_argument(
        "--experiment", action="append", default=[], choices=sorted(EXPERIMENTS),
        help="a what-if for code outside the scraper's check path (repeatable)",
    )  # fmt: skip
    parser.add_argument("--baseline", metavar="REV", help="also pricealert.http as of REV")
    args = parser.parse_args()
    info = machine_info()
    with contextlib.ExitStack() as stack:
        if args.baseline:
            try:
                args.baseline_module = stack.enter_context(baseline_package(args.baseline))
            except ValueError as exc:
                parser.error(str(exc))
        stack.enter_context(workers_log_elsewhere())
        if "uvloop" in args.experiment:
            import uvloop

            report = uvloop.run(main_async(args))
        else:
            report = asyncio.run(main_async(args))
    from scripts.bench.scrape_phases import extraction_pages_per_second

    info["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    unchanged = report["unchanged"]["checks_per_second_per_core"]
    print(json.dumps({
        "benchmark": "scrape",
        "products": args.products,
        "hosts": args.hosts,
        "experiments": {name: EXPERIMENTS[name] for name in args.experiment},
        **report,
        "extraction": extraction_pages_per_second(),
        "target_checks_per_second_per_core": TARGET_CHECKS_PER_SECOND_PER_CORE,
        "target_met": unchanged >= TARGET_CHECKS_PER_SECOND_PER_CORE,
        "machine": info,
    }, ensure_ascii=False))  # fmt: skip


if __name__ == "__main__":
    main()
