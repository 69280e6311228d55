"""The restore drill (plan 5.3) in miniature: the recovery time objective, measured.

On a scratch database it creates price data, backs it up, destroys the
database, restores the backup, and proves the result identical to the data it
started from (table fingerprints taken before the backup, compared with the
restored ones). Each step is timed; the total is the drill's RTO. The scratch
database is dropped and the drill's backup deleted afterwards, whatever happens.

The default store is a temporary local directory, so the drill runs on any
machine without cloud credentials; `--bucket` drills against a real store.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pricealert.ops import pg
from pricealert.ops.backup import BackupSettings, create_backup, metadata_key
from pricealert.ops.restore import TableComparison, all_match, compare, restore_dump
from pricealert.ops.storage import BackupStore

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE product (
    id bigint PRIMARY KEY,
    url text NOT NULL UNIQUE,
    title text NOT NULL,
    currency char(3) NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE price_history (
    id bigint PRIMARY KEY,
    product_id bigint NOT NULL REFERENCES product (id),
    price numeric(14, 2) NOT NULL,
    in_stock boolean NOT NULL,
    first_seen_at timestamptz NOT NULL,
    extracted jsonb NOT NULL
);
CREATE INDEX price_history_product_seen ON price_history (product_id, first_seen_at);
"""

# Deterministic rows: Japanese titles, yen and fractional prices, JSON, UTC times.
_SEED_PRODUCTS = """
INSERT INTO product
SELECT p, 'https://shop.example/item/' || p, '商品 ' || p || '号 (セール対象)',
       CASE WHEN p % 3 = 0 THEN 'USD' ELSE 'JPY' END,
       timestamptz '2024-01-01 00:00:00+00' + p * interval '1 minute'
FROM generate_series(1, $1) AS p
"""
_SEED_PRICES = """
INSERT INTO price_history
SELECT h, 1 + h % $1, round((h * 37 % 100000) / 7.0, 2), h % 5 <> 0,
       timestamptz '2024-01-01 00:00:00+00' + h * interval '17 seconds',
       jsonb_build_object('source', 'drill', 'raw', '¥' || h, 'confidence', 0.5 + (h % 50) / 100.0)
FROM generate_series(1, $2) AS h
"""


@dataclass
class DrillResult:
    """Timings and outcome of one drill."""

    database: str
    location: str
    rows: int
    steps: list[tuple[str, float, str]] = field(default_factory=list)
    comparisons: list[TableComparison] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        """Whether the restored data is the data the drill started from."""
        return bool(self.comparisons) and all_match(self.comparisons)

    async def timed(self, name: str, detail: str, step: Awaitable[T]) -> T:
        """Run one step and record how long it took."""
        started = time.perf_counter()
        result = await step
        self.steps.append((name, time.perf_counter() - started, detail))
        return result


async def _seed(url: str, rows: int) -> None:
    conn = await pg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute(_SCHEMA)
            products = max(1, rows // 20)
            await conn.execute(_SEED_PRODUCTS, products)
            await conn.execute(_SEED_PRICES, products, rows)
    finally:
        await conn.close()


@asynccontextmanager
async def _drill_store(
    settings: BackupSettings, location: str | None
) -> AsyncIterator[BackupStore]:
    if location:
        yield settings.store(location)
        return
    with tempfile.TemporaryDirectory(prefix="pricealert-drill-") as directory:
        yield settings.store(Path(directory).as_uri())


async def run_drill(
    server_url: str, settings: BackupSettings, *, location: str | None = None, rows: int = 20_000
) -> DrillResult:
    """Run the whole drill against a scratch database on `server_url`'s server."""
    name = pg.scratch_name("drill")
    url = pg.with_database(server_url, name)
    prefix = "drills/"
    async with _drill_store(settings, location) as store:
        result = DrillResult(name, store.location, rows)
        key = None
        try:
            await pg.create_database(server_url, name)
            await result.timed("create data", f"{rows} price rows", _seed(url, rows))
            before = await pg.fingerprint_database(url)
            metadata = await result.timed(
                "back up", "pg_dump → store", create_backup(url, store, prefix)
            )
            key = metadata.key
            await result.timed("destroy", "DROP DATABASE", pg.drop_database(server_url, name))
            await result.timed("restore", "checksum, pg_restore", restore_dump(store, key, url))
            after = await result.timed("prove", "fingerprints", pg.fingerprint_database(url))
            result.comparisons = compare(before, after)
        finally:
            await pg.drop_database(server_url, name)
            if key is not None:
                store.delete(key)
                store.delete(metadata_key(key))
    return result


def format_drill(result: DrillResult) -> list[str]:
    """The drill's readable report: one line per step, the total, the verdict."""
    lines = [f"restore drill on scratch database {result.database} via {result.location}"]
    for name, seconds, detail in result.steps:
        lines.append(f"  {name:<12} {seconds:8.2f} s   {detail}")
    total = sum(seconds for _, seconds, _ in result.steps)
    lines.append(f"  {'total (RTO)':<12} {total:8.2f} s")
    tables = ", ".join(
        f"{c.table} {c.actual.rows if c.actual else 0} rows" for c in result.comparisons
    )
    verdict = "IDENTICAL" if result.identical else "DIFFERENT"
    lines.append(f"result: {verdict} ({tables})")
    return lines
