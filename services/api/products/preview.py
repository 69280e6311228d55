"""Preview a product page before watching it: what extraction reads, and selector suggestions.

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

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from pricealert.extract import Extraction, Page, extract_page
from pricealert.extract.suggest import Candidate, Suggestions, suggest_page
from pricealert.http import GuardedClient
from pricealert.urls import normalise_url
from services.api.deps import CurrentPrincipal, SettingsDep
from services.api.problems import MEDIA_TYPE
from services.api.products.schemas import CandidateOut, PreviewOut, PreviewRequest, SuggestionsOut
from services.api.ratelimit import enforce

router = APIRouter()


def _problem(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Problem"}
    return {"description": description, "content": {MEDIA_TYPE: {"schema": schema}}}


@router.post(
    "/preview",
    response_model=PreviewOut,
    responses={
        422: _problem("Invalid input, or a URL the fetch policy refuses (`code` says why)."),
        502: _problem("The shop failed or answered an error (`code` says how)."),
        504: _problem("The shop did not answer in time."),
    },
)
async def preview_product(
    body: PreviewRequest, principal: CurrentPrincipal, settings: SettingsDep, request: Request
) -> PreviewOut:
    """Read a page as PriceAlert would, with selector suggestions; stores nothing."""
    await enforce(
        request, f"preview:{principal.key_id}", settings.preview_limit_per_minute, 60,
        what="previews",
    )  # fmt: skip
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
        price=result.price,
        currency=result.currency,
        availability=result.availability,
        in_stock=result.in_stock,
        title=result.title,
        method=result.method,
        blocked=result.blocked,
        block_reason=result.block_reason,
        suggestions=SuggestionsOut(
            price=[_candidate(c) for c in suggestions.price],
            stock=[_candidate(c) for c in suggestions.stock],
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


def _candidate(candidate: Candidate) -> CandidateOut:
    return CandidateOut(
        selector=candidate.selector,
        text=candidate.text,
        score=candidate.score,
        reasons=list(candidate.reasons),
        price=candidate.price,
        currency=candidate.currency,
        availability=candidate.availability,
    )
