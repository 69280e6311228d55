"""The benchmark's scaffolding: scratch database, products, Redis, the shop process, the machine.

Helpers of `bench_scrape.py`; nothing here is measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from scripts.bench import common

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
REDIS_URL = os.environ.get("PRICEALERT_BENCH_REDIS", "redis://127.0.0.1:6379/5")
#: The selector a product of the "selector" shape is configured with.
SELECTORS = {"selector": "#corePrice_feature_div"}
#: URL suffix per shape where the page's URL matters (the ProductGroup variant).
URL_SUFFIX = {"productgroup": "?variant=222"}


@dataclass(frozen=True)
class ShopProcess:
    origins: list[str]
    shapes: list[str]


@contextlib.contextmanager
def shop_process(hosts: int) -> Iterator[ShopProcess]:
    """The shop in a separate process; stopped when the block ends."""
    process = subprocess.Popen(  # noqa: S603 - our own script, fixed arguments
        [sys.executable, "-m", "scripts.bench.scrape_shop", "--hosts", str(hosts)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("the bench shop did not start")
        announced = json.loads(line)
        yield ShopProcess(announced["origins"], announced["shapes"])
    finally:
        process.terminate()
        process.wait(timeout=10)


async def create_database(name: str) -> str:
    """A migrated scratch database (`common.recreate_database`); returns its SQLAlchemy URL."""
    await asyncio.to_thread(common.recreate_database, name)
    return common.async_url(name)


async def drop_database(name: str) -> None:
    await asyncio.to_thread(common.drop_database, name)


async def add_products(engine: AsyncEngine, shop: ShopProcess, count: int) -> None:
    """`count` products spread over the shop's hosts and shapes, checked hourly."""
    rows = []
    for index in range(count):
        shape = shop.shapes[index % len(shop.shapes)]
        origin = shop.origins[index % len(shop.origins)]
        rows.append({
            "url": f"{origin}/p/{index}{URL_SUFFIX.get(shape, '')}",
            "domain": origin.split("://", 1)[1].split(":", 1)[0],
            "selector": SELECTORS.get(shape, ""),
        })  # fmt: skip
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO product (url, domain, selector, check_interval_seconds, next_check_at)"
                " VALUES (:url, :domain, :selector, 3600, now() + interval '1 day')"
            ),
            rows,
        )


async def make_all_due(engine: AsyncEngine, *, forget_state: bool) -> datetime:
    """Every product due now (and, with `forget_state`, never seen before)."""
    async with engine.begin() as connection:
        if forget_state:
            await connection.execute(text("DELETE FROM price_history"))
            await connection.execute(
                text(
                    "UPDATE product SET price = NULL, currency = NULL, availability = NULL,"
                    " title = NULL, etag = NULL, last_modified = NULL, last_changed_at = NULL"
                )
            )
        started = datetime.now(UTC)
        await connection.execute(
            text(
                "UPDATE product SET next_check_at = :now, lease_token = NULL,"
                " lease_expires_at = NULL"
            ),
            {"now": started},
        )
    return started


async def checked_since(engine: AsyncEngine, since: datetime) -> int:
    async with engine.connect() as connection:
        count = await connection.scalar(
            text("SELECT count(*) FROM product WHERE last_checked_at >= :since"), {"since": since}
        )
    return int(count or 0)


async def results(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT coalesce(last_result, 'none'), count(*) FROM product GROUP BY 1")
        )
        return {str(result): int(count) for result, count in rows}
