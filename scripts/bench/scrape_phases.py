"""Where a check's CPU goes: exact extraction time, cProfile shares for everything else.

Async work cannot be timed with a clock around an `await` (other checks run in
between), so its split comes from one pass profiled on CPU time, grouped by the
package the code lives in. cProfile slows Python calls more than C (the Lexbor
parse), so extraction, which is synchronous, is timed exactly instead, and the
profile's shares split only the rest of the unprofiled CPU figure.
"""

from __future__ import annotations

import cProfile
import pstats
import statistics
import time
from typing import Any, ClassVar

from scripts.bench.bench_extract import SHAPES, build_page, measure
from services.scraper.check import ProductCheck


class ExtractTimer:
    """Accumulates the CPU time of `ProductCheck._extract` (synchronous, so exact)."""

    total: ClassVar[float] = 0.0

    @classmethod
    def install(cls) -> None:
        original = ProductCheck._extract

        def timed(self: ProductCheck, recipe: Any, outcome: Any) -> Any:
            started = time.process_time()
            try:
                return original(self, recipe, outcome)
            finally:
                cls.total += time.process_time() - started

        timed.__name__ = "_extract_timed"
        ProductCheck._extract = timed  # type: ignore[method-assign]


class RoundTrips:
    """Writes to each kind of peer (PostgreSQL, Redis, shops): one per request or batch sent.

    Counted at the asyncio socket transport, under asyncpg, redis-py and httpx alike.
    """

    counts: ClassVar[dict[str, int]] = {}

    @classmethod
    def install(cls, postgres_port: int = 5432, redis_port: int = 6379) -> None:
        import asyncio.selector_events as events

        transport_class: Any = vars(events)["_SelectorSocketTransport"]  # private: what we count
        original = transport_class.write
        kinds = {postgres_port: "postgres", redis_port: "redis"}

        def write(self: Any, data: Any) -> None:
            kind = self.__dict__.get("_bench_peer")
            if kind is None:
                peer = self.get_extra_info("peername") or ("", 0)
                kind = self.__dict__["_bench_peer"] = kinds.get(peer[1], "http")
            cls.counts[kind] = cls.counts.get(kind, 0) + 1
            original(self, data)

        transport_class.write = write

    @classmethod
    def snapshot(cls) -> dict[str, int]:
        return dict(cls.counts)


#: Self time is grouped by where the code lives (first match wins). cProfile's cumulative
#: times are useless here: coroutines re-enter on every resumption and SQLAlchemy's
#: greenlets switch stacks under it, so only self time is trustworthy.
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("parse_and_extract", ("libs/pricealert/extract/", "selectolax", "price_parser",
                           "services/scraper/observe.py", "scrape_phases.py")),
    ("fetch_http", ("aiohttp/", "yarl/", "multidict/", "propcache/", "aiohappyeyeballs/",
                    "httpx/", "httpcore/", "h11/", "anyio/", "sniffio/", "idna/",
                    "pricealert/http/", "services/scraper/fetch.py", "services/scraper/robots.py")),
    ("database", ("sqlalchemy/", "asyncpg/", "greenlet", "pricealert/repositories/",
                  "pricealert/db/", "pricealert/models.py")),
    ("redis_and_arq", ("redis/", "arq/", "pricealert/queues.py", "hiredis")),
    ("logging", ("structlog/", "/logging/__init__.py", "pricealert/logging.py")),
    ("metrics", ("prometheus_client/",)),
    ("payloads", ("pydantic",)),
    ("scraper_glue", ("services/scraper/", "pricealert/worker.py")),
    ("event_loop_and_sockets", ("asyncio/", "selectors.py", "socket.py", "ssl.py")),
)  # fmt: skip


def _group(path: str) -> str | None:
    for name, markers in GROUPS:
        if any(marker in path for marker in markers):
            return name
    return None


def _self_time_by_group(entries: dict[Any, Any]) -> dict[str, float]:
    """Self time per group; a builtin's time goes to its callers' groups, pro rata."""
    totals: dict[str, float] = {}
    for (path, _line, _name), (_cc, _nc, tt, _ct, callers) in entries.items():
        group = _group(path)
        if group is None and path == "~" and callers:
            weights: dict[str, float] = {}
            for (caller_path, _l, _n), caller_stats in callers.items():
                caller_group = _group(caller_path) or "other"
                weights[caller_group] = weights.get(caller_group, 0.0) + caller_stats[2]
            spread = sum(weights.values()) or 1.0
            for name, weight in weights.items():
                totals[name] = totals.get(name, 0.0) + tt * weight / spread
            continue
        totals[group or "other"] = totals.get(group or "other", 0.0) + tt
    return totals


def phase_shares(
    profiler: cProfile.Profile, steady: dict[str, Any], profiled: dict[str, Any], checks: int
) -> dict[str, Any]:
    """CPU ms per check by where it is spent, scaled to the unprofiled steady-state figure."""
    entries = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    groups = _self_time_by_group(entries)
    total = sum(groups.values())
    extract = groups.pop("parse_and_extract", 0.0)
    cpu_ms = steady["cpu_ms_per_check"]
    extract_ms = steady["extract_cpu_ms_per_check"]  # timed exactly, unprofiled
    rest = total - extract
    shares = {
        name: round(seconds / rest * (cpu_ms - extract_ms), 3)
        for name, seconds in sorted(groups.items(), key=lambda item: -item[1])
    }
    redis_commands = sum(
        value[1] for (path, _l, name), value in entries.items()
        if name == "pack_command" and "redis/" in path
    )  # fmt: skip
    hot = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)[:15]
    return {
        "parse_and_extract": round(extract_ms, 3),
        **shares,
        "redis_commands_per_check": round(redis_commands / checks, 1),
        "profiled_pass_cpu_ms_per_check": round(profiled["cpu_ms_per_check"], 3),
        "hot_spots_self_time_share": {
            f"{path.rsplit('/', 2)[-1] if '/' in path else path}:{line}:{name}": round(
                value[2] / total, 4
            )
            for (path, line, name), value in hot
        },
    }


def extraction_pages_per_second(iterations: int = 40, runs: int = 3) -> dict[str, Any]:
    """Extraction alone on the bench's page shapes: pages per second per core."""
    per_page = []
    for name, (corpus_file, url, selector, size_kb) in SHAPES.items():
        if name == "listing_none":
            continue
        body = build_page(corpus_file, size_kb)
        per_page.append(measure(body, url, selector, iterations, runs)["cpu_ms_per_page"])
    mean_ms = statistics.fmean(per_page)
    return {
        "pages_per_second_per_core": round(1000 / mean_ms, 1),
        "cpu_ms_per_page_mean": round(mean_ms, 3),
    }
