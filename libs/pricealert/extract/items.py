"""schema.org microdata (`itemscope`/`itemprop`) and RDFa (`typeof`/`property`).

Both are read into the dict shape of JSON-LD and handed to `schema_org`, so one
set of rules chooses the product and the offer whatever the syntax. A property
belongs to the nearest enclosing item. A price inside `<del>`, `<s>` or
`<strike>` or styled `line-through` is skipped: such markup exists so that a
crossed-out price can be marked up too, and it is never the price. A price
inside an element whose class names an old or regular price (see `text`) is
read only when the item has no other price: `price-regular` is the price on
a page without a sale. A price without a `content`
attribute is the element's visible text (`26,00 €`, `$1,299.00`, `2,180円`),
read as shown text (`ShownText`) with the crossed-out parts left out, so
`71,91 € <s>79,90 €</s>` is 71.91; of two prices left, the first.
Property and type names are matched case-insensitively (`vocab`). Products
inside a carousel or related-products block (by its classes) are a listing
beside the page's own product, as an `ItemList` would be in JSON-LD.
"""

from __future__ import annotations

from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode

from pricealert.extract.result import Found, ShownText
from pricealert.extract.schema_org import PRODUCT_TYPES, Graph, Node, read_product, types_of
from pricealert.extract.text import in_aside, is_crossed, is_struck, visible_text
from pricealert.extract.vocab import property_name

_PRICE_PROPS = frozenset({"price", "lowPrice", "highPrice"})
_MANY = frozenset({"offers", "hasVariant"})
_URL_ATTR = {"a": "href", "link": "href", "area": "href", "img": "src", "source": "src"}


class _Syntax:
    def __init__(self, scope_attr: str, type_attr: str, prop_attr: str) -> None:
        self.scope_attr = scope_attr
        self.type_attr = type_attr
        self.prop_attr = prop_attr


MICRODATA = _Syntax("itemscope", "itemtype", "itemprop")
RDFA = _Syntax("typeof", "typeof", "property")


def extract_items(
    tree: LexborHTMLParser, syntax: _Syntax, page_url: str, expected_currency: str | None
) -> tuple[Found | None, bool]:
    """The main product from microdata or RDFa, and whether the page had any product there."""
    scopes = tree.css(f"[{syntax.scope_attr}]")
    items: dict[int, Node] = {}
    for scope in scopes:
        raw_type = scope.attributes.get(syntax.type_attr) or ""
        items[scope.mem_id] = {"@type": raw_type.split()}
    if not any(types_of(item) & PRODUCT_TYPES for item in items.values()):
        return None, False
    owned: set[int] = set()
    classed: list[tuple[int, list[str], Any]] = []
    for element in tree.css(f"[{syntax.prop_attr}]"):
        owner = _owner(element, items)
        if owner is None:
            continue
        names = [property_name(n) for n in (element.attributes.get(syntax.prop_attr) or "").split()]
        is_price = any(n in _PRICE_PROPS for n in names)
        struck = _struck(element, owner) if is_price else None
        if struck == "crossed":
            continue
        value: Any = (
            items.get(element.mem_id) if element.mem_id in items else _literal(element, is_price)
        )
        if element.mem_id in items:
            owned.add(element.mem_id)
        if struck == "classed":
            classed.append((owner.mem_id, names, value))
            continue
        for name in names:
            items[owner.mem_id].setdefault(name, []).append(value)
    for owner_id, names, value in classed:  # "price-regular" is the price when it is the only one
        if not any(name in items[owner_id] for name in _PRICE_PROPS):
            for name in names:
                items[owner_id].setdefault(name, []).append(value)
    for item in items.values():
        for key, values in item.items():
            if key != "@type" and key not in _MANY:
                item[key] = values[0]
    roots = [scope for scope in scopes if scope.mem_id not in owned]
    products = [scope for scope in roots if types_of(items[scope.mem_id]) & PRODUCT_TYPES]
    # Products in a carousel or related block are a listing beside the page's own product.
    aside = {s.mem_id for s in products if in_aside(s)} if len(products) > 1 else set()
    graph_roots: list[Node] = [items[s.mem_id] for s in roots if s.mem_id not in aside]
    if aside:
        listed = [items[s.mem_id] for s in products if s.mem_id in aside]
        graph_roots.append({"@type": "ItemList", "itemListElement": listed})
    return read_product(Graph(graph_roots), page_url, expected_currency)


def _owner(element: LexborNode, items: dict[int, Node]) -> LexborNode | None:
    parent = element.parent
    while parent is not None:
        if parent.mem_id in items:
            return parent
        parent = parent.parent
    return None


def _struck(element: LexborNode, owner: LexborNode) -> str | None:
    """`crossed` when shown crossed out, `classed` when only a class says old/regular price."""
    node: LexborNode | None = element
    classed = False
    while node is not None and node.mem_id != owner.mem_id:
        if is_crossed(node):
            return "crossed"
        classed = classed or is_struck(node)
        node = node.parent
    return "classed" if classed else None


def _literal(element: LexborNode, is_price: bool) -> str:
    attributes = element.attributes
    for attribute in ("content", _URL_ATTR.get(element.tag or "", ""), "resource", "datetime"):
        value = attributes.get(attribute) if attribute else None
        if value:
            return value
    if element.tag == "meta":
        return ""
    if is_price:
        return ShownText(visible_text(element, skip_struck_classes=True))
    return element.text(deep=True, separator=" ").strip()
