"""The restore drill (plan 5.3) on PriceAlert's real schema: RTO and RPO, measured.

On a scratch database the drill builds PriceAlert's schema with the real
migrations and fills it with realistic data (`drill_data`: users, keys,
products, a change-only price history of `history_rows` rows, channels, rules,
the delivery log). While a writer keeps adding history rows as the scraper
would, it backs the database up, destroys it, restores the backup, proves
every table identical to what the backup recorded (row counts and checksums
from the backup's own snapshot), and proves the application works on the
restored database: the real services start on it (`devtools.Stack`, with a
private redis-server), the API answers the drill user's key with that user's
watches, and a product added from a loopback shop gets checked and recorded.

- RTO: from the destroy to the application proven working again (restore,
  verification and service start included).
- RPO: from the destroy back to the newest write the restored database holds;
  the writes committed after the backup's snapshot are the data a real incident
  would lose (`lost_writes`).

The scratch database is dropped and the drill's backup deleted afterwards,
whatever happens. The default store is a temporary local directory, so the
drill runs on any machine without cloud credentials; `--bucket` drills
against a real store.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from pricealert.db.migrate import upgrade
from pricealert_ops import pg
from pricealert_ops.backup import BackupSettings, create_backup, metadata_key
from pricealert_ops.drill_data import DRILL_KEY, LIVE_WRITE, SeedPlan, seed
from pricealert_ops.restore import TableComparison, all_match, restore_dump
from pricealert_ops.storage import BackupStore

T = TypeVar("T")

#: How long the writer keeps writing after the backup, before the destroy.
WRITES_AFTER_BACKUP_SECONDS = 1.0
WRITE_EVERY_SECONDS = 0.05
#: How long a check of the new product may take on the restored stack.
PRICE_WAIT_SECONDS = 30.0


@dataclass
class DrillResult:
    """Timings and outcome of one drill."""

    database: str
    location: str
    history_rows: int
    steps: list[tuple[str, float, str]] = field(default_factory=list)
    comparisons: list[TableComparison] = field(default_factory=list)
    destroyed_at: datetime | None = None
    newest_restored_write: datetime | None = None
    writes_during_drill: int = 0
    lost_writes: int = 0
    app_checks: list[str] = field(default_factory=list)
    app_error: str | None = None

    @property
    def identical(self) -> bool:
        """Whether the restored data is the data the backup recorded."""
        return bool(self.comparisons) and all_match(self.comparisons)

    @property
    def app_works(self) -> bool:
        """Whether the application was proven on the restored database (if it was tried)."""
        return self.app_error is None

    @property
    def passed(self) -> bool:
        return self.identical and self.app_works

    @property
    def rto_seconds(self) -> float:
        """Destroy → proven working again: every step after the destroy."""
        names = [name for name, _, _ in self.steps]
        after = names.index("destroy") + 1 if "destroy" in names else len(names)
        return sum(seconds for _, seconds, _ in self.steps[after:])

    @property
    def rpo_seconds(self) -> float | None:
        """Destroy → the newest write the restored database holds."""
        if self.destroyed_at is None or self.newest_restored_write is None:
            return None
        return (self.destroyed_at - self.newest_restored_write).total_seconds()

    async def timed(self, name: str, detail: str, step: Awaitable[T]) -> T:
        """Run one step and record how long it took."""
        started = time.perf_counter()
        result = await step
        self.steps.append((name, time.perf_counter() - started, detail))
        return result


class _Writer:
    """Adds a history row every few milliseconds, as live traffic would, until stopped."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.written: list[datetime] = []
        self._stop = asyncio.Event()
        self._warm = asyncio.Event()

    async def run(self) -> None:
        conn = await pg.connect(self.url)
        try:
            while not self._stop.is_set():
                self.written.append(await conn.fetchval(LIVE_WRITE))
                if len(self.written) >= 3:
                    self._warm.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), WRITE_EVERY_SECONDS)
        finally:
            await conn.close()

    async def started(self) -> None:
        """Return once some writes are in: live traffic was going on before the backup."""
        await self._warm.wait()

    def stop(self) -> None:
        self._stop.set()


async def _create_schema(url: str) -> None:
    async_url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
    await asyncio.to_thread(upgrade, "head", database_url=async_url)


async def _seed(url: str, history_rows: int) -> SeedPlan:
    conn = await pg.connect(url)
    try:
        return await seed(conn, history_rows)
    finally:
        await conn.close()


async def _newest_write(url: str) -> datetime | None:
    conn = await pg.connect(url)
    try:
        newest: datetime | None = await conn.fetchval(
            "SELECT max(first_seen_at) FROM price_history"
        )
        return newest
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
    server_url: str,
    settings: BackupSettings,
    *,
    location: str | None = None,
    history_rows: int = 100_000,
    prove_app: bool = True,
) -> DrillResult:
    """Run the whole drill against a scratch database on `server_url`'s server."""
    name = pg.scratch_name("drill")
    url = pg.with_database(server_url, name)
    prefix = "drills/"
    async with _drill_store(settings, location) as store:
        result = DrillResult(name, store.location, history_rows)
        key = None
        try:
            await pg.create_database(server_url, name)
            await result.timed("create schema", "alembic upgrade head", _create_schema(url))
            await result.timed(
                "create data", plan_text(SeedPlan(history_rows)), _seed(url, history_rows)
            )
            writer = _Writer(url)
            writing = asyncio.create_task(writer.run())
            try:
                await writer.started()
                metadata = await result.timed(
                    "back up",
                    "pg_dump → store, while writes go on",
                    create_backup(url, store, prefix),
                )
                key = metadata.key
                await asyncio.sleep(WRITES_AFTER_BACKUP_SECONDS)
            finally:
                writer.stop()
                await writing
            result.destroyed_at = datetime.now(UTC)
            await result.timed("destroy", "DROP DATABASE", pg.drop_database(server_url, name))
            report = await result.timed(
                "restore", "checksum, pg_restore, fingerprints", restore_dump(store, key, url)
            )
            result.comparisons = report.comparisons
            result.newest_restored_write = await _newest_write(url)
            newest = result.newest_restored_write
            result.writes_during_drill = len(writer.written)
            result.lost_writes = sum(1 for at in writer.written if newest is None or at > newest)
            if prove_app:
                await result.timed(
                    "prove app", "services on the restored database", _prove(url, result)
                )
        finally:
            await pg.drop_database(server_url, name)
            if key is not None:
                store.delete(key)
                store.delete(metadata_key(key))
    return result


def plan_text(plan: SeedPlan) -> str:
    return (
        f"{plan.history_rows} history rows, {plan.products} products, {plan.users} users, "
        "watches, channels, rules, notifications"
    )


async def _prove(url: str, result: DrillResult) -> None:
    """The application on the restored database: the API answers, a check records."""
    try:
        result.app_checks = await prove_application(url)
    except Exception as exc:  # the verdict is the news; the drill still cleans up
        result.app_error = f"{type(exc).__name__}: {exc}"


async def prove_application(url: str) -> list[str]:
    """Start the services on `url`; what each proof showed (raises when one fails)."""
    # Tooling only: the dev stack and a loopback shop are imported when a drill runs.
    from pricealert_ops.chaos.servers import PrivateRedis, private_workdir
    from pricealert_ops.devtools.shop import Page, Shop
    from pricealert_ops.devtools.stack import Api, Stack

    checks: list[str] = []
    workdir = private_workdir("drill")
    redis = PrivateRedis(workdir / "redis")
    await redis.start()
    try:
        async with Shop() as shop:
            await shop.listen()
            shop.serve("/p/restored", Page(body=product_page("復元確認セット", "4980")))
            async_url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
            async with (
                Stack(async_url, redis.url(0), allowed_hosts=[shop.netloc()]) as stack,
                Api(stack.api_url) as api,
            ):
                watched = await api.call("GET", "/v1/products?limit=100", key=DRILL_KEY)
                count = len(watched["items"])
                if count < 10:
                    raise DrillFailed(f"the drill user's key sees {count} watches, expected >= 10")
                checks.append(f"API: the restored user's key lists its {count} watches")
                await api.sign_up("drill-new-user@example.jp")
                product = await api.call("POST", "/v1/products", {"url": shop.url("/p/restored")})
                await api.call("POST", f"/v1/products/{product['id']}/check")
                price = await _wait_for_price(api, product["id"])
                checks.append(f"scraper: a new product was checked and recorded at ¥{price}")
    finally:
        await redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return checks


class DrillFailed(RuntimeError):
    """The application did not work on the restored database; the message says how."""


async def _wait_for_price(api: Any, product_id: str) -> str:
    deadline = time.monotonic() + PRICE_WAIT_SECONDS
    while time.monotonic() < deadline:
        history = await api.call("GET", f"/v1/products/{product_id}/prices")
        if history["items"]:
            return str(history["items"][0]["price"])
        await asyncio.sleep(0.2)
    raise DrillFailed(f"no price was recorded for a new product in {PRICE_WAIT_SECONDS:.0f} s")


def product_page(title: str, price: str) -> bytes:
    """A small product page with JSON-LD, as a shop serves one."""
    return (
        '<html lang="ja"><head><meta charset="utf-8"><title>'
        + title
        + '</title><script type="application/ld+json">{"@type":"Product","name":"'
        + title
        + '","offers":{"@type":"Offer","price":"'
        + price
        + '","priceCurrency":"JPY","availability":"https://schema.org/InStock"}}'
        + "</script></head><body></body></html>"
    ).encode()


def format_drill(result: DrillResult) -> list[str]:
    """The drill's readable report: one line per step, RTO, RPO, the verdict."""
    lines = [f"restore drill on scratch database {result.database} via {result.location}"]
    for name, seconds, detail in result.steps:
        lines.append(f"  {name:<14} {seconds:8.2f} s   {detail}")
    lines.append(f"  {'RTO':<14} {result.rto_seconds:8.2f} s   destroy → application proven")
    rpo = result.rpo_seconds
    rpo_text = f"{rpo:8.2f} s" if rpo is not None else "       - "
    lines.append(
        f"  {'RPO':<14} {rpo_text}   destroy → newest restored write "
        f"({result.lost_writes} of {result.writes_during_drill} live writes after the "
        "backup's snapshot lost)"
    )
    for check in result.app_checks:
        lines.append(f"  proven: {check}")
    if result.app_error:
        lines.append(f"  application FAILED on the restored database: {result.app_error}")
    tables = ", ".join(
        f"{c.table.removeprefix('public.')} {c.actual.rows if c.actual else 0}"
        for c in result.comparisons
    )
    verdict = "IDENTICAL" if result.identical else "DIFFERENT"
    lines.append(f"data: {verdict} to the backup ({tables})")
    lines.append(f"result: {'PASSED' if result.passed else 'FAILED'}")
    return lines
