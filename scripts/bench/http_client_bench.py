"""CPU per GET of the guarded client against the benchmark shop on loopback.

The shop (`scrape_shop.py`, its own process, so its CPU is not counted) serves
realistic product pages (~200 KB) from 16 loopback "domains" over keep-alive.
The client runs 50 concurrent GETs with at most 4 connections per domain, as
the scraper does; after a warm-up, `time.process_time()` over `--requests`
GETs gives the client's CPU per GET, event loop included.

    PYTHONPATH=. python scripts/bench/http_client_bench.py [--requests 2000] [--rounds 3]

prints one JSON object: medians over the rounds of `cpu_ms_per_get`,
`gets_per_s` (wall) and `body_kb` (mean decoded body), per event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from pricealert.http import GuardedClient
from scripts.bench.common import emit, log, machine_info, median_of
from scripts.bench.scrape_setup import shop_process

CONCURRENCY = 50
WARMUP = 200


async def measure(origins: list[str], requests: int) -> dict[str, float]:
    """One round: a fresh client, a warm-up, then `requests` timed GETs."""
    client = GuardedClient(
        allowed_hosts=[o.split("://", 1)[1] for o in origins], max_connections_per_host=4
    )
    urls = [f"{origins[i % len(origins)]}/p/{i}" for i in range(requests)]
    gate = asyncio.Semaphore(CONCURRENCY)
    body_bytes = 0

    async def one(url: str) -> None:
        nonlocal body_bytes
        async with gate:
            result = await client.get(url)
        assert result.status == 200, result.status
        body_bytes += len(result.body)

    async with client:
        await asyncio.gather(*(one(u) for u in urls[:WARMUP]))
        body_bytes = 0
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(one(u) for u in urls))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "cpu_ms_per_get": round(cpu * 1000 / requests, 4),
        "gets_per_s": round(requests / wall, 1),
        "body_kb": round(body_bytes / requests / 1024, 1),
    }


def runner(loop: str) -> Callable[[Coroutine[Any, Any, dict[str, float]]], dict[str, float]]:
    """How to run a round on `loop` ("asyncio" or "uvloop")."""
    if loop == "uvloop":
        import uvloop

        return uvloop.run
    return asyncio.run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loops", default="asyncio,uvloop")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with shop_process(16) as shop:
        for loop in args.loops.split(","):
            run = runner(loop)
            rounds = []
            for n in range(args.rounds):
                rounds.append(run(measure(shop.origins, args.requests)))
                log(f"{loop} round {n + 1}: {rounds[-1]}")
            results[loop] = median_of(rounds)
    emit({"benchmark": "http_client", "machine": machine_info(), **results})


if __name__ == "__main__":
    main()
