"""The scraper's `pricealert` commands, found through the `pricealert.commands` entry point.

    pricealert extract FILE --url URL [--selector CSS] [--stock-selector CSS]

prints one JSON object: `price` (a decimal string or null), `currency`,
`in_stock` (true/false/null), `title`, `method`, `blocked`, `block_reason`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pricealert.cli import CommandError, add_command
from services.scraper.extract import Extraction, extract


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
    # --- check: fetch through the guarded client, then extract (added separately) ---


def extraction_json(result: Extraction) -> dict[str, Any]:
    """The JSON form of an extraction that both `extract` and `check` print."""
    return {
        "price": str(result.price) if result.price is not None else None,
        "currency": result.currency,
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
