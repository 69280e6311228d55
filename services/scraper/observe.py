"""Pure decisions of a check: what a fetch and an extraction mean, and when to come back.

No I/O here: the task feeds in what it fetched and extracted, and writes what
these functions decide.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

from pricealert.extract import Extraction, extract
from pricealert.kinds import CheckResult
from pricealert.observed import ObservedState
from pricealert.repositories.scraping import Observation
from services.scraper.fetch import FetchOutcome

#: Fetch error codes → the scrape result they count as.
_RESULT_OF_ERROR: Final = {
    "timeout": CheckResult.TIMEOUT,
    "too_large": CheckResult.TOO_LARGE,
    "blocked_address": CheckResult.REFUSED,
    "bad_url": CheckResult.REFUSED,
    "robots_disallowed": CheckResult.REFUSED,
    "http_status": CheckResult.HTTP_ERROR,
}


@dataclass(frozen=True)
class Deferred:
    """Not checked: the shop's domain is paused (it asked us to come back at `until`)."""

    until: datetime


@dataclass(frozen=True)
class Failure:
    """A check that established nothing: `result` for metrics, `error` for the user."""

    result: CheckResult
    error: str


def classify_fetch(outcome: FetchOutcome) -> Failure | Deferred | None:
    """A failed fetch as a named failure, a deferral, or None when there is a page (or a 304)."""
    if outcome.ok:
        return None
    code = outcome.error or "error"
    if code == "domain_paused" and outcome.retry_after is not None:
        return Deferred(outcome.retry_after)
    result = _RESULT_OF_ERROR.get(code, CheckResult.ERROR)
    detail = f"{code}: {outcome.detail}" if outcome.detail else code
    if code == "http_status" and outcome.status is not None:
        detail = f"http_status: the shop answered {outcome.status}"
    return Failure(result, detail)


def extract_fetched(
    outcome: FetchOutcome, selector: str | None, stock_selector: str | None
) -> Extraction:
    """What a fetched page says: `extract` over its body, final URL and headers."""
    return extract(
        outcome.body,
        outcome.final_url,
        selector=selector,
        stock_selector=stock_selector,
        headers=outcome.headers,
    )


def observe(extraction: Extraction) -> Observation | Failure:
    """What an extraction establishes: a state, or why it establishes none.

    A block page is never a price. A page with neither a price nor a stock state is
    `no_price`; a page with only a stock state (sold out, no price shown) is a state.
    """
    if extraction.blocked:
        return Failure(CheckResult.BLOCKED, f"blocked: {extraction.block_reason or 'bot wall'}")
    if extraction.price is None and extraction.in_stock is None:
        return Failure(CheckResult.NO_PRICE, "no_price: no price or stock found on the page")
    if extraction.price is not None and extraction.currency is None:
        return Failure(CheckResult.NO_PRICE, "no_price: a price without a currency")
    state = ObservedState(extraction.price, extraction.currency, extraction.availability)
    return Observation(state, extraction.title)


def implausible(previous: ObservedState, seen: ObservedState, ratio: Decimal) -> str | None:
    """Why a change needs confirming before it is believed, or None (also for no change)."""
    if previous.price is None or seen.price is None or seen == previous:
        return None
    if previous.currency is not None and seen.currency != previous.currency:
        return f"currency changed from {previous.currency} to {seen.currency}"
    if previous.price <= 0 or seen.price <= 0:
        return "a zero or negative price"
    factor = seen.price / previous.price
    if factor >= ratio or factor <= 1 / ratio:
        return f"price moved from {previous.price} to {seen.price}"
    return None


def next_check(now: datetime, interval_seconds: int, jitter: float, rng: random.Random) -> datetime:
    """The next due time: a little early at random, so checks spread out but are never late."""
    return now + timedelta(seconds=interval_seconds * (1 - jitter * rng.random()))


def backoff(
    now: datetime,
    interval_seconds: int,
    failures: int,
    max_backoff_seconds: float,
    retry_at: datetime | None,
) -> datetime:
    """When a failing product is tried again: interval × 2^(failures−1), capped; never
    before a shop's Retry-After."""
    delay = min(interval_seconds * 2 ** max(failures - 1, 0), max_backoff_seconds)
    at = now + timedelta(seconds=delay)
    return max(at, retry_at) if retry_at is not None else at
