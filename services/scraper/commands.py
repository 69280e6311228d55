"""The scraper's `pricealert` commands, listed for the CLI's help without importing them
(`services.scraper.cli` pulls in extraction and the guarded client only when one runs)."""

from __future__ import annotations

from collections.abc import Mapping

from pricealert.cli import Command

_MODULE = "services.scraper.cli"

COMMANDS: Mapping[str, Command] = {
    "extract": Command(_MODULE, "Extract price, currency and stock from a saved page."),
    "check": Command(
        _MODULE, "Fetch a product page through the guarded client and extract from it."
    ),
    "suggest": Command(
        _MODULE, "Candidate CSS selectors for a page's price and stock words (never recorded)."
    ),
}
