"""A product's offers, read into `Offer`s, and the one offer that is the price.

What an offer's price is, in order:

- an `AggregateOffer`'s `lowPrice`, else the offer's `price`;
- a value object (`{"@value": "12.50"}`, `{"value": 12.5, "currency": "EUR"}`,
  a `PriceSpecification` node where a number belongs) gives its value; a
  shop's own object (`{"sales": {"value": 3499}, "list": null}`) its first
  inner value that is not a list / regular / original price;
- a number written for people (`"26,00 €"`, microdata text) is read as price text;
- without a usable price: the offers nested in it (an `Offer` inside an `Offer`,
  an `AggregateOffer`'s `offers`), else its `priceSpecification`: a `SalePrice`
  first, else the first that is not a list / strikethrough / RRP price, a
  per-unit price (`referenceQuantity`) or a delivery or payment charge.

A price of zero or less is no price. An `AggregateOffer` without availability
of its own takes its nested offers' (an orderable one, else the first known).

The offer chosen: the one whose URL is the page's if offers name different
URLs (a Shopify `?variant=` page; then the finding is `by_url`); otherwise,
among offers in the page's currency (or the first offer's), the lowest price
among those that can be ordered, else the lowest. Availability is the chosen
offer's; if it has none, the offers' together (any orderable, else the first
known).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pricealert.availability import ORDERABLE_NOW, Availability
from pricealert.extract.currency import normalize_amount, to_iso
from pricealert.extract.graph import Graph, Node, first_text, types_of
from pricealert.extract.price_text import parse_price, to_decimal
from pricealert.extract.result import Found, Offer, ShownText
from pricealert.extract.stock import read_availability
from pricealert.extract.urls import url_key
from pricealert.extract.vocab import bare

_NOT_THE_PRICE = frozenset(
    {"listprice", "strikethroughprice", "srp", "msrp", "minimumadvertisedprice", "invoiceprice",
     "wasprice", "regularprice", "originalprice", "rrp", "strikethrough", "list"}
)  # fmt: skip
_VALUE_KEYS = ("@value", "value", "price", "amount", "decimalPrice")
_WAS_KEYS = frozenset({"list", "regular", "original", "was", "old", "strikethrough", "msrp", "rrp"})
_CHARGES = frozenset({"DeliveryChargeSpecification", "PaymentChargeSpecification"})
_MAX_DEPTH = 4


def offers_of(graph: Graph, product: Node, page_url: str, expected: str | None) -> list[Offer]:
    """Every offer a product node makes (its own URL is the default offer URL)."""
    own_url = product.get("url") if isinstance(product.get("url"), str) else None
    found: list[Offer] = []
    for offer in graph.many(product.get("offers")):
        found.extend(_read_offer(graph, offer, own_url, page_url, expected, 0))
    return found


def _read_offer(
    graph: Graph, offer: Node, url: str | None, page_url: str, expected: str | None, depth: int
) -> list[Offer]:
    url = offer["url"] if isinstance(offer.get("url"), str) else url
    stock = read_availability(first_text(offer.get("availability")))
    declared = _currency(offer.get("priceCurrency"), expected)
    aggregate = "AggregateOffer" in types_of(offer)
    nested = graph.many(offer.get("offers")) if depth < _MAX_DEPTH else []
    inner = [o for n in nested for o in _read_offer(graph, n, url, page_url, expected, depth + 1)]
    raw = offer.get("lowPrice") if aggregate else None
    if _empty(raw):
        raw = offer.get("price")
    amount, currency = read_amount(graph, raw, declared, expected)
    if amount is None and any(o.price is not None for o in inner):
        if stock is None:
            return inner
        return [Offer(o.price, o.currency, o.availability or stock, o.url) for o in inner]
    if amount is None:
        amount, currency = _from_specification(
            graph, offer.get("priceSpecification"), declared, expected
        )
    if stock is None and inner:
        stock = together([o.availability for o in inner])
    key = url_key(url, page_url) if url else None
    return [Offer(amount, currency, stock, key)]


def read_amount(
    graph: Graph, raw: Any, declared: str | None, expected: str | None, depth: int = 0
) -> tuple[Decimal | None, str | None]:
    """A price value of any shape, and its currency (the declared one first)."""
    if depth > _MAX_DEPTH:  # `@id` references can make a cycle
        return None, None
    raw = graph.resolve(raw)
    if isinstance(raw, list):
        raw = next((item for item in raw if not _empty(item)), None)
    if isinstance(raw, dict):  # a value object or a PriceSpecification where a number belongs
        own = _currency(raw.get("priceCurrency") or raw.get("currency"), expected)
        inner = next((raw[k] for k in _VALUE_KEYS if k in raw), None)
        if inner is None:  # a shop's own shape: {"sales": {"value": 3499}, "list": null}
            inner = next(
                (v for k, v in raw.items() if isinstance(v, dict) and k.lower() not in _WAS_KEYS),
                None,
            )
        if inner is None:
            return None, None
        return read_amount(graph, inner, declared or own, expected, depth + 1)
    currency = declared or expected
    value: Decimal | None
    if isinstance(raw, bool) or raw is None:
        return None, None
    if isinstance(raw, int | Decimal):
        value = Decimal(raw)
    elif isinstance(raw, float):  # only if a caller parsed JSON without Decimal
        value = Decimal(str(raw))
    elif isinstance(raw, ShownText):
        value, shown = parse_price(raw, default_currency=currency)
        currency = declared or shown or expected
    elif isinstance(raw, str):
        value = to_decimal(raw.strip().lstrip("$€£¥"), currency, structured=True)
        if value is None:  # a formatted "¥1,280" or "26,00 €" in a structured field
            value, shown = parse_price(raw, default_currency=currency)
            currency = declared or shown or expected
    else:
        return None, None
    if value is None or value <= 0:
        return None, None
    return normalize_amount(value, currency), currency


def _from_specification(
    graph: Graph, value: Any, declared: str | None, expected: str | None
) -> tuple[Decimal | None, str | None]:
    specs = graph.many(value)
    for spec in list(specs):
        specs.extend(graph.many(spec.get("priceComponent")))
    usable: list[tuple[bool, Node]] = []
    for spec in specs:
        price_type = first_text(spec.get("priceType"))
        kind = "".join(ch for ch in bare(price_type).lower() if ch.isalnum()) if price_type else ""
        per_unit = spec.get("referenceQuantity") is not None  # "$0.84 per oz"
        if kind in _NOT_THE_PRICE or per_unit or types_of(spec) & _CHARGES:
            continue
        if _empty(spec.get("price")):
            continue
        usable.append((kind != "saleprice", spec))
    for _, spec in sorted(usable, key=lambda pair: pair[0]):  # a SalePrice first, else in order
        own = _currency(spec.get("priceCurrency"), expected)
        amount, currency = read_amount(graph, spec.get("price"), declared or own, expected)
        if amount is not None:
            return amount, currency
    return None, None


def together(known: list[Availability | None]) -> Availability | None:
    """Several offers' availability as one: an orderable one, else the first known."""
    values = [a for a in known if a is not None]
    return next((a for a in values if a in ORDERABLE_NOW), values[0] if values else None)


def choose(offers: list[Offer], page: str, expected: str | None, title: str | None) -> Found:
    """The offer that is the product's price, as a strategy's finding."""
    priced = [o for o in offers if o.price is not None]
    # The page's own offer wins only where offers' URLs tell offers apart (a
    # `?variant=` page); one offer naming the page beside others naming nothing
    # says nothing about which is the price.
    by_url = [o for o in priced if o.url == page]
    distinct = by_url and any(o.url is not None and o.url != page for o in priced)
    pool = by_url if distinct else priced
    currencies = list(dict.fromkeys(o.currency for o in pool))
    if len(currencies) > 1:
        wanted = expected if expected in currencies else currencies[0]
        pool = [o for o in pool if o.currency == wanted]
    orderable = [o for o in pool if o.availability in ORDERABLE_NOW]
    chosen = min(orderable or pool, key=_price_of) if pool else None
    stock = chosen.availability if chosen is not None else None
    if stock is None:
        stock = together([o.availability for o in offers])
    if chosen is None:
        return Found(None, None, stock, title)
    return Found(chosen.price, chosen.currency, stock, title, by_url=bool(distinct))


def _price_of(offer: Offer) -> Decimal:
    assert offer.price is not None  # only priced offers are compared
    return offer.price


def _currency(value: Any, expected: str | None) -> str | None:
    text = first_text(value)
    return to_iso(text, default=expected) if text else None


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []
