"""What every benchmark shares: the machine it ran on, medians, percentiles, output.

Each benchmark prints one JSON object carrying `machine` (from `machine_info`)
and the medians of its repeated runs; `run_all.py` gathers them into one
document and a table. Scratch databases are made and dropped here too, so a
benchmark never touches a database it did not create.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

REPO = Path(__file__).resolve().parents[2]
PG_HOST = os.environ.get("PRICEALERT_BENCH_PG", "postgres@127.0.0.1:5432")
#: Redis database the benchmarks own (flushed before and after each run).
REDIS_URL = os.environ.get("PRICEALERT_BENCH_REDIS", "redis://127.0.0.1:6379/9")
#: The API benchmarks' scratch database (another name lets two checkouts bench at once).
API_DATABASE = os.environ.get("PRICEALERT_BENCH_API_DATABASE", "pricealert_bench_api")


def async_url(name: str) -> str:
    """The SQLAlchemy (asyncpg) URL of a database on the benchmark server."""
    return f"postgresql+asyncpg://{PG_HOST}/{name}"


def plain_url(name: str) -> str:
    """The libpq/asyncpg URL of a database on the benchmark server."""
    return f"postgresql://{PG_HOST}/{name}"


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded: reported beside every figure."""
    return [round(x, 2) for x in os.getloadavg()]


def machine_info() -> dict[str, Any]:
    """CPU, memory, software versions and current load of this machine."""
    cpu_model = ""
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    memory_kb = 0
    with open("/proc/meminfo", encoding="utf-8") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    return {
        "cpu": cpu_model,
        "logical_cpus": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgres": _command_output(["psql", "--version"]),
        "redis": _command_output(["redis-server", "--version"]),
        "commit": _command_output(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]),
        "load_average": load_average(),
        "python_loop_cpu_ms": python_loop_cpu_ms(),
    }


def python_loop_cpu_ms(iterations: int = 2_000_000) -> float:
    """CPU milliseconds a fixed pure-Python loop takes now (the median of three).

    The same vCPU type has been measured 2.5x slower an hour later with the machine idle
    (the host's other guests, which no load average shows): CPU figures compare only with
    the same run's baselines, and this says how fast the machine was when they were made."""
    runs = []
    for _ in range(3):
        started = time.process_time()
        total = 0
        for i in range(iterations):
            total += i * i % 7
        runs.append((time.process_time() - started) * 1000)
    return round(sorted(runs)[1], 1)


def _command_output(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)  # noqa: S603
    except OSError:
        return "unavailable"
    return done.stdout.strip() or "unavailable"


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (0.0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), round(fraction * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def median_of(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Key by key, the median of numeric fields over runs; other fields from the first run."""
    if not runs:
        return {}
    merged: dict[str, Any] = {}
    for key, first in runs[0].items():
        values = [run[key] for run in runs if key in run]
        if isinstance(first, bool) or not isinstance(first, int | float):
            merged[key] = first
        else:
            merged[key] = round(statistics.median(values), 3)
    merged["runs"] = len(runs)
    return merged


def emit(document: Mapping[str, Any]) -> None:
    """Print the benchmark's one JSON object on stdout."""
    json.dump(document, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    sys.stdout.flush()


def table(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A Markdown table of `columns` from `rows` (missing cells are blank)."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def stop_process(process: subprocess.Popen[bytes], grace: float = 20) -> None:
    """SIGTERM a server the benchmark started; killed if it is not gone within `grace` s."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def explain_last_statement(
    database: str, run: Callable[[AsyncSession], Awaitable[object]]
) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of the last statement `run` sends on its session, in that
    session, exactly as SQLAlchemy sent it; rolled back with `run`'s work. The plan's JSON."""
    from sqlalchemy import event, text
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    engine = create_async_engine(async_url(database))
    captured: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        captured.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        async with AsyncSession(engine) as session:
            await session.execute(text("SELECT 1"))  # connect before capturing
            captured.clear()
            await run(session)
            statement, parameters = captured[-1]
            connection = await session.connection()
            plan = (
                await connection.exec_driver_sql(
                    "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters
                )
            ).scalar_one()[0]
            await session.rollback()
    finally:
        await engine.dispose()
    result: dict[str, Any] = plan
    return result


def plan_scans(plan: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """The indexes a PostgreSQL JSON plan node (and those below it) reads, and the tables
    it scans in full ("?" for a scan that names none)."""
    indexes: set[str] = set()
    seq_scans: set[str] = set()

    def walk(node: Mapping[str, Any]) -> None:
        if "Index Name" in node:
            indexes.add(node["Index Name"])
        if node.get("Node Type") == "Seq Scan":
            seq_scans.add(node.get("Relation Name", "?"))
        for child in node.get("Plans", []):
            walk(child)

    walk(plan)
    return indexes, seq_scans


def log(message: str) -> None:
    """Progress on stderr (stdout carries only the JSON)."""
    print(message, file=sys.stderr, flush=True)


async def _admin(*statements: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(plain_url("postgres"))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def recreate_database(name: str) -> None:
    """Drop `name` if it exists, create it and migrate it to head (a scratch database)."""
    from pricealert.db.migrate import upgrade

    if not name.startswith("pricealert_bench_"):
        raise ValueError(f"refusing to recreate {name!r}: not a pricealert_bench_ database")
    drop_database(name)
    upgrade("head", database_url=async_url(name))


def drop_database(name: str) -> None:
    """Drop a scratch database (and end its connections)."""
    if not name.startswith("pricealert_bench_"):
        raise ValueError(f"refusing to drop {name!r}: not a pricealert_bench_ database")
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def flush_redis(url: str = REDIS_URL) -> None:
    """Empty the benchmark's Redis database."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


@contextlib.contextmanager
def scratch(database: str, *, keep: bool = False) -> Iterator[None]:
    """The benchmark's Redis emptied before the block and after it, and its scratch
    `database` dropped after it (`keep`: left for a rerun)."""
    flush_redis(REDIS_URL)
    try:
        yield
    finally:
        flush_redis(REDIS_URL)
        if not keep:
            drop_database(database)


@contextlib.contextmanager
def workers_log_elsewhere() -> Iterator[None]:
    """Workers run in this process log one JSON line per job to stdout, as in production;
    the benchmark's stdout carries only its JSON, so their lines go to /dev/null meanwhile."""
    out = sys.stdout
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - closed below
    try:
        yield
    finally:
        sys.stdout.close()
        sys.stdout = out
