"""A robust CSS selector for an element, checked to select exactly that element first.

Tiers, each tried over the element and the ancestors that show the same text
(outermost first, where templates put the name): an id, `itemprop` or test id
(`data-testid`, ...); then stable classes (classes that say price or stock
first; generated names such as `css-1x2y3z` or `Price_amount__a1B2c` are never
used); then a class or tag anchored at a stable ancestor (`#buybox .amount`);
and, as the last resort, an `:nth-of-type` path from the nearest stable id.
A selector counts only if `select_first` (what `price_by_selector` uses)
returns one of those elements.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from selectolax.lexbor import LexborHTMLParser, LexborNode

from pricealert.extract.selector import select_first

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_HASHY = re.compile(r"[A-Za-z]+\d+[A-Za-z0-9]*\d|\d{3,}|^(?:css|sc|jsx|emotion|styled)-|__[\w]{5}$")
_ID_ATTRS = ("data-testid", "data-test", "data-qa", "data-test-id", "data-automation-id")
_MEANINGFUL = re.compile(
    r"price|preis|prix|precio|preco|prezzo|kakaku|cena|amount|stock|avail|inventory", re.I
)


def robust_selector(tree: LexborHTMLParser, chain: list[LexborNode]) -> str | None:
    """A selector whose first match is one of `chain` (innermost first), as robust as found.

    Tiers, each tried over the whole chain: an id, `itemprop` or test id; then
    stable classes; then a class or tag anchored at a stable ancestor; then, as
    the last resort, an `:nth-of-type` path from the nearest stable id.
    """
    for tier in (_named_selectors, _class_selectors, _anchored_selectors):
        for node in reversed(chain):  # the outer element often carries the name
            for selector in tier(node):
                if _selects(tree, selector, chain):
                    return selector
    path = _path_selector(chain[-1])
    return path if path and _selects(tree, path, chain) else None


def _selects(tree: LexborHTMLParser, selector: str, chain: list[LexborNode]) -> bool:
    try:
        first = select_first(tree, selector)
    except Exception:  # an unusual name Lexbor will not parse: try the next form
        return False
    return first is not None and any(first.mem_id == n.mem_id for n in chain)


def _stable(name: str) -> bool:
    return bool(_NAME.match(name)) and not _HASHY.search(name) and len(name) <= 40


def _classes(node: LexborNode) -> list[str]:
    names = [c for c in (node.attributes.get("class") or "").split() if _stable(c)]
    # Classes that say price or stock first: they are the ones least likely to change.
    return sorted(names, key=lambda c: 0 if _MEANINGFUL.search(c) else 1)


def _named_selectors(node: LexborNode) -> Iterable[str]:
    attributes = node.attributes
    node_id = attributes.get("id")
    if node_id and _stable(node_id):
        yield f"#{node_id}"
    itemprop = attributes.get("itemprop")
    if itemprop and _NAME.match(itemprop):
        yield f'[itemprop="{itemprop}"]'
    for attribute in _ID_ATTRS:
        value = attributes.get(attribute)
        if value and _NAME.match(value):
            yield f'[{attribute}="{value}"]'


def _class_selectors(node: LexborNode) -> Iterable[str]:
    tag = node.tag or "*"
    classes = _classes(node)
    for name in classes:
        yield f".{name}"
        yield f"{tag}.{name}"
    for i, first in enumerate(classes):
        for second in classes[i + 1 :]:
            yield f".{first}.{second}"


def _anchored_selectors(node: LexborNode) -> Iterable[str]:
    tag = node.tag or "*"
    own = [f".{c}" for c in _classes(node)] + [tag]
    parent = node.parent
    depth = 0
    while parent is not None and parent.tag not in ("body", "html") and depth < 8:
        anchors = []
        parent_id = parent.attributes.get("id")
        if parent_id and _stable(parent_id):
            anchors.append(f"#{parent_id}")
        anchors.extend(f".{c}" for c in _classes(parent)[:2])
        for anchor in anchors:
            for mine in own:
                yield f"{anchor} {mine}"
        parent = parent.parent
        depth += 1


def _path_selector(node: LexborNode) -> str | None:
    """`#anchor > div:nth-of-type(2) > span`: the last resort, from the nearest stable id."""
    parts: list[str] = []
    current: LexborNode | None = node
    while current is not None and current.tag not in ("html", None):
        current_id = current.attributes.get("id")
        if current_id and _stable(current_id):
            parts.append(f"#{current_id}")
            break
        if current.tag == "body":
            parts.append("body")
            break
        index, sibling = 1, current.prev
        while sibling is not None:
            if sibling.is_element_node and sibling.tag == current.tag:
                index += 1
            sibling = sibling.prev
        parts.append(f"{current.tag}:nth-of-type({index})")
        current = current.parent
    return " > ".join(reversed(parts)) if parts else None
