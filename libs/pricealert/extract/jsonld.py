"""schema.org JSON-LD: the `<script type="application/ld+json">` blocks of a page.

Shops' JSON-LD is often not strict JSON. Each block is parsed strictly first
and, only if that fails, again after removing what real pages wrap or leave in
it: HTML comments, `<![CDATA[ ... ]]>` (also behind `//`), `/* */` comments,
trailing commas, and raw control characters inside strings. Numbers are read as
`Decimal`, never as float. A block that still fails is skipped, not fatal.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from selectolax.lexbor import LexborHTMLParser

from pricealert.extract.result import Found
from pricealert.extract.schema_org import Graph, read_product

_SCRIPTS = 'script[type="application/ld+json" i]'
_WRAPPERS = re.compile(r"<!--|-->|(?://\s*)?<!\[CDATA\[|(?://\s*)?\]\]>")
_BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


def parse_jsonld(text: str) -> Any:
    """Parse one JSON-LD block leniently; None if it is not JSON even then."""
    try:
        return json.loads(text, parse_float=Decimal, strict=False)
    except ValueError:
        pass
    cleaned = _TRAILING_COMMA.sub(r"\1", _BLOCK_COMMENT.sub("", _WRAPPERS.sub("", text)))
    try:
        return json.loads(cleaned, parse_float=Decimal, strict=False)
    except ValueError:
        return None


def extract_jsonld(
    tree: LexborHTMLParser, page_url: str, expected_currency: str | None
) -> tuple[Found | None, bool]:
    """The main product from JSON-LD, and whether the page had any product JSON-LD."""
    blocks = [parse_jsonld(node.text()) for node in tree.css(_SCRIPTS)]
    roots = [block for block in blocks if block is not None]
    if not roots:
        return None, False
    return read_product(Graph(roots), page_url, expected_currency)
