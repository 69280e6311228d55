"""CPU per request of the API application itself, driven in-process over raw ASGI.

No HTTP server or client sits in between, so what is measured is the app's own
work per request (middleware, metrics, logging, auth, rate limit, queries,
serialization) in two units: CPU milliseconds (steadier than latency when
other work shares the machine, but still moved by it) and Python function calls
per request (a cProfile count, which the machine's load does not move at all).
Used to decide, fix by fix, what makes the API cheaper.
Needs the database `bench_api.py --keep-db` leaves behind.

    python -m scripts.bench.api_inprocess [--requests 2000]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import pstats
import statistics
import time
from typing import Any

import uvloop

from scripts.bench import api_data
from scripts.bench.common import API_DATABASE, REDIS_URL, async_url, emit, load_average, plain_url

DATABASE = API_DATABASE


async def _request(app: Any, path: str, headers: list[tuple[bytes, bytes]]) -> int:
    raw_path, _, query = path.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": raw_path, "raw_path": raw_path.encode(),
        "query_string": query.encode(), "root_path": "", "headers": headers,
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
    }  # fmt: skip
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def measure(requests: int, rounds: int, only: list[str] | None = None) -> dict[str, Any]:
    """Median CPU ms per request of each read endpoint (and /healthz as the floor)."""
    os.environ.update(
        PRICEALERT_DATABASE_URL=async_url(DATABASE),
        PRICEALERT_REDIS_URL=REDIS_URL,
        PRICEALERT_RATE_LIMIT_PER_MINUTE="1000000000",
    )
    from scripts.bench.bench_api import sample_watches, scenario_paths
    from services.api.main import create_app
    from services.api.settings import ApiSettings

    user_id = await api_data.bench_user(plain_url(DATABASE))
    paths = scenario_paths(user_id, await sample_watches(user_id, 500))
    paths["healthz"] = ["/healthz"]
    app = create_app(ApiSettings())
    sink = io.StringIO()
    for handler in logging.getLogger().handlers:  # production JSON lines, into memory
        handler.setStream(sink)  # type: ignore[attr-defined]
    headers = [(b"authorization", f"Bearer {api_data.BENCH_KEY}".encode()), (b"host", b"t")]
    results: dict[str, Any] = {}
    calls: dict[str, int] = {}
    async with app.router.lifespan_context(app):
        for name, scenario in paths.items():
            if only and name not in only:
                continue
            for path in scenario[:50]:
                assert await _request(app, path, headers) == 200, path
            results[name], calls[name] = await _cost(app, scenario, headers, requests, rounds)
            sink.seek(0)
            sink.truncate()
    reference = await _reference(
        [p.removeprefix("/v1/products/") for p in paths["product_by_id"]], requests, rounds
    )
    return {
        "cpu_ms_per_request": results,
        "python_calls_per_request": calls,
        "reference_cpu_ms_per_request": reference,
        "load_average": load_average(),
    }


async def _cost(
    app: Any, scenario: list[str], headers: list[tuple[bytes, bytes]], requests: int, rounds: int
) -> tuple[float, int]:
    """Median CPU ms per request over `rounds`, and Python calls per request."""
    per_round = []
    for _ in range(rounds):
        started = time.process_time()
        for i in range(requests):
            await _request(app, scenario[i % len(scenario)], headers)
        per_round.append((time.process_time() - started) * 1000 / requests)
    profile = cProfile.Profile()
    profile.enable()
    for i in range(100):
        await _request(app, scenario[i % len(scenario)], headers)
    profile.disable()
    calls = round(pstats.Stats(profile).total_calls / 100)  # type: ignore[attr-defined]
    return round(statistics.median(per_round), 3), calls


async def _reference(watch_ids: list[str], requests: int, rounds: int) -> dict[str, float]:
    """The floor, measured now on this machine: bare FastAPI, a constant and one asyncpg lookup."""
    import asyncpg
    from fastapi import FastAPI

    reference = FastAPI()
    pool = await asyncpg.create_pool(plain_url(DATABASE), min_size=1, max_size=2)

    @reference.get("/constant")
    async def constant() -> dict[str, str]:
        return {"status": "ok"}

    @reference.get("/lookup/{watch_id}")
    async def lookup(watch_id: str) -> dict[str, Any]:
        row = await pool.fetchrow(
            "SELECT w.id, p.url, p.price, p.currency FROM watch AS w "
            "JOIN product AS p ON p.id = w.product_id WHERE w.id = $1::uuid",
            watch_id,
        )
        return {"id": str(row["id"]), "url": row["url"], "price": str(row["price"])}

    try:
        lookups = [f"/lookup/{w}" for w in watch_ids]
        return {
            "fastapi_constant_json": (await _cost(reference, ["/constant"], [], requests, rounds))[
                0
            ],
            "fastapi_one_asyncpg_lookup": (await _cost(reference, lookups, [], requests, rounds))[
                0
            ],
        }
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", help="comma-separated scenarios (default: all)")
    args = parser.parse_args()
    only = args.only.split(",") if args.only else None
    emit({"benchmark": "api_inprocess", **uvloop.run(measure(args.requests, args.rounds, only))})


if __name__ == "__main__":
    main()
