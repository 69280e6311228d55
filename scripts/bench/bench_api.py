"""Benchmark the API's read endpoints at a fixed offered load, with metrics and logs on.

Builds a scratch database (`pricealert_bench_api`: 100 000 products, 10 million
history rows; `--quick`: a tenth), runs the real API (the supervisor's uvicorn
command, one worker, uvloop + httptools, JSON logs to a file, /metrics on) and
drives it from a separate open-loop generator process (`api_load.py`) at a
fixed rate per endpoint. Each scenario runs several times; figures are medians,
with the API's and PostgreSQL's CPU per request read from /proc. Then it steps
the offered load on the lookup by id to find the highest rate one API worker
sustains (all answered, p99 under 20 ms), measures the app in-process (CPU
and Python calls per request, `api_inprocess.py`, beside a bare FastAPI + asyncpg
lookup: their ratio; the list, history and stats then run again at the issue's 500
req/s scaled to this machine by that bare lookup's CPU, as the capacity target is),
runs that bare lookup over HTTP too (`api_bare.py`, the same
server command: its CPU per request and highest sustained rate beside ours, and the
ratios), breaks the lookup's CPU down by concern, in-process (`api_profile.py`) and in
the uvicorn worker under load (`api_http_profile.py`), and says which of issue 17's
targets are met. Prints one JSON object.

    python -m scripts.bench.bench_api [--quick] [--keep-db | --reuse-db]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import uvloop

from pricealert.repositories.pagination import encode_cursor
from scripts.bench import (
    api_bare,
    api_data,
    api_http_profile,
    api_inprocess,
    api_profile,
)
from scripts.bench.api_explain import explain_read_paths
from scripts.bench.api_server import RunningApi, cpu_seconds, offered, rss_kib, running_api
from scripts.bench.common import (
    API_DATABASE,
    emit,
    load_average,
    log,
    machine_info,
    median_of,
    plain_url,
    recreate_database,
    scratch,
)

DATABASE = API_DATABASE
#: Issue 17's targets: the lookup by id sustained at >= 1 500 req/s by one worker with p99
#: under 20 ms at <= 0.6 ms CPU a request; list, history and stats p99 < 20 ms at 500 req/s.
P99_TARGET_MS = 20.0
LOOKUP_TARGET_RPS = 1500
LOOKUP_TARGET_CPU_MS = 0.6
#: The bare FastAPI + asyncpg lookup's CPU on the machine the issue measured on.
ISSUE_BARE_CPU_MS = 0.18
#: Offered requests/s per scenario for the CPU-per-request figures: a steady load well
#: inside one worker's reach (an overloaded server spends CPU on queueing and timeouts).
OFFERED = {
    "product_by_id": 150,
    "list_first_page": 50,
    "list_cursor_page": 50,
    "price_history_90d": 100,
    "stats": 100,
}
#: The issue's load for the other reads: p99 under P99_TARGET_MS at this rate.
TARGET_RPS = 500
AT_TARGET = ("list_first_page", "list_cursor_page", "price_history_90d", "stats")
#: Offered loads tried in turn for the lookup by id, until one is not sustained.
CAPACITY_STEPS = (100, 150, 200, 250, 300, 400, 500, 650, 800, 1000, 1250, 1500, 2000, 2500, 3000)


def scenario_paths(user_id: str, watches: list[tuple[str, datetime]]) -> dict[str, list[str]]:
    """The request paths of each scenario, spread over many products and pages."""
    since = (datetime.now(UTC) - timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ids = [watch_id for watch_id, _ in watches]
    cursors = [
        urllib.parse.quote(encode_cursor(created_at, _uuid(watch_id)))
        for watch_id, created_at in watches[:200]
    ]
    return {
        "product_by_id": [f"/v1/products/{i}" for i in ids],
        "list_first_page": ["/v1/products?limit=50"],
        "list_cursor_page": [f"/v1/products?limit=50&cursor={c}" for c in cursors],
        "price_history_90d": [f"/v1/products/{i}/prices?since={since}" for i in ids],
        "stats": [f"/v1/products/{i}/stats" for i in ids],
    }


def _uuid(value: str) -> Any:
    import uuid

    return uuid.UUID(value)


async def sample_watches(user_id: str, count: int) -> list[tuple[str, datetime]]:
    connection = await asyncpg.connect(plain_url(DATABASE))
    try:
        rows = await connection.fetch(
            "SELECT id, created_at FROM watch WHERE user_id = $1 ORDER BY random() LIMIT $2",
            _uuid(user_id),
            count,
        )
        return [(str(r["id"]), r["created_at"]) for r in rows]
    finally:
        await connection.close()


async def backend_pids() -> list[int]:
    connection = await asyncpg.connect(plain_url(DATABASE))
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'api'",
            DATABASE,
        )
        return [r["pid"] for r in rows]
    finally:
        await connection.close()


def offer(api: RunningApi, paths: list[str], rate: float, duration: float) -> dict[str, Any]:
    """One open-loop run from a separate process, with the CPU it cost the API and PostgreSQL."""
    pg_before = {pid: cpu_seconds(pid) for pid in asyncio.run(backend_pids())}
    api_cpu = cpu_seconds(api.pid)
    result = offered(api.port, paths, rate, duration)
    requests = max(1, result["completed"])
    result["api_cpu_ms_per_request"] = round((cpu_seconds(api.pid) - api_cpu) * 1000 / requests, 3)
    # Backends opened during the run count from zero; one closed during it is lost (rare:
    # the pool keeps its connections), so this errs low, never negative.
    pg_used = sum(cpu_seconds(pid) - pg_before.get(pid, 0.0) for pid in asyncio.run(backend_pids()))
    result["pg_cpu_ms_per_request"] = round(pg_used * 1000 / requests, 3)
    result["load_average_1m"] = load_average()[0]
    return result


def find_max_rate(api: RunningApi, paths: list[str], duration: float) -> dict[str, Any]:
    """Step the offered load until the worker falls behind or p99 passes the target."""
    steps: list[dict[str, Any]] = []
    best = 0.0
    for rate in CAPACITY_STEPS:
        run = offer(api, paths, rate, duration)
        ok = run["errors"] == 0 and run["p99_ms"] < P99_TARGET_MS
        # The API's and the generator's CPU beside each step: a step lost while the worker
        # had CPU to spare was lost to something else (the machine's other load, waits).
        steps.append({k: run[k] for k in ("offered_rps", "achieved_rps", "p50_ms", "p99_ms",
                                          "max_ms", "errors", "api_cpu_ms_per_request",
                                          "generator_cpu_percent", "load_average_1m")})  # fmt: skip
        log(f"  step {rate:.0f}/s: p99 {run['p99_ms']} ms, errors {run['errors']}")
        if not ok:
            break
        best = rate
    return {"max_sustainable_rps": best, "p99_target_ms": P99_TARGET_MS, "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the data, short runs")
    parser.add_argument("--runs", type=int, help="repeats per scenario (default 3, quick 1)")
    parser.add_argument("--keep-db", action="store_true", help="leave the database for a rerun")
    parser.add_argument("--reuse-db", action="store_true", help="use the database left by one")
    args = parser.parse_args()
    runs = args.runs or (1 if args.quick else 3)
    duration = 3.0 if args.quick else 10.0
    products = 10_000 if args.quick else 100_000
    history = 1_000_000 if args.quick else 10_000_000
    started = time.monotonic()
    document: dict[str, Any] = {"benchmark": "api", "machine": machine_info()}
    if not args.reuse_db:
        log(f"api: building {DATABASE} ({products} products, {history} history rows)")
        recreate_database(DATABASE)
        document["data"] = asyncio.run(
            api_data.build(plain_url(DATABASE), products, history)
        ).__dict__
    with scratch(DATABASE, keep=args.keep_db):
        user_id = asyncio.run(api_data.bench_user(plain_url(DATABASE)))
        watches = asyncio.run(sample_watches(user_id, 2000))
        paths = scenario_paths(user_id, watches)
        document["explain"] = asyncio.run(explain_read_paths(DATABASE, user_id, watches[0][0]))
        with (
            tempfile.TemporaryDirectory() as log_dir,
            running_api(DATABASE, Path(log_dir), {}) as api,
        ):
            for scenario_paths_ in paths.values():  # warm caches and prepared statements
                offer(api, scenario_paths_, 200, 1.0 if args.quick else 3.0)
            scenarios: dict[str, Any] = {}
            for name, rate in OFFERED.items():
                results = [offer(api, paths[name], rate, duration) for _ in range(runs)]
                scenarios[name] = median_of(results)
                log(f"api {name}: {json.dumps(scenarios[name])}")
            document["scenarios"] = scenarios
            at_target: dict[str, Any] = {}
            for name in AT_TARGET:
                at_target[name] = offer(api, paths[name], TARGET_RPS, duration)
                log(f"api {name} at {TARGET_RPS}/s: p99 {at_target[name]['p99_ms']} ms")
            document["at_target_load"] = at_target
            capacity = find_max_rate(api, paths["product_by_id"], 3.0 if args.quick else 6.0)
            # What one worker would carry with a whole core to itself (CPU-bound): the figure
            # that compares across machines and loads, beside the one sustained here.
            cpu_ms = scenarios["product_by_id"]["api_cpu_ms_per_request"]
            capacity["cpu_bound_rps_per_core"] = round(1000 / cpu_ms) if cpu_ms else None
            document["product_by_id_capacity"] = capacity
            document["api_rss_mib"] = round(rss_kib(api.pid) / 1024, 1)
            document["access_log_lines"] = api.log_lines()
            document["metrics_requests_recorded"] = _requests_in_metrics(api.metrics_text())
        log("api: the bare FastAPI + asyncpg lookup over HTTP, the same server command")
        bare_paths = [
            api_bare.PATH + p.removeprefix("/v1/products/") for p in paths["product_by_id"]
        ]
        with (
            tempfile.TemporaryDirectory() as log_dir,
            running_api(DATABASE, Path(log_dir), {}, api_bare.command) as bare_api,
        ):
            offer(bare_api, bare_paths, 200, 1.0 if args.quick else 3.0)  # warm
            bare_run = median_of(
                [
                    offer(bare_api, bare_paths, OFFERED["product_by_id"], duration)
                    for _ in range(runs)
                ]
            )
            bare_capacity = find_max_rate(bare_api, bare_paths, 3.0 if args.quick else 6.0)
        document["bare_fastapi_asyncpg_over_http"] = {
            "product_by_id": bare_run,
            "capacity": bare_capacity,
        }
        ours_cpu = scenarios["product_by_id"]["api_cpu_ms_per_request"]
        bare_cpu = bare_run["api_cpu_ms_per_request"]
        ours_rps = capacity["max_sustainable_rps"]
        bare_rps = bare_capacity["max_sustainable_rps"]
        document["product_by_id_vs_bare_over_http"] = {
            "cpu_ms_per_request": ours_cpu,
            "bare_cpu_ms_per_request": bare_cpu,
            "cpu_ratio": round(ours_cpu / bare_cpu, 2) if bare_cpu else None,
            "max_sustainable_rps": ours_rps,
            "bare_max_sustainable_rps": bare_rps,
            "rps_ratio": round(bare_rps / ours_rps, 2) if ours_rps else None,
            "load_average_1m": load_average()[0],
        }
        log(f"api: over HTTP vs bare: {json.dumps(document['product_by_id_vs_bare_over_http'])}")
        log("api: in-process CPU and Python calls per request")
        in_process = uvloop.run(api_inprocess.measure(300, 3))
        document["in_process"] = in_process
        # Beside the bare FastAPI + one asyncpg lookup measured in the same run, same way.
        bare = in_process["reference_cpu_ms_per_request"]["fastapi_one_asyncpg_lookup"]
        lookup = in_process["cpu_ms_per_request"]["product_by_id"]
        document["product_by_id_vs_bare_fastapi_asyncpg"] = {
            "in_process_cpu_ms": lookup,
            "bare_cpu_ms": bare,
            "ratio": round(lookup / bare, 2) if bare else None,
        }
        if bare:
            # The issue's 500 req/s for the other reads, scaled to this machine as the
            # capacity target is (the bare lookup's CPU here against the issue's machine).
            scaled = round(TARGET_RPS * ISSUE_BARE_CPU_MS / bare)
            with (
                tempfile.TemporaryDirectory() as log_dir,
                running_api(DATABASE, Path(log_dir), {}) as api,
            ):
                at_scaled: dict[str, Any] = {"offered_rps": scaled}
                for name in AT_TARGET:
                    offer(api, paths[name], 200, 1.0 if args.quick else 3.0)  # warm
                    at_scaled[name] = offer(api, paths[name], scaled, duration)
                    log(f"api {name} at {scaled}/s (scaled): p99 {at_scaled[name]['p99_ms']} ms")
            document["at_scaled_target_load"] = at_scaled
        log("api: where the lookup's CPU goes (cProfile, grouped)")
        breakdown = uvloop.run(api_profile.measure("product_by_id", 1000))
        breakdown.pop("top_functions_own_time", None)
        document["product_by_id_breakdown"] = breakdown
        log("api: where the lookup's CPU goes over HTTP (cProfile in the uvicorn worker)")
        over_http = api_http_profile.measure("product_by_id", 300, 3.0 if args.quick else 6.0)
        over_http.pop("top_functions_own_time", None)
        document["product_by_id_breakdown_over_http"] = over_http
        document["targets"] = _targets(document)
    document["elapsed_s"] = round(time.monotonic() - started)
    emit(document)


def _targets(document: dict[str, Any]) -> dict[str, Any]:
    """Each of issue 17's targets, with the figure measured for it and whether it is met."""
    scenarios = document.get("scenarios", {})
    lookup = scenarios.get("product_by_id", {})
    capacity = document.get("product_by_id_capacity", {})
    targets: dict[str, Any] = {
        "product_by_id_cpu_ms_le_0.6": {
            "measured": lookup.get("api_cpu_ms_per_request"),
            "met": (lookup.get("api_cpu_ms_per_request") or 1e9) <= LOOKUP_TARGET_CPU_MS,
        },
        "product_by_id_sustained_rps_ge_1500_at_p99_lt_20ms": {
            "measured": capacity.get("max_sustainable_rps"),
            "met": (capacity.get("max_sustainable_rps") or 0) >= LOOKUP_TARGET_RPS,
        },
    }
    # The issue's machine ran the bare lookup in ISSUE_BARE_CPU_MS: its targets, as ratios
    # to the bare lookup measured here in the same run, carry over to this machine.
    over_http = document.get("product_by_id_vs_bare_over_http", {})
    ratio = over_http.get("cpu_ratio")
    targets["product_by_id_cpu_ratio_to_bare_over_http_le_3.3"] = {
        "measured": ratio,
        "met": ratio is not None and ratio <= LOOKUP_TARGET_CPU_MS / ISSUE_BARE_CPU_MS,
    }
    bare_cpu = document.get("product_by_id_vs_bare_fastapi_asyncpg", {}).get("bare_cpu_ms")
    scaled = round(LOOKUP_TARGET_RPS * ISSUE_BARE_CPU_MS / bare_cpu) if bare_cpu else None
    targets["product_by_id_sustained_rps_ge_1500_scaled_to_this_machine"] = {
        "target_rps": scaled,
        "measured": capacity.get("max_sustainable_rps"),
        "met": scaled is not None and (capacity.get("max_sustainable_rps") or 0) >= scaled,
    }
    scaled = document.get("at_scaled_target_load", {})
    for name in AT_TARGET:
        for key, run in (
            (f"{name}_p99_lt_20ms_at_500rps", document.get("at_target_load", {}).get(name, {})),
            (f"{name}_p99_lt_20ms_at_500rps_scaled_to_this_machine", scaled.get(name, {})),
        ):
            targets[key] = {
                "offered_rps": run.get("offered_rps"),
                "measured_p99_ms": run.get("p99_ms"),
                "achieved_rps": run.get("achieved_rps"),
                "met": run.get("errors", 1) == 0 and (run.get("p99_ms") or 1e9) < P99_TARGET_MS,
            }
    return targets


def _requests_in_metrics(text: str) -> int:
    total = 0.0
    for line in text.splitlines():
        if line.startswith("http_requests_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


if __name__ == "__main__":
    main()
