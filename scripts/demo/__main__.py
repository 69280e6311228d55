"""`make demo`: watch a moving shop through the real stack and see each alert arrive.

    python -m scripts.demo [--duration 60] [--alerts N] [--database pricealert_demo]
                           [--redis-db 7]

Finds or starts PostgreSQL and Redis as `make run` does (`pricealert servers up`:
the configured ones, else project-local ones in .local/ — the machine's programs
or the embedded wheels). Resets its own database (`pricealert_demo`: dropped,
created, migrated) and a Redis database of its own, so a developer's data is
never touched. Starts the four services as `make run` does, a demo shop on
127.0.0.1 (US, dollars) and 127.0.0.2 (JP, yen), and a webhook receiver that
verifies every signature; signs up a user through the API, watches five
products with one rule of each kind, then moves prices and prints each alert
with how long it took from the shop's change to its arrival. The web UI runs too: the
demo catches the notifier's mail (a loopback SMTP server) and prints a sign-in link
that opens the demo account's activity page, where the alerts appear as they arrive
(opened in a browser when the machine has a display). Ends after
`--duration` seconds, after `--alerts` verified alerts, or on Ctrl-C, stopping
every process it started — the servers too, when it started them — and
removing its scratch database and log (a failed run keeps the log and says where).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import webbrowser
from datetime import datetime
from pathlib import Path

import asyncpg
import redis as sync_redis

from pricealert.db.migrate import upgrade
from pricealert_ops.devtools.demo_shop import DemoShop
from pricealert_ops.devtools.mailbox import CODE, SIGN_IN_LINK, Mailbox
from pricealert_ops.devtools.receiver import Receiver
from pricealert_ops.devtools.servers import (
    Config,
    Server,
    ServerError,
    ensure_servers,
    stop_started,
)
from pricealert_ops.devtools.stack import Api, Stack, StackError, reset_database, with_path
from scripts.demo.display import Display

CHECK_INTERVAL_SECONDS = 2  # the demo's products are checked this often
WANDER_EVERY_SECONDS = 3.0
DEMO_EMAIL = "demo@pricealert.example"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    display = Display(sys.stdout)
    display.step("PostgreSQL and Redis")
    try:
        servers = ensure_servers(Config.from_env(), say=display.note)
    except ServerError as exc:
        display.error(str(exc))
        return 2
    try:
        return _with_servers(args, servers, display)
    finally:
        for line in stop_started(servers):
            display.note(line)


def _with_servers(args: argparse.Namespace, servers: list[Server], display: Display) -> int:
    urls = {server.kind: server.url for server in servers}
    database_url = with_path(urls["postgres"], f"/{args.database}")
    redis_url = with_path(urls["redis"], f"/{args.redis_db}")
    log_dir = Path(tempfile.mkdtemp(prefix="pricealert-demo-"))
    try:
        display.step(f"Resetting database {args.database} and Redis db {args.redis_db}")
        asyncio.run(reset_database(database_url))
        upgrade("head", database_url=database_url)
        _flush(redis_url)
    except (OSError, asyncpg.PostgresError, sync_redis.ConnectionError) as exc:
        display.error(f"PostgreSQL or Redis is not reachable ({exc}); see `make run`")
        return 2
    code = 1
    try:
        code = asyncio.run(_demo(args, database_url, redis_url, log_dir, display))
        return code
    except StackError as exc:
        display.error(str(exc))
        return 1
    finally:
        with contextlib.suppress(sync_redis.ConnectionError):
            _flush(redis_url)
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            asyncio.run(reset_database(database_url))  # drops the scratch database
        if code == 0:
            shutil.rmtree(log_dir, ignore_errors=True)
            display.note(f"removed database {args.database} and the log")
        else:
            display.note(f"removed database {args.database}; the log is kept: {log_dir}")


async def _demo(
    args: argparse.Namespace, database_url: str, redis_url: str, log_dir: Path, display: Display
) -> int:
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    shop = DemoShop()
    receiver = Receiver()
    stack: Stack | None = None
    try:
        netlocs = await shop.start()
        await receiver.start()
        async with Mailbox() as mailbox:
            stack = Stack(
                database_url,
                redis_url,
                allowed_hosts=[*netlocs, receiver.netloc],
                env={
                    "PRICEALERT_MIN_CHECK_INTERVAL_SECONDS": str(CHECK_INTERVAL_SECONDS),
                    "PRICEALERT_SMTP_HOST": mailbox.host,
                    "PRICEALERT_SMTP_PORT": str(mailbox.port),
                },
                log_dir=log_dir,
            )
            display.step(
                "Starting the stack: API, web UI, scraper, evaluator, notifier (real processes)"
            )
            await stack.start()
            assert stack.supervisor is not None
            display.note(f"API {stack.api_url} · process group {stack.supervisor.pid}")
            display.note(f"logs {stack.log_path}")
            async with Api(stack.api_url) as api:
                await _watch_everything(api, shop, receiver, display)
                await _open_web_ui(api, stack, mailbox, display)
                return await _run(args.duration, args.alerts, shop, receiver, display, stopped)
    finally:
        display.step("Stopping everything")
        if stack is not None:
            await stack.stop()
            left = stack.processes()
            display.note(f"processes left running: {len(left)}" + (f" {left}" if left else ""))
        await receiver.close()
        await shop.close()


async def _open_web_ui(api: Api, stack: Stack, mailbox: Mailbox, display: Display) -> None:
    """Verify the demo account's address with the code it was mailed, then ask for a
    sign-in link for the browser, landing on the activity page."""
    code = await mailbox.wait_for(CODE, DEMO_EMAIL)
    await api.call("POST", "/v1/users/me/verify", {"code": code})
    before = mailbox.count(DEMO_EMAIL)
    await api.call("POST", "/v1/sign-in", {"email": DEMO_EMAIL})
    link = await mailbox.wait_for(SIGN_IN_LINK, DEMO_EMAIL, after=before)
    link += "&next=/activity"
    display.step(f"Web UI {stack.web_url} — watch the alerts arrive (signs you in as the demo):")
    display.link(link)
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or sys.platform == "darwin":
        with contextlib.suppress(webbrowser.Error):
            webbrowser.open(link)


async def _watch_everything(api: Api, shop: DemoShop, receiver: Receiver, display: Display) -> None:
    """Sign up, add the signed webhook, watch each product and add its rule."""
    await api.sign_up(DEMO_EMAIL)
    channel = await api.call("POST", "/v1/channels", {"kind": "webhook", "target": receiver.url})
    receiver.secret = channel["secret"]
    display.step(f"Signed up; webhook channel → {receiver.url} (secret {channel['secret'][:12]}…)")
    watched: dict[str, str] = {}
    for item in shop.items.values():
        product = await api.call(
            "POST",
            "/v1/products",
            {"url": shop.url(item), "check_interval_seconds": CHECK_INTERVAL_SECONDS},
        )
        watched[item.slug] = product["id"]
    display.step("Watching 5 products; waiting for their first check")
    deadline = time.monotonic() + 30
    while True:
        page = await api.call("GET", "/v1/products")
        if all(p["price"] is not None for p in page["items"]):
            break
        if time.monotonic() > deadline:
            raise StackError("the first checks did not complete within 30 s; see the logs")
        await asyncio.sleep(0.2)
    for item in shop.items.values():
        body = {"product_id": watched[item.slug], "kind": item.rule, "channel_ids": [channel["id"]]}
        if item.threshold is not None:
            body["threshold"] = item.threshold
        await api.call("POST", "/v1/alerts", body)
        display.product(item)


async def _run(
    duration: float,
    alerts: int | None,
    shop: DemoShop,
    receiver: Receiver,
    display: Display,
    stopped: asyncio.Event,
) -> int:
    """Move prices and print alerts until `duration` is over, `alerts` arrived, or Ctrl-C."""
    display.step(f"Moving prices for {duration:.0f} s (Ctrl-C ends sooner)")
    started = time.monotonic()
    next_wander = 0.0
    shown: set[str] = set()
    while not stopped.is_set() and (elapsed := time.monotonic() - started) < duration:
        if alerts is not None and display.verified >= alerts:
            break
        moved = shop.scripted(elapsed)
        if moved is None and shop.script_done and elapsed >= next_wander:
            moved = shop.wander()
            next_wander = elapsed + WANDER_EVERY_SECONDS
        if moved is not None:
            display.shop_move(elapsed, moved)
        for delivery in receiver.received:
            webhook_id = delivery.headers.get("webhook-id", "")
            if webhook_id in shown:
                continue  # a redelivery (at-least-once): receivers dedupe on webhook-id
            shown.add(webhook_id)
            body = delivery.json
            item = shop.by_url(body["data"]["product"]["url"])
            detected = datetime.fromisoformat(body["data"]["detected_at"]).timestamp()
            changed = max(
                (t for t in (item.changed_at if item else []) if t <= detected), default=None
            )
            display.alert(time.monotonic() - started, delivery, item, changed, detected)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopped.wait(), 0.1)
    return display.summary()


def _flush(redis_url: str) -> None:
    client = sync_redis.Redis.from_url(redis_url)
    try:
        client.flushdb()
    finally:
        client.close()


def _database_name(value: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", value):
        raise argparse.ArgumentTypeError(
            "use lower-case letters, digits and _ (e.g. pricealert_demo)"
        )
    return value


def _positive(value: str) -> float:
    seconds = float(value)
    if not seconds > 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return seconds


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=_positive, default=60.0, help="seconds of price moves")
    parser.add_argument(
        "--alerts", type=int, default=None, help="end once this many verified alerts arrived"
    )
    parser.add_argument(
        "--database",
        type=_database_name,
        default="pricealert_demo",
        help="database to (re)create on the server",
    )
    parser.add_argument(
        "--redis-db", type=int, choices=range(16), default=7, help="Redis database number to use"
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
