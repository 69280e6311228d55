"""One page's structured data as a graph of schema.org nodes, `@id` references resolvable."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pricealert.extract.vocab import canonical, type_name

Node = dict[str, Any]


def types_of(node: Node) -> frozenset[str]:
    """The schema.org type names of a node (`http://schema.org/offer` → `Offer`)."""
    raw = node.get("@type")
    values = raw if isinstance(raw, list) else [raw]
    return frozenset(type_name(v) for v in values if isinstance(v, str))


class Graph:
    """All nodes of one page's structured data, names in schema.org spelling (`vocab`)."""

    def __init__(self, roots: Iterable[Any]) -> None:
        self.roots: list[Any] = canonical(list(roots))
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
        """The node an `{"@id": ...}` reference names, else the value itself."""
        if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("@id"), str):
            return self.ids.get(value["@id"], value)
        return value

    def many(self, value: Any) -> list[Node]:
        """A property's value as a list of nodes (references resolved, literals dropped)."""
        items = value if isinstance(value, list) else [value] if value is not None else []
        return [node for node in map(self.resolve, items) if isinstance(node, dict)]


def first_text(value: Any) -> str | None:
    """The first string of a property that may be a string, a list or a value object."""
    if isinstance(value, list):
        return next((t for t in map(first_text, value) if t), None)
    if isinstance(value, dict):
        return first_text(value.get("@value") or value.get("@id") or value.get("name"))
    return value.strip() or None if isinstance(value, str) else None
