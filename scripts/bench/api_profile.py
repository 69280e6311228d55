"""Where an API request's CPU goes: cProfile over the in-process app, grouped by concern.

Drives the real app over raw ASGI (as `api_inprocess.py` does: metrics and JSON logs
on, Redis and PostgreSQL real) and attributes each request's CPU to auth, rate limit,
session/transaction, ORM/query, serialisation, middleware, logging, metrics and the
framework (routing, dependency solving, validation). A group's figure is the inclusive
time of the functions that do that work (minus the groups nested inside it), as a share
of the profiled total, then scaled to the request's unprofiled CPU: cProfile slows Python
calls more than C, so the shares are estimates. Needs the database
`bench_api.py --keep-db` (or `--reuse-db`) leaves.

    python -m scripts.bench.api_profile [--scenario product_by_id] [--requests 2000]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import pstats
import time
from typing import Any

import uvloop

from scripts.bench import api_data
from scripts.bench.api_inprocess import _request
from scripts.bench.common import API_DATABASE, REDIS_URL, async_url, emit, load_average, plain_url

DATABASE = API_DATABASE

#: Group -> (file fragment, function name) pairs whose inclusive time is that group's.
#: Listed innermost first: a group's time excludes the groups listed before it that ran
#: inside it (e.g. logging inside auth).
GROUPS: dict[str, list[tuple[str, str]]] = {
    "logging": [
        # A line to our JSON handler is written in one pass (`_line`); any other goes
        # through structlog's chain. The bound fields: one context variable.
        ("libs/pricealert/logging.py", "_line"),
        ("structlog/_base.py", "_proxy_to_logger"),
        ("libs/pricealert/logging.py", "bind_context"),
        ("libs/pricealert/logging.py", "clear_context"),
    ],
    "metrics": [
        ("services/api/http_metrics.py", "_handler"),
        ("prometheus_client/metrics.py", "labels"),
        ("prometheus_client/metrics.py", "inc"),
        ("prometheus_client/metrics.py", "observe"),
    ],
    "rate_limit": [("services/api/ratelimit.py", "authenticate")],
    "auth_lookup": [
        ("libs/pricealert/repositories/users.py", "authenticate"),
        ("libs/pricealert/repositories/users.py", "live_key"),
        ("services/api/keycache.py", "get"),
        ("libs/pricealert/repositories/users.py", "hash_key"),
    ],
    "session_transaction": [
        ("sqlalchemy/ext/asyncio/session.py", "commit"),
        ("sqlalchemy/ext/asyncio/session.py", "close"),
        ("sqlalchemy/ext/asyncio/session.py", "__aexit__"),
        ("sqlalchemy/ext/asyncio/session.py", "connection"),
        ("sqlalchemy/orm/session.py", "_connection_for_bind"),
        ("sqlalchemy/ext/asyncio/engine.py", "start"),
        ("sqlalchemy/ext/asyncio/engine.py", "close"),
        ("sqlalchemy/ext/asyncio/engine.py", "__aexit__"),
        # The reads' bare checkout from the pool and its return (repositories/driver.py).
        ("libs/pricealert/repositories/driver.py", "__aenter__"),
        ("libs/pricealert/repositories/driver.py", "__aexit__"),
    ],
    "query": [
        ("libs/pricealert/repositories/products.py", "get"),
        ("libs/pricealert/repositories/prices.py", "history"),
        ("libs/pricealert/repositories/prices.py", "stats"),
        ("libs/pricealert/repositories/products.py", "watched_row"),
        ("libs/pricealert/repositories/products.py", "watched_products_page"),
        ("libs/pricealert/repositories/prices.py", "watched_history"),
        ("libs/pricealert/repositories/prices.py", "watched_stats"),
    ],
    "serialisation": [
        ("fastapi/routing.py", "serialize_response"),
        ("services/api/products/endpoints.py", "product_out"),
        ("services/api/schemas.py", "json_response"),
        ("services/api/products/endpoints.py", "_json"),
        ("pydantic/main.py", "model_validate"),
        ("starlette/responses.py", "__init__"),
    ],
    "middleware": [
        ("services/api/middleware.py", "__call__"),
        ("services/api/ratelimit.py", "__call__"),
        ("services/api/http_metrics.py", "__call__"),
        ("starlette/middleware/errors.py", "__call__"),
        ("starlette/middleware/exceptions.py", "__call__"),
    ],
}


def _inclusive(stats: pstats.Stats, wanted: list[tuple[str, str]]) -> tuple[float, set[Any]]:
    total = 0.0
    keys: set[Any] = set()
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for key, (_cc, _nc, _tt, ct, _callers) in raw.items():
        filename, _line, name = key
        if any(name == fn and fragment in filename for fragment, fn in wanted):
            total += ct
            keys.add(key)
    return total, keys


def breakdown(profile: cProfile.Profile | str, requests: int, cpu_ms: float) -> dict[str, Any]:
    """The request's CPU by concern, from a profile (or a saved one's path)."""
    stats = pstats.Stats(profile, stream=io.StringIO())
    total = stats.total_tt  # type: ignore[attr-defined]
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    found = {group: _inclusive(stats, wanted) for group, wanted in GROUPS.items()}
    shares = {group: seconds for group, (seconds, _keys) in found.items()}
    # BEGIN goes out with a unit of work's first statement (the key lookup, else the read):
    # moved from there to the session's share.
    begin, _ = _inclusive(stats, [("dialects/postgresql/asyncpg.py", "_start_transaction")])
    shares["session_transaction"] += begin
    from_auth = min(begin, shares["auth_lookup"])
    shares["auth_lookup"] -= from_auth
    shares["query"] = max(0.0, shares["query"] - (begin - from_auth))
    # The middleware's inclusive time holds everything under it: keep its own time only.
    shares["middleware"] = sum(raw[key][2] for key in found["middleware"][1])
    shares["framework_and_other"] = max(0.0, total - sum(shares.values()))
    scale = cpu_ms / (total * 1000 / requests) if total else 0.0
    return {
        "cpu_ms_per_request": cpu_ms,
        "profiled_ms_per_request": round(total * 1000 / requests, 3),
        "python_calls_per_request": round(stats.total_calls / requests),  # type: ignore[attr-defined]
        "ms_per_request": {k: round(v * 1000 / requests * scale, 3) for k, v in shares.items()},
        "share_percent": {k: round(100 * v / total, 1) for k, v in shares.items()},
        "top_functions_own_time": _top(stats, requests),
    }


def _top(stats: pstats.Stats, requests: int, count: int = 25) -> list[str]:
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = sorted(raw.items(), key=lambda item: item[1][2], reverse=True)[:count]
    return [
        f"{tt * 1e6 / requests:7.1f} us  {nc / requests:5.1f}x  {name} "
        f"({os.path.basename(filename)}:{line})"
        for (filename, line, name), (_cc, nc, tt, _ct, _callers) in rows
    ]


async def measure(scenario: str, requests: int) -> dict[str, Any]:
    os.environ.update(
        PRICEALERT_DATABASE_URL=async_url(DATABASE),
        PRICEALERT_REDIS_URL=REDIS_URL,
        PRICEALERT_RATE_LIMIT_PER_MINUTE="1000000000",
    )
    from scripts.bench.bench_api import sample_watches, scenario_paths
    from services.api.main import create_app
    from services.api.settings import ApiSettings

    user_id = await api_data.bench_user(plain_url(DATABASE))
    paths = scenario_paths(user_id, await sample_watches(user_id, 500))[scenario]
    app = create_app(ApiSettings())
    sink = io.StringIO()
    for handler in logging.getLogger().handlers:
        handler.setStream(sink)  # type: ignore[attr-defined]
    headers = [(b"authorization", f"Bearer {api_data.BENCH_KEY}".encode()), (b"host", b"t")]
    async with app.router.lifespan_context(app):
        for i in range(200):
            assert await _request(app, paths[i % len(paths)], headers) == 200
        started = time.process_time()
        for i in range(requests):
            await _request(app, paths[i % len(paths)], headers)
        cpu_ms = (time.process_time() - started) * 1000 / requests
        # CPU time, not wall time: a coroutine waiting on PostgreSQL or Redis costs nothing.
        profile = cProfile.Profile(time.process_time)
        profile.enable()
        for i in range(requests):
            await _request(app, paths[i % len(paths)], headers)
        profile.disable()
        log_lines = sink.getvalue().count("\n")
    return {
        "scenario": scenario,
        "requests": requests,
        "access_log_lines": log_lines,
        **breakdown(profile, requests, round(cpu_ms, 3)),
        "load_average": load_average(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="product_by_id")
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    emit({"benchmark": "api_profile", **uvloop.run(measure(args.scenario, args.requests))})


if __name__ == "__main__":
    main()
