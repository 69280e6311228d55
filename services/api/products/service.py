"""Products' logic beyond the repository: the preview, a page read before watching it.

What extraction reads, and selector suggestions.

`POST /v1/products/preview {"url": ..., "selector"?: ..., "stock_selector"?: ...}`
fetches the page once through the guarded client (the address policy,
`PRICEALERT_FETCH_ALLOWED_HOSTS`, a total timeout and a body cap; no robots.txt:
a person asked for this one page, as a browser would) and answers what
`pricealert.extract` reads from it, plus up to five ranked CSS selectors for
the price and for the stock words (`pricealert.extract.suggest`), each with
the text it matches today and why it ranked.

Suggest, never guess: the preview stores nothing. A suggested selector becomes
a price only when the user creates the product with it (`POST /v1/products`
with `selector`). Errors are problem documents: an invalid or refused URL
(private address, numeric IP spelling) is 422 with the guard's reason, a shop
that fails is 502 (`code` names how: `http_status`, `connection_error`,
`dns_error`, `too_large`, ...), a shop that is too slow 504. Previews have
their own rate limit per key (`PRICEALERT_PREVIEW_LIMIT_PER_MINUTE`), on top of
the key's: each costs a fetch from a shop.
"""

from __future__ import annotations

from dataclasses import asdict

from fastapi.concurrency import run_in_threadpool

from pricealert.extract import Extraction, Page, extract_page
from pricealert.extract.suggest import Suggestions, suggest_page
from pricealert.http import GuardedClient
from pricealert.urls import normalise_url
from services.api.products.schemas import CandidateOut, PreviewOut, PreviewRequest, SuggestionsOut
from services.api.settings import ApiSettings


async def preview(body: PreviewRequest, settings: ApiSettings) -> PreviewOut:
    """Fetch the page once and say what extraction and the suggester read from it."""
    url = normalise_url(body.url)
    async with GuardedClient.from_settings(
        settings,
        total_timeout=settings.preview_timeout_seconds,
        max_bytes=settings.preview_max_bytes,
    ) as client:
        fetched = await client.get(url, raise_for_status=True)
    # Parsing and ranking take milliseconds of CPU: off the event loop.
    result, suggestions = await run_in_threadpool(
        _read, fetched.body, fetched.url, dict(fetched.headers), body.selector, body.stock_selector
    )
    return PreviewOut(
        url=url,
        final_url=fetched.url,
        status=fetched.status,
        # What extraction read, field for field (and `in_stock`, derived from availability).
        **asdict(result),
        in_stock=result.in_stock,
        suggestions=SuggestionsOut(
            price=[CandidateOut.model_validate(c) for c in suggestions.price],
            stock=[CandidateOut.model_validate(c) for c in suggestions.stock],
        ),
    )


def _read(
    body: bytes,
    url: str,
    headers: dict[str, str],
    selector: str | None,
    stock_selector: str | None,
) -> tuple[Extraction, Suggestions]:
    page = Page(body, url, headers)
    result = extract_page(page, selector=selector, stock_selector=stock_selector)
    return result, (Suggestions() if result.blocked else suggest_page(page))
