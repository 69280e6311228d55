"""`make bench-web`: how fast the product page of a product with a year of history loads in
a real browser (Debian's chromium through Playwright), as the page-load SLO measures it.

The API and the web UI run as real processes with their production commands (uvicorn,
JSON logs) on a scratch database: one user, one product with a year of change-only
history (a change every 8 hours: price moves and out-of-stock spans, about 1 100 rows),
two alerts and a channel. The browser is signed in (its session cookie sealed as the web
service does) and opens the product page `--loads` times after `--warmup` loads, in two
ways: **warm** (the browser's cache on: the stylesheet and script come from it, as for a
person moving between pages) and **cold** (the cache off through the DevTools protocol:
every asset fetched again, as on a first visit). The figure is the load event of
Navigation Timing — what each page's beacon reports to `pricealert_web_page_load_seconds`
— read from the page itself, with the phases before it; `beacons_counted` is how much
the web service's own histogram grew meanwhile (every load, warm-ups included).

Prints one JSON object: p50/p95/max in ms for both, the target (p95 < 500 ms), the
history size and the machine (with its load average).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from playwright.async_api import Browser, async_playwright

from pricealert.db.migrate import upgrade
from pricealert.settings import DEFAULT_SECRET
from pricealert.supervised import service_command
from scripts.bench.api_server import free_port, running_api
from scripts.bench.common import (
    REPO,
    async_url,
    emit,
    load_average,
    log,
    machine_info,
    percentile,
    plain_url,
    recreate_database,
    scratch,
    stop_process,
)
from services.web.session import SESSION_COOKIE, Session, SessionCodec

DATABASE = "pricealert_bench_web"
TARGET_P95_MS = 500
CHROMIUM = os.environ.get("PRICEALERT_TEST_CHROMIUM", "/usr/bin/chromium")
CHANGE_EVERY = timedelta(hours=8)


@contextmanager
def running_web(api_url: str, log_dir: Path) -> Iterator[str]:
    """The web UI with its production command, until the block ends; yields its URL."""
    port = free_port()
    env = {
        **os.environ,
        "PRICEALERT_ENVIRONMENT": "development",
        "PRICEALERT_API_URL": api_url,
        "PRICEALERT_LOG_JSON": "true",
        "PRICEALERT_SECRET_KEY": DEFAULT_SECRET,
    }
    with (log_dir / "web.log").open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - the supervisor's own command
            service_command("web", host="127.0.0.1", port=0, web_port=port),
            env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).is_success:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the web UI did not become ready")
                time.sleep(0.2)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_process(process)


async def seed(api_url: str, now: datetime) -> tuple[str, str, int]:
    """A user (API key), a watched product with a year of history; (key, watch id, rows)."""
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as api:
        user = (await api.post("/v1/users", json={"email": "bench@pricealert.example"})).json()
        auth = {"Authorization": f"Bearer {user['api_key']}"}
        watched = await api.post(
            "/v1/products", json={"url": "https://shop.example.com/p/bench"}, headers=auth
        )
        watch_id = watched.json()["id"]
        connection = await asyncpg.connect(plain_url(DATABASE))
        try:
            product_id = await connection.fetchval("SELECT product_id FROM watch WHERE id = $1",
                                                   uuid.UUID(watch_id))  # fmt: skip
            rows = []
            at, price = now - timedelta(days=365), Decimal("129.00")
            step = 0
            while at < now:
                step += 1
                price = max(Decimal("79.00"), price + Decimal((step * 7919) % 13 - 6))
                availability = "OutOfStock" if step % 23 in (0, 1) else "InStock"
                until = min(at + CHANGE_EVERY - timedelta(minutes=1), now)
                rows.append((product_id, price, "USD", availability, at, until))
                at += CHANGE_EVERY
            await connection.copy_records_to_table(
                "price_history",
                records=rows,
                columns=["product_id", "price", "currency", "availability",
                         "first_seen_at", "last_seen_at"],
            )  # fmt: skip
            last = rows[-1]
            await connection.execute(
                "UPDATE product SET title = 'Bench walnut lamp', price = $2, currency = 'USD', "
                "availability = $3, last_checked_at = $4, last_changed_at = $5, "
                "next_check_at = $6 WHERE id = $1",
                product_id, last[1], last[3], now, last[4], now + timedelta(days=1),
            )  # fmt: skip
        finally:
            await connection.close()
        channel = await api.post(
            "/v1/channels", json={"kind": "webhook", "target": "https://hooks.example.com/b"},
            headers=auth,
        )  # fmt: skip
        for threshold in ("99", "89"):
            await api.post(
                "/v1/alerts",
                json={"product_id": watch_id, "kind": "below", "threshold": threshold,
                      "channel_ids": [channel.json()["id"]]},
                headers=auth,
            )  # fmt: skip
        return user["api_key"], watch_id, len(rows)


def session_cookie(api_key: str, web_url: str) -> dict[str, Any]:
    """The browser's session cookie, sealed as the web service seals it."""
    codec = SessionCodec(DEFAULT_SECRET)
    sealed = codec.seal(
        Session(
            api_key=api_key, key_id=str(uuid.uuid4()), expires_at=time.time() + 3600,
            email="bench@pricealert.example", time_zone="Asia/Tokyo", locale="en",
        )
    )  # fmt: skip
    return {"name": SESSION_COOKIE, "value": sealed, "url": web_url}


LOAD_EVENT = "() => performance.getEntriesByType('navigation')[0].loadEventEnd"
#: Where a load's time went: the HTML's first byte (server), its last, the DOM, the load.
PHASES = (
    "() => { const e = performance.getEntriesByType('navigation')[0];"
    " return [e.responseStart, e.responseEnd, e.domContentLoadedEventEnd, e.loadEventEnd]; }"
)


async def measure(browser: Browser, url: str, cookie: dict[str, Any], loads: int, warmup: int,
                  cold: bool) -> list[list[float]]:  # fmt: skip
    """The phases (ms, `PHASES`) of `loads` page loads after `warmup`: warm (the browser's
    cache on) or cold (cache off through the DevTools protocol: every stylesheet and script
    fetched again, as on a first visit, in the same tab)."""
    times: list[list[float]] = []
    context = await browser.new_context()
    await context.add_cookies([cookie])  # type: ignore[list-item]
    page = await context.new_page()
    if cold:
        devtools = await context.new_cdp_session(page)
        await devtools.send("Network.setCacheDisabled", {"cacheDisabled": True})
    try:
        for index in range(warmup + loads):
            await page.goto(url, wait_until="load")
            title = await page.title()
            if "Bench walnut lamp" not in title:
                raise RuntimeError(f"not the product page: {title!r}")
            await page.wait_for_function(f"({LOAD_EVENT})() > 0")
            if index >= warmup:
                times.append([float(t) for t in await page.evaluate(PHASES)])
            await page.wait_for_timeout(50)  # let the beacon go
    finally:
        await context.close()
    return times


def summary(phases: list[list[float]]) -> dict[str, float]:
    """p50/p95/max of the load event, and the median of each phase before it."""
    ordered = sorted(p[3] for p in phases)

    def median(index: int) -> float:
        return round(percentile(sorted(p[index] for p in phases), 0.5), 1)

    return {
        "p50_ms": round(percentile(ordered, 0.5), 1),
        "p95_ms": round(percentile(ordered, 0.95), 1),
        "max_ms": round(ordered[-1], 1),
        "median_first_byte_ms": median(0),
        "median_html_done_ms": median(1),
        "median_dom_ready_ms": median(2),
    }


def beacons(web_url: str) -> float:
    text = httpx.get(f"{web_url}/metrics", timeout=10).text
    pattern = r'pricealert_web_page_load_seconds_count\{page="product"\} ([0-9.e+]+)'
    match = re.search(pattern, text)
    return float(match.group(1)) if match else 0.0


async def run(loads: int, warmup: int) -> dict[str, Any]:
    log_dir = Path(tempfile.mkdtemp(prefix="pricealert-bench-web-"))
    with running_api(DATABASE, log_dir, {}) as api:
        api_url = f"http://127.0.0.1:{api.port}"
        key, watch_id, rows = await seed(api_url, datetime.now(UTC))
        with running_web(api_url, log_dir) as web_url:
            url = f"{web_url}/products/{watch_id}?days=365"
            cookie = session_cookie(key, web_url)
            args = ["--no-first-run", "--disable-background-networking", "--disable-sync",
                    "--disable-component-update", "--disable-dev-shm-usage"]  # fmt: skip
            if os.geteuid() == 0:
                args.append("--no-sandbox")
            before = beacons(web_url)
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=args)
                try:
                    log(f"warm: {loads} loads of the product page ({rows} history rows)")
                    warm = await measure(browser, url, cookie, loads, warmup, cold=False)
                    log(f"cold: {loads} loads, the browser's cache off")
                    cold = await measure(browser, url, cookie, loads, warmup, cold=True)
                finally:
                    await browser.close()
            await asyncio.sleep(0.5)
            reported = beacons(web_url) - before
    return {
        "benchmark": "web_page_load",
        "page": "product (chart of 365 days, the latest 100 of all changes listed)",
        "history_rows": rows,
        "loads": loads,
        "warm": summary(warm),
        "cold": summary(cold),
        "target_p95_ms": TARGET_P95_MS,
        "meets_target": max(summary(warm)["p95_ms"], summary(cold)["p95_ms"]) < TARGET_P95_MS,
        "beacons_counted": reported,
        "browser": "chromium (Debian) via Playwright",
        "load_average": load_average(),
        "machine": machine_info(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench-web", description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", type=int, default=40, help="measured loads of each kind")
    parser.add_argument("--warmup", type=int, default=3, help="loads before measuring")
    parser.add_argument("--quick", action="store_true", help="10 loads of each kind")
    args = parser.parse_args(argv)
    loads = 10 if args.quick else args.loads
    recreate_database(DATABASE)
    with scratch(DATABASE):
        upgrade("head", database_url=async_url(DATABASE))
        emit(asyncio.run(run(loads, args.warmup)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
