"""`pricealert demo shop|receiver`: the demo shop and a signature-checking webhook receiver.

What the README walk-through runs beside `make run`: a shop on your machine whose
prices you move yourself (`curl -X POST <product URL> -d price=84.90`), and a
receiver that prints each webhook and whether its Standard Webhooks signature
holds. Both run until Ctrl-C. Their ports default to 8180 and 8190
(`PRICEALERT_DEMO_SHOP_PORT`, `PRICEALERT_DEMO_RECEIVER_PORT`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from pricealert.cli import CommandError
from pricealert_ops.cli import add_actions
from pricealert_ops.devtools.demo_shop import DemoShop, Item, money, padded
from pricealert_ops.devtools.receiver import Received, Receiver
from pricealert_ops.devtools.shop import Page, RecordedRequest

SHOP_PORT_SETTING = "PRICEALERT_DEMO_SHOP_PORT"
RECEIVER_PORT_SETTING = "PRICEALERT_DEMO_RECEIVER_PORT"

T = TypeVar("T")


def register(subparsers: Any) -> None:
    actions = add_actions(subparsers, "demo")
    shop = actions.add_parser(
        "shop",
        help="serve the demo shop; prints its product URLs; POST to a page moves its price",
    )
    shop.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"port on 127.0.0.1 and 127.0.0.2 ({SHOP_PORT_SETTING}, default 8180)",
    )
    shop.set_defaults(handler=_shop)
    receiver = actions.add_parser(
        "receiver", help="receive webhooks on 127.0.0.1, print each and check its signature"
    )
    receiver.add_argument(
        "--port", type=int, default=None, help=f"({RECEIVER_PORT_SETTING}, default 8190)"
    )
    receiver.add_argument(
        "--secret",
        help="the channel's whsec_ secret (from POST /v1/channels): signatures are checked",
    )
    receiver.set_defaults(handler=_receiver)


def _port(value: int | None, setting: str, default: int) -> int:
    if value is None:
        raw = os.environ.get(setting) or str(default)
        try:
            value = int(raw)
        except ValueError:
            raise CommandError("invalid_argument", f"{setting}={raw!r} is not a port") from None
    if not 0 <= value <= 65535:
        raise CommandError("invalid_argument", f"port {value} is not between 0 and 65535")
    return value


def _say(text: str) -> None:
    print(text, flush=True)


async def _listening(
    what: str, port: int, started: Awaitable[T], close: Callable[[], Awaitable[None]]
) -> T:
    """What `started` gives; a server that cannot listen on `port` is closed and refused."""
    try:
        return await started
    except OSError as exc:
        await close()
        raise CommandError(
            "port_in_use",
            f"the {what} cannot listen on port {port} ({exc.strerror}); choose another with --port",
        ) from exc


async def _until_stopped(close: Callable[[], Awaitable[None]]) -> int:
    """Serve until Ctrl-C (or SIGTERM), then `close`; the exit code."""
    try:
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopped.set)
        await stopped.wait()
    finally:
        await close()
    return 0


# --- the shop -----------------------------------------------------------------------------


def _shop(args: argparse.Namespace) -> int:
    port = _port(args.port, SHOP_PORT_SETTING, 8180)
    return asyncio.run(_serve_shop(port))


async def _serve_shop(port: int) -> int:
    shop = DemoShop()
    us, jp = await _listening("demo shop", port, shop.start(port, editable=True), shop.close)
    shop.on_move = lambda item: _say(f"  moved  {item.name}: now {_state(item)}")
    _say(f"Demo shop on http://{us} (dollars) and http://{jp} (yen); Ctrl-C stops it.")
    for item in shop.items.values():
        _say(f"  {padded(item.name, 32)} {_state(item):<26} {shop.url(item)}")
    lamp = shop.url(shop.items["lamp"])
    _say(f"Move a price:  curl -X POST {lamp} -d price=84.90   (or -d in_stock=false)")
    return await _until_stopped(shop.close)


def _state(item: Item) -> str:
    stock = "in stock" if item.in_stock else "out of stock"
    return f"{money(item.price, item.currency)}, {stock}"


# --- the receiver -------------------------------------------------------------------------


def _receiver(args: argparse.Namespace) -> int:
    port = _port(args.port, RECEIVER_PORT_SETTING, 8190)
    if args.secret is not None and not args.secret.startswith("whsec_"):
        raise CommandError("invalid_argument", "--secret is the channel's whsec_… secret")
    return asyncio.run(_serve_receiver(port, args.secret))


async def _serve_receiver(port: int, secret: str | None) -> int:
    hook = Receiver(secret=secret)
    url = await _listening("receiver", port, hook.start(port=port), hook.close)

    def answer(_request: RecordedRequest) -> Page:
        delivery = hook.received[-1]
        _say(describe(delivery))
        if delivery.signature_valid is False:  # a real receiver refuses it: 4xx, not retried
            return Page(status=401, body=b"bad signature", content_type="text/plain")
        return Page(status=200, body=b"ok", content_type="text/plain")

    hook.respond(answer)
    checking = f"checking signatures with {secret[:12]}…" if secret else "no --secret: not checked"
    _say(f"Webhook receiver on {url} ({checking}); Ctrl-C stops it.")
    return await _until_stopped(hook.close)


def describe(delivery: Received) -> str:
    """One line for a delivery: when, what, and whether its signature holds."""
    at = datetime.fromtimestamp(delivery.at, UTC).strftime("%H:%M:%SZ")
    verdict = {
        True: "signature verified",
        False: "SIGNATURE INVALID (answered 401)",
        None: "signature not checked",
    }[delivery.signature_valid]
    try:
        body = delivery.json
        data = body["data"]
    except (ValueError, KeyError, TypeError):
        return f"  {at}  a request that is not a webhook of ours — {verdict}"
    if body.get("type") != "price.alert":
        return f"  {at}  {body.get('type')}: {data.get('message', '')} — {verdict}"
    product = data.get("product") or {}
    price = data.get("price") or {}
    old, new = price.get("old") or {}, price.get("new") or {}
    moved = (
        f"{money(old.get('amount'), old.get('currency'))} → "
        f"{money(new.get('amount'), new.get('currency'))}"
    )
    name = product.get("title") or product.get("url")
    alert = data.get("alert") or {}
    return f"  {at}  webhook {alert.get('kind')}: {name} {moved} — {verdict}"
