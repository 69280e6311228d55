"""The scraper's `pricealert` commands, found through the `pricealert.commands` entry point.

    pricealert extract FILE --url URL [--selector CSS] [--stock-selector CSS]
    pricealert check URL [--selector CSS] [--stock-selector CSS]

print one JSON object: `price` (a decimal string or null), `currency`,
`availability` (the schema.org ItemAvailability name or null), `in_stock`
(true/false/null, derived from it), `title`, `method`, `blocked`, `block_reason`;
`check` adds `status` and `final_url`. `check` fetches through the guarded client
(hosts in PRICEALERT_FETCH_ALLOWED_HOSTS are exempt from the address policy) and,
when the fetch is refused or fails, prints `error: <code>: <detail>` and exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pricealert.cli import CommandError, add_command
from pricealert.extract import Extraction, extract
from pricealert.http import GuardedClient
from pricealert.urls import normalise_url
from services.scraper.fetch import ShopFetcher
from services.scraper.observe import classify_fetch
from services.scraper.settings import ScraperSettings


def register(subparsers: Any) -> None:
    """Add the scraper's commands to the `pricealert` command."""
    # --- extract: a saved page (owned by the extraction module) ---
    command = add_command(
        subparsers,
        "extract",
        _extract_command,
        "Extract price, currency and stock from a saved page.",
    )
    command.add_argument("file", metavar="FILE", help="the saved page (raw bytes as fetched)")
    command.add_argument("--url", required=True, help="the page's URL (domain and variant matter)")
    command.add_argument("--selector", help="CSS selector of the price, if the product has one")
    command.add_argument("--stock-selector", help="CSS selector of the stock words")
    check = add_command(
        subparsers,
        "check",
        _check_command,
        "Fetch a product page through the guarded client and extract from it.",
    )
    check.add_argument("url", metavar="URL")
    check.add_argument("--selector", help="CSS selector of the price")
    check.add_argument("--stock-selector", help="CSS selector of the stock words")
    check.add_argument(
        "--no-robots", action="store_true", help="ignore robots.txt (for debugging only)"
    )


def extraction_json(result: Extraction) -> dict[str, Any]:
    """The JSON form of an extraction that both `extract` and `check` print."""
    return {
        "price": str(result.price) if result.price is not None else None,
        "currency": result.currency,
        "availability": result.availability,
        "in_stock": result.in_stock,
        "title": result.title,
        "method": result.method,
        "blocked": result.blocked,
        "block_reason": result.block_reason,
    }


def _extract_command(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise CommandError("file_not_found", f"cannot read {path}: {exc.strerror}") from exc
    result = extract(body, args.url, selector=args.selector, stock_selector=args.stock_selector)
    print(json.dumps(extraction_json(result), ensure_ascii=False))
    return 0


def _check_command(args: argparse.Namespace) -> int:
    return asyncio.run(_check(args))


async def _check(args: argparse.Namespace) -> int:
    settings = ScraperSettings()
    url = normalise_url(args.url)
    policy = replace(settings.fetch_policy(), respect_robots=not args.no_robots, max_retries=0)
    async with GuardedClient.from_settings(settings) as client:
        outcome = await ShopFetcher(client, policy).fetch(url)
    if classify_fetch(outcome) is not None:
        detail = outcome.detail or (f"the shop answered {outcome.status}" if outcome.status else "")
        if outcome.error == "blocked_address":
            host = urlsplit(url).hostname or "HOST"
            detail += (
                f"; to try a shop on your own machine, allow it: "
                f"PRICEALERT_FETCH_ALLOWED_HOSTS={host} (host or host:port, as written in the URL)"
            )
        raise CommandError(outcome.error or "fetch_error", detail or "the fetch failed")
    result = extract(
        outcome.body,
        outcome.final_url,
        selector=args.selector,
        stock_selector=args.stock_selector,
        headers=outcome.headers,
    )
    report = {**extraction_json(result), "status": outcome.status, "final_url": outcome.final_url}
    print(json.dumps(report, ensure_ascii=False))
    return 0
