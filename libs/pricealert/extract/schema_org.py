"""Reading schema.org Product data, whichever syntax carried it, into one offer.

JSON-LD, microdata and RDFa are all turned into the same shape (dicts keyed by
schema.org property names, any case on the page; see `vocab`) and read here:

- The main product: a `Product` (or `ProductGroup`, `IndividualProduct`, ...)
  with offers or variants. Products inside an `ItemList` are a listing, and
  products nested in another product (related, accessories) are not the main
  one. Variants of one `ProductGroup` (`hasVariant`, or `isVariantOf` /
  `inProductGroupWithID` pointing at the group) are one product. An event
  with offers (`Event`, `TheaterEvent`, ...: a ticket page) counts as one.
- Several top-level products: those whose `url` (or an offer's) is the page's
  are the product — one of them, or several, which are then its variants (a
  shop that publishes one `Product` per size or colour, all on the page's
  URL). When none is the page's, they are still one product if they all share
  a `productGroupID`, a URL, or an SKU stem and a name (`TEE-0042-S`,
  `TEE-0042-M`, both "Basic tee ..."). Otherwise the page is a listing and
  gives no price, because no price is better than a guessed one.
- The offer and its price: `offers` (see there).
"""

from __future__ import annotations

import html
from typing import Any

from pricealert.extract.graph import Graph, Node, first_text, types_of
from pricealert.extract.offers import choose, offers_of
from pricealert.extract.result import Found, Offer
from pricealert.extract.urls import url_key

__all__ = ["PRODUCT_TYPES", "Graph", "Node", "read_product", "types_of"]

PRODUCT_TYPES = frozenset(
    {"Product", "ProductGroup", "IndividualProduct", "SomeProducts", "ProductModel", "Vehicle",
     "Car", "Motorcycle", "Book"}
)  # fmt: skip
_LIST_TYPES = frozenset({"ItemList", "OfferCatalog", "CollectionPage", "SearchResultsPage"})
Unit = tuple[Node, list[Node]]


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
        on_page = [u for u in candidates if page in _unit_urls(graph, u, page_url)]
        if not on_page:  # the page's URL may carry tracking or variant parameters
            path = page.split("?", 1)[0]
            on_page = [
                u
                for u in candidates
                if path in {k.split("?", 1)[0] for k in _unit_urls(graph, u, page_url)}
            ]
        if on_page:
            units = on_page
        elif not (units and _one_product(graph, units, page_url)):
            return None, True
    product = units[0][0]
    nodes = [node for unit in units for node in (unit[0], *unit[1])]
    offers: list[Offer] = []
    for node in nodes:
        offers.extend(offers_of(graph, node, page_url, expected_currency))
    return choose(offers, page, expected_currency, _name(product)), True


def _collect(graph: Graph, value: Any, in_list: bool, top: list[Node], listed: list[Node]) -> None:
    if isinstance(value, list):
        for item in value:
            _collect(graph, item, in_list, top, listed)
        return
    if not isinstance(value, dict):
        return
    types = types_of(value)
    if types & PRODUCT_TYPES or any(t.endswith("Event") for t in types):  # a ticket's event too
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


def _units(graph: Graph, top: list[Node]) -> list[Unit]:
    """Group variants with their ProductGroup and drop duplicates of one product."""
    groups = [p for p in top if "ProductGroup" in types_of(p)]
    units: list[Unit] = [(g, graph.many(g.get("hasVariant"))) for g in groups]
    by_key: dict[str, Unit] = {}
    for group, variants in units:
        for key in _group_keys(group):
            by_key[key] = (group, variants)
    seen: dict[str, Unit] = {}
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
            pseudo: Unit = ({"@type": "ProductGroup", **(parent or {})}, [])
            pseudo[1].append(product)
            units.append(pseudo)
            for key in parent_keys:
                by_key[key] = pseudo
            continue
        # One identity twice is one product: a duplicate, or a variant on the same URL.
        identity = str(product.get("@id") or product.get("url") or product.get("sku") or "")
        identity = identity or repr(sorted(product.items(), key=lambda kv: kv[0]))
        if identity in seen:
            seen[identity][1].append(product)
        else:
            seen[identity] = (product, [])
            units.append(seen[identity])
    return units


def _group_keys(node: Node) -> list[str]:
    return [str(node[k]) for k in ("@id", "productGroupID") if node.get(k)]


def _unit_urls(graph: Graph, unit: Unit, page_url: str) -> set[str]:
    urls: set[str] = set()
    for node in [unit[0], *unit[1]]:
        for value in (node.get("url"), node.get("@id")):
            if isinstance(value, str) and not value.startswith("_:"):
                urls.add(url_key(value, page_url))
        for offer in graph.many(node.get("offers")):
            if isinstance(offer.get("url"), str):
                urls.add(url_key(offer["url"], page_url))
    return urls


def _name(product: Node) -> str | None:
    name = product.get("name")
    if isinstance(name, list):
        name = next((n for n in name if isinstance(n, str)), None)
    return html.unescape(name).strip() or None if isinstance(name, str) else None


def _unit_paths(graph: Graph, unit: Unit, page_url: str) -> set[str]:
    return {key.split("?", 1)[0] for key in _unit_urls(graph, unit, page_url)}


def _one_product(graph: Graph, units: list[Unit], page_url: str) -> bool:
    """Whether several top-level products are one product's variants, not a listing."""
    nodes = [unit[0] for unit in units]
    for key in ("productGroupID", "inProductGroupWithID"):
        values = [first_text(node.get(key)) for node in nodes]
        if all(values) and len(set(values)) == 1:
            return True
    urls = [frozenset(_unit_urls(graph, unit, page_url)) for unit in units]
    if all(urls) and len(set(urls)) == 1:
        return True  # every node names the same URL(s): one page, one product
    names = [(_name(node) or "").casefold() for node in nodes]
    skus = [first_text(node.get("sku")) or "" for node in nodes]
    return (
        all(names)
        and _common_prefix(names) >= max(8, len(min(names, key=len)) * 2 // 3)
        and (len(_sku_stem(skus)) >= 5)
    )


def _common_prefix(values: list[str]) -> int:
    shortest = min(values, key=len)
    common = 0
    while common < len(shortest) and all(v[common] == shortest[common] for v in values):
        common += 1
    return common


def _sku_stem(skus: list[str]) -> str:
    """`TEE-0042-S`, `TEE-0042-XL` → `TEE-0042`: the SKUs' shared part up to a separator."""
    if not all(skus):
        return ""
    stem = skus[0][: _common_prefix(skus)]
    if all(sku == stem for sku in skus):
        return stem if len(skus) == 1 else ""  # one SKU repeated is a duplicate, not variants
    cut = max(stem.rfind(sep) for sep in "-_./ ")
    return stem[:cut] if cut > 0 else ""
