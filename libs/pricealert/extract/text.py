"""The text a shopper sees in an element, and whether it is a crossed-out price.

A list or was-price is shown crossed out: inside `<del>`, `<s>` or `<strike>`,
styled `text-decoration: line-through`, or in an element whose class says so
(`was`, `old`, `list`, `rrp`, `strike`, `regular`, `compare`, `before`, `msrp`,
`uvp`, as a word of the class name). Such text is never the price, so it is
left out of the text that prices are read from.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborNode

STRUCK_TAGS = frozenset({"del", "s", "strike"})
STRUCK_CLASS = re.compile(
    r"(?:^|[\s_-])(?:was|old|original|list|rrp|strike|strikethrough|crossed|barred|regular|compare|before|msrp"
    r"|uvp)(?:$|[\s_-])",
    re.I,
)
#: Blocks of other products: carousels, related items, recommendations.
ASIDE_CLASS = re.compile(
    r"carousel|slider|swiper|slick|related|recommend|similar|upsell|up-sell|cross-?sell"
    r"|also-?(?:bought|viewed|like)|recently|you-may|reco-",
    re.I,
)
_LINE_THROUGH = re.compile(r"line-through", re.I)
_INVISIBLE = frozenset({"script", "style", "template", "noscript"})


def is_crossed(node: LexborNode) -> bool:
    """Whether this element is drawn crossed out (`<del>`/`<s>`/`<strike>`, `line-through`)."""
    if node.tag in STRUCK_TAGS:
        return True
    style = node.attributes.get("style")
    return bool(style and _LINE_THROUGH.search(style))


def is_struck(node: LexborNode) -> bool:
    """Whether this element itself is shown crossed out (tag, style or class)."""
    if node.tag in STRUCK_TAGS:
        return True
    attributes = node.attributes
    style = attributes.get("style")
    if style and _LINE_THROUGH.search(style):
        return True
    return bool(STRUCK_CLASS.search(attributes.get("class") or ""))


def in_aside(node: LexborNode, depth: int = 12) -> bool:
    """Whether an element sits in a carousel / related-products block (by its classes or id)."""
    parent = node.parent
    while parent is not None and depth > 0 and parent.tag not in ("body", "html"):
        attributes = parent.attributes
        marks = (attributes.get("class") or "") + " " + (attributes.get("id") or "")
        if ASIDE_CLASS.search(marks):
            return True
        parent = parent.parent
        depth -= 1
    return False


def visible_text(node: LexborNode, *, skip_struck_classes: bool = False) -> str:
    """Text of `node` without struck-through parts, with spaces between elements.

    `<del>`/`<s>`/`<strike>` are always left out; with `skip_struck_classes` so
    are descendants styled or classed as crossed out.
    """
    parts: list[str] = []
    _collect(node, parts, skip_struck_classes)
    return " ".join(part for part in parts if part)


def _collect(node: LexborNode, parts: list[str], skip_classes: bool) -> None:
    child = node.child
    while child is not None:
        if child.is_text_node:
            parts.append((child.text_content or "").strip())
        elif (
            child.is_element_node
            and child.tag not in STRUCK_TAGS
            and child.tag not in _INVISIBLE
            and not (skip_classes and is_struck(child))
        ):
            _collect(child, parts, skip_classes)
        child = child.next
