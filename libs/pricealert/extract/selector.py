"""A product's configured CSS selectors: the price selector and the stock selector.

A configured price selector wins over everything else, and when it matches
nothing there is no price rather than a guess from elsewhere: the selector
exists because the user said where the price is, and a page that changed shape
should show up as "no price" so that the selector gets fixed. The first element
that matches is read (as `querySelector` would); a `content`, `data-price` or
`value` attribute beats its text, and text inside `<del>`, `<s>` or `<strike>`
(the crossed-out old price) is left out.
"""

from __future__ import annotations

from decimal import Decimal

from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from pricealert.availability import Availability
from pricealert.errors import InvalidInput
from pricealert.extract.price_text import parse_price
from pricealert.extract.stock import text_availability
from pricealert.extract.text import visible_text


class InvalidSelector(InvalidInput, code="invalid_selector", title="Invalid CSS selector"):
    """A configured CSS selector that does not parse."""


def select_first(tree: LexborHTMLParser, selector: str) -> LexborNode | None:
    """The first element `selector` matches; InvalidSelector if it is not CSS."""
    try:
        return tree.css_first(selector)
    except (SelectolaxError, ValueError) as exc:
        raise InvalidSelector(f"cannot parse CSS selector {selector!r}", selector=selector) from exc


def price_by_selector(
    tree: LexborHTMLParser, selector: str, *, default_currency: str | None, japanese: bool
) -> tuple[Decimal | None, str | None]:
    """Price and currency at the configured selector, or (None, None)."""
    node = select_first(tree, selector)
    if node is None:
        return None, None
    shown = parse_price(visible_text(node), default_currency=default_currency, japanese=japanese)
    attributes = node.attributes
    for attribute in ("content", "data-price", "value"):
        raw = attributes.get(attribute)
        if raw:
            amount, currency = parse_price(
                raw, default_currency=default_currency, japanese=japanese
            )
            if amount is not None:
                # A bare "64.50" attribute takes the currency the text shows ("$64.50").
                return amount, currency or shown[1]
    return shown


def stock_by_selector(tree: LexborHTMLParser, selector: str) -> Availability | None:
    """Stock words at the configured stock selector; None if it matches nothing readable."""
    node = select_first(tree, selector)
    if node is None:
        return None
    for attribute in ("content", "href"):
        raw = node.attributes.get(attribute)
        if raw:
            found = text_availability(raw)
            if found is not None:
                return found
    return text_availability(visible_text(node))
