"""Reading schema.org Product data, whichever syntax carried it, into one offer.

JSON-LD, microdata and RDFa are all turned into the same shape (dicts keyed by
schema.org property names) and read here:

- The main product: a `Product` (or `ProductGroup`, `IndividualProduct`, ...)
  with offers or variants. Products inside an `ItemList` are a listing, and
  products nested in another product (related, accessories) are not the main
  one. Several unrelated products on one page are a listing too: then only
  the one whose `url` is the page's counts, and otherwise there is no price,
  because no price is better than a guessed one. Variants of one
  `ProductGroup` (`hasVariant`, or `isVariantOf` pointing at the group) are one
  product.
- The offer: the one whose URL is the page's if offers name URLs (a Shopify
  `?variant=` page); otherwise, among offers in the page's currency (or the
  first offer's), the lowest price among those that can be ordered, else the
  lowest. `AggregateOffer` gives `lowPrice`; `price` wins over
  `priceSpecification`, and list / strikethrough / RRP specifications and
  per-unit prices are never the price. A price of zero or less is no price.
- Availability: the chosen offer's; if it has none, the product's offers
  together (any orderable → True, all known and none orderable → False).
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from pricealert.availability import ORDERABLE_NOW
from pricealert.extract.currency import normalize_amount, to_iso
from pricealert.extract.price_text import to_decimal
from pricealert.extract.result import Found, Offer
from pricealert.extract.stock import read_availability
from pricealert.extract.urls import url_key

Node = dict[str, Any]

PRODUCT_TYPES = frozenset(
    {"Product", "ProductGroup", "IndividualProduct", "SomeProducts", "ProductModel", "Vehicle",
     "Car", "Book"}
)  # fmt: skip
_LIST_TYPES = frozenset({"ItemList", "OfferCatalog", "CollectionPage", "SearchResultsPage"})
_NOT_THE_PRICE = frozenset(
    {"ListPrice", "StrikethroughPrice", "SRP", "MSRP", "MinimumAdvertisedPrice", "InvoicePrice"}
)


def types_of(node: Node) -> frozenset[str]:
    """The bare schema.org type names of a node (`https://schema.org/Offer` → `Offer`)."""
    raw = node.get("@type")
    values = raw if isinstance(raw, list) else [raw]
    return frozenset(
        v.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1] for v in values if isinstance(v, str)
    )


class Graph:
    """All nodes of one page's structured data, with `@id` references resolvable."""

    def __init__(self, roots: Iterable[Any]) -> None:
        self.roots = list(roots)
        self.ids: dict[str, Node] = {}
        self._index(self.roots)

    def _index(self, value: Any) -> None:
        if isinstance(value, dict):
            node_id = value.get("@id")
            if isinstance(node_id, str) and len(value) > 1:
                self.ids.setdefault(node_id, value)
            for child in value.values():
                self._index(child)
        elif isinstance(value, list):
            for child in value:
                self._index(child)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("@id"), str):
            return self.ids.get(value["@id"], value)
        return value

    def many(self, value: Any) -> list[Node]:
        items = value if isinstance(value, list) else [value] if value is not None else []
        return [node for node in map(self.resolve, items) if isinstance(node, dict)]


def read_product(
    graph: Graph, page_url: str, expected_currency: str | None
) -> tuple[Found | None, bool]:
    """The main product's price and stock; the flag says whether any product data existed."""
    top: list[Node] = []
    listed: list[Node] = []
    _collect(graph, graph.roots, False, top, listed)
    if not top and not listed:
        return None, False
    page = url_key(page_url)
    units = _units(graph, top) if top else []
    if len(units) != 1:
        candidates = units or [(node, []) for node in listed]
        units = [u for u in candidates if page in _unit_urls(graph, u, page_url)]
        if len(units) != 1:
            return None, True
    product, variants = units[0]
    offers: list[Offer] = []
    for node in [product, *variants]:
        offers.extend(_offers_of(graph, node, page_url, expected_currency))
    return _choose(offers, page, page_url, expected_currency, _name(product)), True


def _collect(graph: Graph, value: Any, in_list: bool, top: list[Node], listed: list[Node]) -> None:
    if isinstance(value, list):
        for item in value:
            _collect(graph, item, in_list, top, listed)
        return
    if not isinstance(value, dict):
        return
    types = types_of(value)
    if types & PRODUCT_TYPES:
        if "offers" in value or "hasVariant" in value:
            (listed if in_list else top).append(value)
        return  # products nested in a product are related items, not the main one
    if ("Offer" in types or "AggregateOffer" in types) and isinstance(
        value.get("itemOffered"), dict
    ):
        offered = graph.resolve(value["itemOffered"])
        if isinstance(offered, dict) and types_of(offered) & PRODUCT_TYPES:
            offer = {k: v for k, v in value.items() if k != "itemOffered"}
            (listed if in_list else top).append({**offered, "offers": offer})
            return
    inner_list = in_list or bool(types & _LIST_TYPES)
    for key, child in value.items():
        if key != "@context":
            _collect(graph, child, inner_list, top, listed)


def _units(graph: Graph, top: list[Node]) -> list[tuple[Node, list[Node]]]:
    """Group variants with their ProductGroup and drop duplicates of one product."""
    groups = [p for p in top if "ProductGroup" in types_of(p)]
    units: list[tuple[Node, list[Node]]] = [(g, graph.many(g.get("hasVariant"))) for g in groups]
    by_key: dict[str, tuple[Node, list[Node]]] = {}
    for group, variants in units:
        for key in _group_keys(group):
            by_key[key] = (group, variants)
    seen: set[str] = set()
    for product in top:
        if "ProductGroup" in types_of(product):
            continue
        parent = graph.resolve(product.get("isVariantOf"))
        parent_keys = _group_keys(parent) if isinstance(parent, dict) else []
        parent_keys += [str(product[k]) for k in ("inProductGroupWithID",) if k in product]
        home = next((by_key[k] for k in parent_keys if k in by_key), None)
        if home is not None:
            home[1].append(product)
            continue
        if parent_keys:  # variants whose group is not on the page as its own node
            pseudo: tuple[Node, list[Node]] = ({"@type": "ProductGroup", **(parent or {})}, [])
            pseudo[1].append(product)
            units.append(pseudo)
            for key in parent_keys:
                by_key[key] = pseudo
            continue
        identity = str(product.get("@id") or product.get("url") or product.get("sku") or "")
        identity = identity or repr(sorted(product.items(), key=lambda kv: kv[0]))
        if identity not in seen:
            seen.add(identity)
            units.append((product, []))
    return units


def _group_keys(node: Node) -> list[str]:
    return [str(node[k]) for k in ("@id", "productGroupID") if node.get(k)]


def _unit_urls(graph: Graph, unit: tuple[Node, list[Node]], page_url: str) -> set[str]:
    urls: set[str] = set()
    for node in [unit[0], *unit[1]]:
        for value in (node.get("url"), node.get("@id")):
            if isinstance(value, str) and not value.startswith("_:"):
                urls.add(url_key(value, page_url))
        for offer in graph.many(node.get("offers")):
            if isinstance(offer.get("url"), str):
                urls.add(url_key(offer["url"], page_url))
    return urls


def _offers_of(
    graph: Graph, product: Node, page_url: str, expected_currency: str | None
) -> list[Offer]:
    own_url = product.get("url") if isinstance(product.get("url"), str) else None
    found: list[Offer] = []
    for offer in graph.many(product.get("offers")):
        found.extend(_read_offer(graph, offer, own_url, page_url, expected_currency))
    return found


def _read_offer(
    graph: Graph, offer: Node, url: str | None, page_url: str, expected: str | None
) -> list[Offer]:
    url = offer["url"] if isinstance(offer.get("url"), str) else url
    stock = read_availability(offer.get("availability"))
    currency = _currency(offer.get("priceCurrency"), expected)
    if "AggregateOffer" in types_of(offer) and offer.get("lowPrice") in (None, ""):
        nested = graph.many(offer.get("offers"))
        if nested:
            return [o for n in nested for o in _read_offer(graph, n, url, page_url, expected)]
    raw = offer.get("lowPrice") if "AggregateOffer" in types_of(offer) else None
    raw = raw if raw not in (None, "") else offer.get("price")
    if raw in (None, ""):
        raw, spec_currency = _from_specification(graph, offer.get("priceSpecification"))
        currency = currency or _currency(spec_currency, expected)
    key = url_key(url, page_url) if url else None
    return [Offer(_amount(raw, currency or expected), currency or expected, stock, key)]


def _from_specification(graph: Graph, value: Any) -> tuple[Any, Any]:
    specs = graph.many(value)
    for spec in list(specs):
        specs.extend(graph.many(spec.get("priceComponent")))
    usable = []
    for spec in specs:
        price_type = spec.get("priceType")
        bare = price_type.rstrip("/").rsplit("/", 1)[-1] if isinstance(price_type, str) else None
        per_unit = spec.get("referenceQuantity") is not None  # "$0.84 per oz"
        if bare in _NOT_THE_PRICE or per_unit or spec.get("price") in (None, ""):
            continue
        usable.append((bare != "SalePrice", spec))
    if not usable:
        return None, None
    _, best = min(usable, key=lambda pair: pair[0])  # a SalePrice first, else the first
    return best.get("price"), best.get("priceCurrency")


def _amount(raw: Any, currency: str | None) -> Decimal | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | Decimal):
        value: Decimal | None = Decimal(raw)
    elif isinstance(raw, float):  # only if a caller parsed JSON without Decimal
        value = Decimal(str(raw))
    elif isinstance(raw, str):
        value = to_decimal(raw.strip().lstrip("$€£¥"), currency, structured=True)
    else:
        return None
    if value is None or value <= 0:
        return None
    return normalize_amount(value, currency)


def _currency(value: Any, expected: str | None) -> str | None:
    return to_iso(value, default=expected) if isinstance(value, str) and value.strip() else None


def _name(product: Node) -> str | None:
    name = product.get("name")
    if isinstance(name, list):
        name = next((n for n in name if isinstance(n, str)), None)
    return html.unescape(name).strip() or None if isinstance(name, str) else None


def _choose(
    offers: list[Offer], page: str, page_url: str, expected: str | None, title: str | None
) -> Found:
    priced = [o for o in offers if o.price is not None]
    pool = [o for o in priced if o.url == page] or priced
    currencies = list(dict.fromkeys(o.currency for o in pool))
    if len(currencies) > 1:
        wanted = expected if expected in currencies else currencies[0]
        pool = [o for o in pool if o.currency == wanted]
    orderable = [o for o in pool if o.availability in ORDERABLE_NOW]
    chosen = min(orderable or pool, key=_price_of) if pool else None
    stock = chosen.availability if chosen is not None else None
    if stock is None:  # the product's offers together: an orderable one, else the first known
        known = [o.availability for o in offers if o.availability is not None]
        stock = next((a for a in known if a in ORDERABLE_NOW), known[0] if known else None)
    if chosen is None:
        return Found(None, None, stock, title)
    return Found(chosen.price, chosen.currency, stock, title)


def _price_of(offer: Offer) -> Decimal:
    assert offer.price is not None  # only priced offers are compared
    return offer.price
