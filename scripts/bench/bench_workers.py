"""Benchmark the evaluator and the notifier: CPU per change evaluated and per webhook delivered.

A scratch PostgreSQL database (`pricealert_bench_workers_<pid>`, dropped afterwards)
holds `--products` products, each watched by one user with a `change` rule on one
webhook channel (caps out of the way, as in the pipeline bench). Each round records
a new price on every product (a price-history row, as the scraper does), queues
their evaluations in Redis (db 13, flushed) in one pipeline — as `evaluate_changes`
jobs of `--batch` changes, as the scraper hands them on, or with `--batch 1` one
`evaluate_change` job each — and waits
until the real evaluator (`services.evaluator.worker.WorkerSettings` under arq's
`Worker`, in this process) has evaluated every change and the real notifier (the
same, in a child process: `workers_notifier.py`) has delivered every notification
to a signature-checking receiver (a third process: `workers_receiver.py`).

The evaluator evaluates each batch's changes together, in shared statements; unless
`--no-baseline`, every measured round is preceded by one in which it evaluates each
change of a batch in its own unit of work (the path before issue 17, kept behind
`PRICEALERT_EVALUATE_BATCHES_TOGETHER=false`), reported beside as the baseline.

Reported per change (evaluator) and per delivery (notifier), median of `--runs`
rounds after one warm-up: the worker's CPU (`time.process_time`, the queueing
pipeline's own CPU taken out), the CPU of the PostgreSQL backends serving it
(/proc schedstat, by `application_name`), PostgreSQL round trips (socket writes), SQL
statements, Redis round trips and commands. `--profile` adds one profiled round
and prints where the evaluator's CPU goes (self time by package, and the Python
calls per change, which load does not skew) and the notifier's (its whole run).
Prints one JSON object.

    python -m scripts.bench.bench_workers [--products 1000] [--runs 3] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import pstats
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

from scripts.bench.common import machine_info, workers_log_elsewhere
from scripts.bench.pipeline_measure import cpu_between
from scripts.bench.pipeline_measure import cpu_seconds as cpu_seconds_in_ticks
from scripts.bench.scrape_setup import create_database, drop_database
from scripts.bench.workers_setup import (
    Child,
    add_watched_products,
    as_batches,
    counters,
    enqueue_all,
    install_counters,
    record_changes,
)

REDIS_URL = os.environ.get("PRICEALERT_BENCH_WORKERS_REDIS", "redis://127.0.0.1:6379/13")
#: Self time grouped by where the code lives (first match wins).
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("evaluator", ("services/evaluator/",)),
    ("notifier", ("services/notifier/",)),
    ("database", ("sqlalchemy/", "asyncpg/", "greenlet", "pricealert/repositories/",
                  "pricealert/db/", "pricealert/models.py")),
    ("redis_and_arq", ("redis/", "arq/", "pricealert/queues.py", "hiredis")),
    ("http", ("aiohttp/", "yarl/", "multidict/", "propcache/", "aiohappyeyeballs/",
              "httpx/", "httpcore/", "h11/", "anyio/", "pricealert/http/")),
    ("logging", ("structlog/", "/logging/", "pricealert/logging.py")),
    ("metrics", ("prometheus_client/",)),
    ("payloads", ("pydantic",)),
    ("json", ("/json/",)),
    ("worker_glue", ("pricealert/worker.py",)),
    ("event_loop", ("asyncio/", "selectors.py", "socket.py")),
)  # fmt: skip


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """CPU seconds each live process has used so far, to the nanosecond (/proc/<pid>/schedstat:
    time on a CPU). /proc/<pid>/stat counts in 10 ms ticks, each reading rounded down: over
    the twenty-odd backends serving a worker, a round of 1000 changes read ±0.1 ms per
    change that way, a third of PostgreSQL's share. Ticks where schedstat is missing."""
    used: dict[int, float] = {}
    for pid in pids:
        try:
            used[pid] = int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            used.update(cpu_seconds_in_ticks([pid]))
    return used


def configure(database_url: str, receiver_netloc: str) -> dict[str, str]:
    """The workers read their settings from the environment at import, as in production."""
    values = {
        "PRICEALERT_ENVIRONMENT": "test",
        "PRICEALERT_DATABASE_URL": database_url,
        "PRICEALERT_REDIS_URL": REDIS_URL,
        "PRICEALERT_FETCH_ALLOWED_HOSTS": receiver_netloc,
        "PRICEALERT_METRICS_PORT": "0",
    }
    os.environ.update(values)
    return {**os.environ, **values}


class Bench:
    def __init__(
        self, db: asyncpg.Connection, engine: Any, worker: Any, notifier: Child, receiver: Child
    ) -> None:
        self.db = db
        self.engine = engine
        self.worker = worker
        self.notifier = notifier
        self.receiver = receiver
        self.rounds = 0
        self.sent_before = 0
        self.batch = 1  # changes per evaluate_changes job (1: evaluate_change jobs)

    async def backends(self) -> dict[str, list[int]]:
        rows = await self.db.fetch(
            "SELECT application_name, pid FROM pg_stat_activity WHERE datname = current_database()"
        )
        found: dict[str, list[int]] = {"evaluator": [], "notifier": []}
        for row in rows:
            found.setdefault(row["application_name"], []).append(row["pid"])
        return found

    def evaluate_batches_together(self, together: bool) -> None:
        """Switch the running evaluator between shared statements per batch and the baseline,
        one unit of work per change (`EvaluatorSettings.evaluate_batches_together`)."""
        settings = self.worker.ctx["settings"]
        self.worker.ctx["settings"] = settings.model_copy(
            update={"evaluate_batches_together": together}
        )

    async def round(
        self, profiler: cProfile.Profile | None = None, notifier_profile: str = ""
    ) -> dict[str, Any]:
        """One change on every product: evaluated, notified, delivered; costs per job."""
        self.rounds += 1
        jobs = await record_changes(self.engine, price=100 + self.rounds)
        changes = len(jobs)
        backends = await self.backends()
        pg_before = {name: cpu_seconds(pids) for name, pids in backends.items()}
        child_before = await self.notifier.ask(
            f"profile {notifier_profile}" if notifier_profile else "stats"
        )
        mine_before = counters()
        cpu = time.process_time()
        await enqueue_all(self.worker.pool, as_batches(jobs, self.batch))
        enqueue_cpu = time.process_time() - cpu
        enqueued = counters()
        if profiler is not None:
            profiler.enable()
        while await self.db.fetchval(  # noqa: ASYNC110 - the state is in PostgreSQL
            "SELECT count(*) FROM price_history WHERE evaluated_at IS NULL"
        ):
            await asyncio.sleep(0.05)
        while any(not t.done() for t in self.worker.tasks.values()):  # noqa: ASYNC110
            await asyncio.sleep(0.01)  # ... and the last jobs' after-commit enqueues
        if profiler is not None:
            profiler.disable()
        evaluator_cpu = time.process_time() - cpu - enqueue_cpu
        mine_after = counters()
        pg_evaluator = cpu_seconds((await self.backends())["evaluator"])
        expected = self.sent_before + changes
        while (  # noqa: ASYNC110 - the state is in PostgreSQL
            await self.db.fetchval("SELECT count(*) FROM notification WHERE status <> 'pending'")
            < expected
        ):
            await asyncio.sleep(0.05)
        child_after = await self.notifier.ask("stats")
        pg_notifier = cpu_seconds((await self.backends())["notifier"])
        self.sent_before = expected
        # PostgreSQL: all of it; Redis: without the enqueue pipeline's own commands.
        evaluator = {
            key: (mine_after[key] - (enqueued if key.startswith("redis") else mine_before)[key])
            / changes
            for key in mine_after
        }
        pg_evaluator_ms = cpu_between(pg_before["evaluator"], pg_evaluator) * 1000 / changes
        return {
            "changes": changes,
            "evaluator": {
                "cpu_ms_per_change_with_postgres": evaluator_cpu * 1000 / changes
                + pg_evaluator_ms,
                "cpu_ms_per_change": evaluator_cpu * 1000 / changes,
                "postgres_cpu_ms_per_change": pg_evaluator_ms,
                **{f"{k}_per_change": v for k, v in evaluator.items()},
            },
            "notifier": {
                "cpu_ms_per_delivery": (child_after["cpu_seconds"] - child_before["cpu_seconds"])
                * 1000 / changes,
                "postgres_cpu_ms_per_delivery": cpu_between(pg_before["notifier"], pg_notifier)
                * 1000 / changes,
                **{
                    f"{k}_per_delivery": (child_after[k] - child_before[k]) / changes
                    for k in child_after if k != "cpu_seconds"
                },
            },
            "enqueue_cpu_ms_per_change": enqueue_cpu * 1000 / changes,
        }  # fmt: skip

    async def verify(self) -> dict[str, Any]:
        """Every change notified once, every notification sent once, every signature valid."""
        statuses = dict(
            await self.db.fetch("SELECT status, count(*) FROM notification GROUP BY status")
        )
        per_change = await self.db.fetchval(
            "SELECT count(*) FROM (SELECT history_id FROM notification"
            " GROUP BY history_id HAVING count(*) > 1) duplicates"
        )
        received = await self.receiver.ask("stats")
        ok = (
            statuses == {"sent": self.sent_before}
            and per_change == 0
            and received["valid"] == received["received"] == received["distinct"]
            and received["distinct"] == self.sent_before
        )
        return {"ok": ok, "notifications": statuses, "receiver": received}


def median_of(rounds: list[dict[str, Any]], part: str) -> dict[str, float]:
    keys = rounds[0][part]
    return {k: round(statistics.median(r[part][k] for r in rounds), 3) for k in keys}


def hot_spots(stats: pstats.Stats, top: int = 15) -> dict[str, Any]:
    """Self time by group, and the functions with most self time (shares of the profile)."""
    entries = stats.stats  # type: ignore[attr-defined]
    totals: dict[str, float] = {}
    for (path, _line, _name), (_cc, _nc, tt, _ct, _callers) in entries.items():
        group = next((g for g, marks in GROUPS if any(m in path for m in marks)), "other")
        totals[group] = totals.get(group, 0.0) + tt
    total = sum(totals.values()) or 1.0
    hot = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)[:top]
    return {
        "self_time_share_by_group": {
            g: round(t / total, 3) for g, t in sorted(totals.items(), key=lambda i: -i[1])
        },
        "hot_spots_self_time_share": {
            f"{path.rsplit('/', 2)[-1] if '/' in path else path}:{line}:{name}": round(
                value[2] / total, 4
            )
            for (path, line, name), value in hot
        },
    }


async def run(args: argparse.Namespace, database_url: str, plain_url: str) -> dict[str, Any]:
    from arq.worker import Worker
    from sqlalchemy.ext.asyncio import create_async_engine

    receiver = await Child.start("scripts.bench.workers_receiver")
    env = configure(database_url, receiver.hello["netloc"])
    engine = create_async_engine(
        database_url, pool_size=1, connect_args={"server_settings": {"application_name": "bench"}}
    )
    await add_watched_products(engine, args.products, receiver.hello["url"])
    install_counters()
    from pricealert.queues import queue_client
    from services.evaluator import worker as evaluator_worker  # reads the settings just set

    queues = queue_client(REDIS_URL)
    await queues.flushdb()
    await queues.aclose()
    worker = Worker(**evaluator_worker.WorkerSettings, handle_signals=False)
    notifier = await Child.start("scripts.bench.workers_notifier", env=env)
    main = asyncio.create_task(worker.async_run())
    while "sessionmaker" not in worker.ctx:  # noqa: ASYNC110 - arq has no "started" event
        await asyncio.sleep(0.05)
    db = await asyncpg.connect(plain_url, server_settings={"application_name": "bench"})
    db._transport.__dict__["_bench_peer"] = "bench"  # its polls are not the evaluator's
    bench = Bench(db, engine, worker, notifier, receiver)
    bench.batch = args.batch
    report: dict[str, Any] = {}
    try:
        await bench.round()  # warm-up: connections, statement caches
        rounds, baseline = [], []
        for _ in range(args.runs):  # interleaved, so both see the same machine
            if args.baseline and args.batch > 1:
                bench.evaluate_batches_together(False)
                baseline.append(await bench.round())
                bench.evaluate_batches_together(True)
            rounds.append(await bench.round())
        report["evaluator"] = median_of(rounds, "evaluator")
        if baseline:
            report["evaluator_baseline_one_unit_of_work_per_change"] = median_of(
                baseline, "evaluator"
            )
        report["notifier"] = median_of(rounds, "notifier")
        report["evaluator_cpu_ms_per_change_each_round"] = [
            round(r["evaluator"]["cpu_ms_per_change"], 3) for r in rounds
        ]
        report["notifier_cpu_ms_per_delivery_each_round"] = [
            round(r["notifier"]["cpu_ms_per_delivery"], 3) for r in rounds
        ]
        report["enqueue_cpu_ms_per_change_taken_out"] = round(
            statistics.median(r["enqueue_cpu_ms_per_change"] for r in rounds), 3
        )
        if args.profile:
            profiler = cProfile.Profile(time.process_time)
            with tempfile.TemporaryDirectory() as scratch:
                notifier_profile = os.path.join(scratch, "notifier.pstats")
                await bench.round(profiler, notifier_profile)
                await notifier.ask("stats")  # saves the notifier's profile
                report["notifier_profile"] = hot_spots(pstats.Stats(notifier_profile))
            evaluator_stats = pstats.Stats(profiler)
            report["evaluator_profile"] = hot_spots(evaluator_stats)
            # Load does not skew it (timings it does): the figure to compare changes by.
            calls: int = evaluator_stats.total_calls  # type: ignore[attr-defined]
            report["evaluator_profile"]["python_calls_per_change"] = round(calls / args.products, 1)
        report["verified"] = await bench.verify()
    finally:
        await worker.close()
        with contextlib.suppress(asyncio.CancelledError):
            await main
        await notifier.stop()
        await receiver.stop()
        await db.close()
        await engine.dispose()
    report["settings"] = {
        "evaluator_max_jobs": evaluator_worker.WorkerSettings["max_jobs"],
        "notifier_max_jobs": notifier.hello["max_jobs"],
    }
    return report


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    name = f"pricealert_bench_workers_{os.getpid()}"
    database_url = await create_database(name)
    plain_url = database_url.replace("postgresql+asyncpg://", "postgresql://")
    try:
        return await run(args, database_url, plain_url)
    finally:
        await drop_database(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=1000, help="changes per round")
    parser.add_argument("--runs", type=int, default=3, help="measured rounds")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--no-baseline", dest="baseline", action="store_false",
        help="skip the rounds evaluating each change of a batch in its own unit of work",
    )  # fmt: skip
    parser.add_argument(
        "--batch", type=int, default=25,
        help="changes per evaluate_changes job, as the scraper hands them on (1: one job each)",
    )  # fmt: skip
    args = parser.parse_args()
    info = machine_info()
    with workers_log_elsewhere():
        report = asyncio.run(main_async(args))
    info["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps({"benchmark": "workers", "products": args.products, "batch": args.batch,
                      **report,
                      "machine": info}, ensure_ascii=False))  # fmt: skip


if __name__ == "__main__":
    main()
