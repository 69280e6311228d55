"""The scraper's `pricealert` commands, found through the `pricealert.commands` entry point.

    pricealert extract FILE --url URL [--selector CSS] [--stock-selector CSS]
    pricealert check URL [--selector CSS] [--stock-selector CSS]
    pricealert suggest URL|FILE [--url URL] [--json]

`extract` and `check` print one JSON object: `price` (a decimal string or
null), `currency`, `availability` (the schema.org ItemAvailability name or
null), `in_stock` (true/false/null, derived from it), `title`, `method`,
`blocked`, `block_reason`; `check` adds `status` and `final_url`. When a page
gives no price they say so in plain words on stderr (the JSON stays on stdout)
and point to `suggest` and `--selector`.

`suggest` prints what extraction reads and up to five ranked candidate CSS
selectors for the price and for the stock words, each with the text it shows
now and why it ranked (`pricealert.extract.suggest`); `--json` prints it as
one JSON object instead. Nothing is ever recorded: a candidate becomes the
price only when a product is created with it as its selector.

`check` and `suggest URL` fetch through the guarded client (hosts in
PRICEALERT_FETCH_ALLOWED_HOSTS are exempt from the address policy) and, when
the fetch is refused or fails, print `error: <code>: <detail>` and exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pricealert.cli import CommandError, add_command
from pricealert.extract import Extraction, Page, extract, extract_page
from pricealert.extract.suggest import Candidate, Suggestions, suggest_page
from pricealert.http import GuardedClient
from pricealert.urls import normalise_url
from services.scraper.commands import COMMANDS
from services.scraper.fetch import ShopFetcher
from services.scraper.observe import classify_fetch, extract_fetched
from services.scraper.settings import ScraperSettings


def register(subparsers: Any) -> None:
    """Add the scraper's commands to the `pricealert` command."""
    handlers = {"extract": _extract_command, "check": _check_command, "suggest": _suggest_command}
    # each one-line help as `pricealert --help` lists it, from the table it lists
    extract, check, suggest = (
        add_command(subparsers, name, handler, COMMANDS[name].help)
        for name, handler in handlers.items()
    )
    extract.add_argument("file", metavar="FILE", help="the saved page (raw bytes as fetched)")
    extract.add_argument("--url", required=True, help="the page's URL (domain and variant matter)")
    _selector_options(extract, price="CSS selector of the price, if the product has one")
    check.add_argument("url", metavar="URL")
    _selector_options(check, price="CSS selector of the price")
    _no_robots_option(check)
    suggest.add_argument("target", metavar="URL|FILE", help="a page URL to fetch, or a saved page")
    suggest.add_argument("--url", help="the saved page's URL (required with a FILE)")
    suggest.add_argument("--json", action="store_true", help="print one JSON object")
    _no_robots_option(suggest)


def _selector_options(command: argparse.ArgumentParser, *, price: str) -> None:
    command.add_argument("--selector", help=price)
    command.add_argument("--stock-selector", help="CSS selector of the stock words")


def _no_robots_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
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


def _read_saved_page(name: str) -> bytes:
    """A saved page's bytes; a gzip file (`page.html.gz`) is read decompressed."""
    path = Path(name)
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise CommandError("file_not_found", f"cannot read {path}: {exc.strerror}") from exc
    if body[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(body)
        except (OSError, EOFError) as exc:
            raise CommandError("bad_file", f"{path} is not a readable gzip file: {exc}") from exc
    return body


def _extract_command(args: argparse.Namespace) -> int:
    body = _read_saved_page(args.file)
    result = extract(body, args.url, selector=args.selector, stock_selector=args.stock_selector)
    print(json.dumps(extraction_json(result), ensure_ascii=False))
    _hint_when_no_price(result, args.selector, f"pricealert suggest {args.file} --url {args.url}")
    return 0


def _hint_when_no_price(result: Extraction, selector: str | None, suggest_command: str) -> None:
    """Say in plain words why there is no price, and what to do (stderr; stdout stays JSON)."""
    if result.price is not None:
        return
    if result.blocked:
        message = (
            f"no price: the shop served a block page ({result.block_reason}), not the product. "
            "Try again later; a selector will not help."
        )
    elif selector:
        message = (
            f"no price: the selector {selector!r} matches no element showing a price on this "
            f"page. See the candidates with: {suggest_command}"
        )
    else:
        message = (
            "no price: this page has no machine-readable price (schema.org JSON-LD, microdata, "
            "RDFa or OpenGraph), or it could not be trusted. See candidate selectors with: "
            f"{suggest_command} and pass the right one with --selector CSS."
        )
    print(message, file=sys.stderr)


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
    result = extract_fetched(outcome, args.selector, args.stock_selector)
    report = {**extraction_json(result), "status": outcome.status, "final_url": outcome.final_url}
    print(json.dumps(report, ensure_ascii=False))
    _hint_when_no_price(result, args.selector, f"pricealert suggest {args.url}")
    return 0


def _suggest_command(args: argparse.Namespace) -> int:
    target: str = args.target
    if target.startswith(("http://", "https://")):
        body, url, headers = asyncio.run(_fetch(target, respect_robots=not args.no_robots))
    else:
        if not args.url:
            raise CommandError("url_required", "a saved page needs --url URL (its address)")
        body, url, headers = _read_saved_page(target), args.url, None
    page = Page(body, url, headers)
    result = extract_page(page)
    suggestions = Suggestions() if result.blocked else suggest_page(page)
    if args.json:
        report = {
            **extraction_json(result),
            "url": url,
            "suggestions": suggestions_json(suggestions),
        }
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(_suggestions_text(result, suggestions))
    return 0


async def _fetch(url: str, *, respect_robots: bool) -> tuple[bytes, str, dict[str, str]]:
    settings = ScraperSettings()
    policy = replace(settings.fetch_policy(), respect_robots=respect_robots, max_retries=0)
    async with GuardedClient.from_settings(settings) as client:
        outcome = await ShopFetcher(client, policy).fetch(normalise_url(url))
    if classify_fetch(outcome) is not None:
        detail = outcome.detail or (f"the shop answered {outcome.status}" if outcome.status else "")
        raise CommandError(outcome.error or "fetch_error", detail or "the fetch failed")
    return outcome.body, outcome.final_url, dict(outcome.headers)


def suggestions_json(suggestions: Suggestions) -> dict[str, Any]:
    """The JSON form of the candidates (the API's preview uses the same field names)."""
    return {
        "price": [_candidate_json(c) for c in suggestions.price],
        "stock": [_candidate_json(c) for c in suggestions.stock],
    }


def _candidate_json(candidate: Candidate) -> dict[str, Any]:
    return {
        "selector": candidate.selector,
        "text": candidate.text,
        "score": candidate.score,
        "reasons": list(candidate.reasons),
        "price": str(candidate.price) if candidate.price is not None else None,
        "currency": candidate.currency,
        "availability": candidate.availability,
    }


def _suggestions_text(result: Extraction, suggestions: Suggestions) -> str:
    lines = []
    if result.blocked:
        lines.append(f"blocked: the shop served a block page ({result.block_reason})")
    elif result.price is not None:
        lines.append(
            f"price: {result.price} {result.currency or ''} (read from {result.method}); "
            "no selector is needed, but one can pin it"
        )
    else:
        lines.append("price: none in machine-readable data; choose a selector below")
    lines.append(f"availability: {result.availability or 'unknown'}   title: {result.title or ''}")
    for kind, candidates in (("price", suggestions.price), ("stock", suggestions.stock)):
        lines.append("")
        lines.append(
            f"{kind} selector candidates (best first):" if candidates else f"no {kind} candidates"
        )
        for rank, candidate in enumerate(candidates, 1):
            shown = (
                f"{candidate.price} {candidate.currency or ''}".strip()
                if kind == "price"
                else (candidate.availability or "")
            )
            lines.append(f"  {rank}. {candidate.selector}   -> {candidate.text!r} ({shown})")
            lines.append(f"     because: {'; '.join(candidate.reasons)}")
    if suggestions.price:
        lines.append("")
        lines.append(f"use one with: --selector '{suggestions.price[0].selector}'")
    return "\n".join(lines)
