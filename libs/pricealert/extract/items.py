"""schema.org microdata (`itemscope`/`itemprop`) and RDFa (`typeof`/`property`).

Both are read into the dict shape of JSON-LD and handed to `schema_org`, so one
set of rules chooses the product and the offer whatever the syntax. A property
belongs to the nearest enclosing item. A price inside `<del>`, `<s>` or
`<strike>`, or inside an element whose class says it is an old, list or
recommended price (`was`, `old`, `list`, `rrp`, `strike`, `regular`,
`compare`), is skipped: such markup exists so that a crossed-out price can be
marked up too, and it is never the price.
"""

from __future__ import annotations

import re
from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode

from pricealert.extract.result import Found
from pricealert.extract.schema_org import PRODUCT_TYPES, Graph, Node, read_product, types_of

_STRUCK_TAGS = frozenset({"del", "s", "strike"})
_STRUCK_CLASS = re.compile(
    r"(?:^|[\s_-])(?:was|old|list|rrp|strike|regular|compare|before|msrp|uvp)(?:$|[\s_-])", re.I
)
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
    for element in tree.css(f"[{syntax.prop_attr}]"):
        owner = _owner(element, items)
        if owner is None:
            continue
        names = [_bare(name) for name in (element.attributes.get(syntax.prop_attr) or "").split()]
        if any(n in _PRICE_PROPS for n in names) and _struck(element, owner):
            continue
        value: Any = items.get(element.mem_id) if element.mem_id in items else _literal(element)
        if element.mem_id in items:
            owned.add(element.mem_id)
        for name in names:
            items[owner.mem_id].setdefault(name, []).append(value)
    for item in items.values():
        for key, values in item.items():
            if key != "@type" and key not in _MANY:
                item[key] = values[0]
    roots = [item for mem_id, item in items.items() if mem_id not in owned]
    return read_product(Graph(roots), page_url, expected_currency)


def _owner(element: LexborNode, items: dict[int, Node]) -> LexborNode | None:
    parent = element.parent
    while parent is not None:
        if parent.mem_id in items:
            return parent
        parent = parent.parent
    return None


def _struck(element: LexborNode, owner: LexborNode) -> bool:
    node: LexborNode | None = element
    while node is not None and node.mem_id != owner.mem_id:
        if node.tag in _STRUCK_TAGS or _STRUCK_CLASS.search(node.attributes.get("class") or ""):
            return True
        node = node.parent
    return False


def _literal(element: LexborNode) -> str:
    attributes = element.attributes
    for attribute in ("content", _URL_ATTR.get(element.tag or "", ""), "resource", "datetime"):
        value = attributes.get(attribute) if attribute else None
        if value:
            return value
    return element.text(deep=True, separator=" ").strip()


def _bare(name: str) -> str:
    """`schema:price` or `http://schema.org/price` → `price`."""
    return name.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
