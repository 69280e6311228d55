"""Reading a whole (small) list from the API, page by page."""

from __future__ import annotations

from typing import Any

from services.web.visit import Visit

#: A person's alerts and channels fit in a few pages; past this the page shows the first.
MAX_PAGES = 10


async def all_items(visit: Visit, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of an API list (`{items, next_cursor}`), up to `MAX_PAGES` pages."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(MAX_PAGES):
        query = {"limit": 100, **params}
        if cursor:
            query["cursor"] = cursor
        page = await visit.api("GET", path, params=query)
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    return items
