"""`make bench`: run every benchmark present, gather their JSON, print a table.

Each benchmark is its own process and prints one JSON object; a missing one is
skipped with a note, a failing one is recorded with its error and the others
still run. The combined document goes to `--output` (default
`bench-results.json`), the readable table to stdout. Benchmarks are never part
of the pass/fail tests: this exits 0 unless no benchmark could run at all.

    python -m scripts.bench.run_all [--quick] [--only api,scale]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from scripts.bench.common import REPO, log, machine_info, table

#: name → (script, arguments for a short run). Run as modules from the repository root.
#: extract, scrape and pipeline have no --quick flag (yet): their own knobs, made small.
BENCHMARKS: dict[str, tuple[str, list[str]]] = {
    "extract": ("bench_extract.py", ["--runs", "3", "--iterations", "30"]),
    "scrape": ("bench_scrape.py", ["--products", "500", "--runs", "2", "--changed-runs", "1"]),
    "pipeline": (
        "bench_pipeline.py",
        ["--products", "500", "--users", "100", "--interval", "5", "--duration", "20"],
    ),
    "workers": ("bench_workers.py", ["--products", "300", "--runs", "1"]),
    "api": ("bench_api.py", ["--quick"]),
    "scale": ("bench_scale.py", ["--quick"]),
    "web": ("bench_web.py", ["--quick"]),
    "cli": ("bench_cli.py", ["--runs", "5"]),
}
TIMEOUT_SECONDS = 3600


def run_one(name: str, quick: bool) -> dict[str, Any]:
    """Run one benchmark; its JSON, or a note saying why there is none."""
    script, quick_args = BENCHMARKS[name]
    path = REPO / "scripts" / "bench" / script
    if not path.exists():
        return {"skipped": f"{script} does not exist yet"}
    module = f"scripts.bench.{path.stem}"
    command = [sys.executable, "-m", module, *(quick_args if quick else [])]
    log(f"bench: {' '.join(command[1:])}")
    started = time.monotonic()
    try:
        done = subprocess.run(  # noqa: S603 - our own benchmark scripts
            command,
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"failed": f"timed out after {TIMEOUT_SECONDS} s"}
    elapsed = round(time.monotonic() - started)
    if done.returncode != 0:
        return {"failed": f"exit status {done.returncode}", "elapsed_s": elapsed}
    result = last_json_object(done.stdout)
    if result is None:
        return {"failed": "printed no JSON", "elapsed_s": elapsed}
    return result


def last_json_object(output: str) -> dict[str, Any] | None:
    """The last JSON object a benchmark printed, on one line or pretty-printed over many."""
    lines = output.splitlines()
    for start in range(len(lines) - 1, -1, -1):
        if not lines[start].startswith("{"):
            continue
        try:
            parsed = json.loads("\n".join(lines[start:]))
        except ValueError:
            continue
        if isinstance(parsed, dict):
            return parsed
    return None


def headline(name: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows this benchmark contributes to the readable table."""
    if "skipped" in result or "failed" in result:
        return [
            {"benchmark": name, "figure": "—", "value": result.get("skipped") or result["failed"]}
        ]
    if name == "api":
        rows = [
            {
                "benchmark": "api", "figure": f"{scenario} @ {r['offered_rps']:.0f}/s",
                "value": f"{r['achieved_rps']} req/s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, "
                f"max {r['max_ms']} ms, errors {r['errors']}",
                "load": r.get("load_average_1m"),
            }
            for scenario, r in result.get("scenarios", {}).items()
        ]  # fmt: skip
        capacity = result.get("product_by_id_capacity", {})
        rows.append(
            {
                "benchmark": "api",
                "figure": "max sustainable lookups by id per worker",
                "value": f"{capacity.get('max_sustainable_rps')} req/s (p99 < "
                f"{capacity.get('p99_target_ms')} ms); CPU-bound "
                f"{capacity.get('cpu_bound_rps_per_core')} req/s per core",
            }
        )
        in_process = result.get("in_process", {})
        floor = in_process.get("reference_cpu_ms_per_request", {})
        for scenario, cpu_ms in in_process.get("cpu_ms_per_request", {}).items():
            calls = in_process.get("python_calls_per_request", {}).get(scenario)
            value = f"{cpu_ms} ms CPU, {calls} Python calls per request"
            rows.append({"benchmark": "api", "figure": f"in-process {scenario}", "value": value})
        if floor:
            value = (
                f"constant JSON {floor.get('fastapi_constant_json')} ms, "
                f"one asyncpg lookup {floor.get('fastapi_one_asyncpg_lookup')} ms CPU"
            )
            rows.append({"benchmark": "api", "figure": "floor: bare FastAPI, same moment",
                         "value": value})  # fmt: skip
        return rows
    if name == "scale":
        rows = [
            {
                "benchmark": "scale", "figure": f"claim batch {size}",
                "value": f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, max {r['max_ms']} ms",
            }
            for size, r in result.get("claim", {}).get("by_batch", {}).items()
        ]  # fmt: skip
        for service, r in result.get("memory", {}).items():
            if isinstance(r, dict):
                rows.append({"benchmark": "scale", "figure": f"RSS {service} after warm-up",
                             "value": f"{r.get('rss_mib', r.get('error'))} MiB",
                             "load": result["memory"].get("load_average_1m")})  # fmt: skip
        storage = result.get("storage", {})
        rows.append(
            {
                "benchmark": "scale",
                "figure": "price_history bytes per million checks (1 % change)",
                "value": f"{storage.get('bytes_per_million_checks')} overall, "
                f"{storage.get('marginal_bytes_per_million_checks')} at the margin",
            }
        )
        return rows
    if name == "scrape":
        return [
            {
                "benchmark": "scrape", "figure": scenario,
                "value": f"{r['checks_per_second_per_core']} checks/s per core, "
                f"{r['cpu_ms_per_check']} ms CPU per check "
                f"(extract {r['extract_cpu_ms_per_check']})",
            }
            for scenario, r in ((k, result[k]) for k in ("unchanged", "first_check") if k in result)
        ]  # fmt: skip
    if name == "pipeline":
        latency = result.get("latency_detected_to_webhook_seconds", {})
        per_cpu = result.get("checks_per_cpu_second", {})
        return [
            {
                "benchmark": "pipeline",
                "figure": f"{result.get('offered_checks_per_second')} checks/s offered",
                "value": f"{result.get('checks_per_second')} checks/s, "
                f"{result.get('notifications_per_second')} notifications/s; detected → webhook "
                f"p50 {latency.get('p50')} s, p99 {latency.get('p99')} s; checks per CPU-second "
                f"{per_cpu.get('stack')} (stack), "
                f"{per_cpu.get('stack_and_postgres')} (+PostgreSQL)",
            }
        ]
    if name == "workers":
        evaluator, notifier = result.get("evaluator", {}), result.get("notifier", {})
        return [
            {"benchmark": "workers", "figure": "evaluator per change",
             "value": f"{evaluator.get('cpu_ms_per_change')} ms CPU"},
            {"benchmark": "workers", "figure": "notifier per delivery",
             "value": f"{notifier.get('cpu_ms_per_delivery')} ms CPU"},
        ]  # fmt: skip
    if name == "web":
        return [
            {
                "benchmark": "web", "figure": f"product page load, {kind} cache",
                "value": f"p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms (target < "
                f"{result.get('target_p95_ms')} ms), first byte {r['median_first_byte_ms']} ms",
                "load": (result.get("load_average") or [None])[0],
            }
            for kind, r in ((k, result[k]) for k in ("warm", "cold") if k in result)
        ]  # fmt: skip
    settings = {"elapsed_s", "runs", "iterations"}
    scalars = {k: v for k, v in result.items() if isinstance(v, int | float) and k not in settings}
    return [{"benchmark": name, "figure": k, "value": v} for k, v in list(scalars.items())[:6]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="each benchmark's short run")
    parser.add_argument("--only", help="comma-separated subset of: " + ", ".join(BENCHMARKS))
    parser.add_argument("--output", type=Path, default=REPO / "bench-results.json")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    document: dict[str, Any] = {"machine": machine_info(), "quick": args.quick, "results": {}}
    for name in names:
        document["results"][name] = run_one(name, args.quick)
    args.output.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    rows = [row for n, r in document["results"].items() for row in headline(n, r)]
    machine = document["machine"]
    print(f"Machine: {machine['cpu']}, {machine['logical_cpus']} CPUs, {machine['memory_gb']} GB, "
          f"load {machine['load_average']}; full results in {args.output}\n")  # fmt: skip
    print(table(rows, ["benchmark", "figure", "value", "load"]))
    ran = [r for r in document["results"].values() if "skipped" not in r and "failed" not in r]
    return 0 if ran else 1


if __name__ == "__main__":
    sys.exit(main())
