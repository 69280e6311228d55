"""One product check, end to end: lease → fetch → extract → confirm → store → hand on."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pricealert import metrics
from pricealert.db import session_scope
from pricealert.logging import get_logger
from pricealert.queues import EvaluateChange, enqueue_after_commit
from pricealert.repositories.scraping import Leased, Observation, ScrapingRepository
from services.scraper.extract import extract
from services.scraper.fetch import FetchOutcome, ShopFetcher
from services.scraper.observe import (
    Deferred,
    Failure,
    backoff,
    classify_fetch,
    implausible,
    next_check,
    observe,
)
from services.scraper.settings import ScraperSettings

_log = get_logger(__name__)
_rng = random.Random()


class ProductCheck:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        redis: ArqRedis,
        fetcher: ShopFetcher,
        settings: ScraperSettings,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.redis = redis
        self.fetcher = fetcher
        self.settings = settings

    async def run(self, product_id: int) -> str:
        """Check one product; returns the scrape result recorded."""
        async with session_scope(self.sessionmaker) as session:
            # What the check needs of the product, read under its lease: no other check
            # writes the product meanwhile.
            recipe = await ScrapingRepository(session).take_lease(
                product_id, datetime.now(UTC), self.settings.lease_seconds
            )
            if recipe is None:
                return "gone"
        outcome = await self.fetcher.fetch(
            recipe.url, etag=recipe.etag, last_modified=recipe.last_modified
        )
        verdict = await self._verdict(recipe, outcome)
        result = None
        if (
            isinstance(verdict, Observation)
            and not verdict.suspicious
            and (verdict.price, verdict.currency, verdict.in_stock)
            == (recipe.price, recipe.currency, recipe.in_stock)
        ):
            result = await self._store_unchanged(product_id, recipe.token, outcome, verdict)
        if result is None:
            result = await self._store(product_id, recipe.token, outcome, verdict)
        if result != "deferred":  # not a check at all, so not part of the success rate
            metrics.SCRAPES.labels(result).inc()
        _log.info("scrape.finished", product_id=product_id, result=result)
        return result

    async def _verdict(
        self, recipe: Leased, outcome: FetchOutcome
    ) -> Observation | Failure | Deferred | None:
        """The observation (or failure) this fetch yields; None for a 304."""
        failure = classify_fetch(outcome)
        if failure is not None:
            return failure
        if outcome.not_modified:
            return None
        seen = self._extract(recipe, outcome)
        if isinstance(seen, Failure):
            return seen
        reason = implausible(recipe.price, recipe.currency, seen, self.settings.suspicious_ratio)
        if reason is None:
            return seen
        # A wrong alert is worse than a late one: believe a jump only if a fresh fetch agrees.
        again = await self.fetcher.fetch(recipe.url)
        second = classify_fetch(again) or self._extract(recipe, again)  # a deferral: unconfirmed
        if isinstance(second, Observation) and (second.price, second.currency, second.in_stock) == (
            seen.price,
            seen.currency,
            seen.in_stock,
        ):
            _log.warning("scrape.suspicious_confirmed", reason=reason, url=recipe.url)
            metrics.PRICE_CHANGES.labels("suspicious").inc()
            return Observation(
                seen.price, seen.currency, seen.in_stock, seen.title, suspicious=True
            )
        return Failure("unconfirmed", f"unconfirmed: {reason}, not seen again on a second fetch")

    def _extract(self, recipe: Leased, outcome: FetchOutcome) -> Observation | Failure:
        extraction = extract(
            outcome.body,
            outcome.final_url,
            selector=recipe.selector,
            stock_selector=recipe.stock_selector,
            headers=outcome.headers,
        )
        return observe(extraction)

    async def _store_unchanged(
        self, product_id: int, token: str, outcome: FetchOutcome, seen: Observation
    ) -> str | None:
        """Most checks see what they saw last time: record that in one statement, without
        loading the product (None: not that case after all, take the general path)."""
        now = datetime.now(UTC)
        # next_check() is now + interval × factor; the interval is read in SQL, fresh.
        factor = (next_check(now, 1, self.settings.interval_jitter, _rng) - now).total_seconds()
        async with session_scope(self.sessionmaker) as session:
            recorded = await ScrapingRepository(session).record_unchanged(
                product_id, token, seen, now=now, interval_factor=factor,
                etag=outcome.etag, last_modified=outcome.last_modified,
            )  # fmt: skip
        return "unchanged" if recorded else None

    async def _store(
        self,
        product_id: int,
        token: str,
        outcome: FetchOutcome,
        verdict: Observation | Failure | Deferred | None,
    ) -> str:
        now = datetime.now(UTC)
        async with session_scope(self.sessionmaker) as session:
            repo = ScrapingRepository(session)
            product = await repo.leased_product(product_id, token)
            if product is None:
                return "lease_lost"  # another check took over; it records its own result
            interval = product.check_interval_seconds
            if isinstance(verdict, Deferred):
                await repo.defer(product, verdict.until)
                return "deferred"
            if isinstance(verdict, Failure):
                failures = product.consecutive_failures + 1
                await repo.record_failure(
                    product,
                    result=verdict.result,
                    error=verdict.error,
                    now=now,
                    next_check_at=backoff(
                        now,
                        interval,
                        failures,
                        self.settings.max_backoff_seconds,
                        outcome.retry_after,
                    ),
                    pause=failures >= self.settings.pause_after_failures,
                )
                return verdict.result
            due = next_check(now, interval, self.settings.interval_jitter, _rng)
            if verdict is None:
                await repo.record_not_modified(product, now, due)
                return "not_modified"
            previous = (product.price, product.currency, product.in_stock)
            await repo.remember_validators(product, outcome.etag, outcome.last_modified)
            row = await repo.record_observation(product, verdict, now, due)
            if row is None:
                return "unchanged"
            _count_changes(previous, verdict)
            enqueue_after_commit(
                session, self.redis, EvaluateChange(product_id=product_id, history_id=row.id)
            )
            return "changed"


def _count_changes(previous: tuple[object, str | None, bool | None], seen: Observation) -> None:
    price, currency, in_stock = previous
    if currency is not None and seen.currency != currency:
        metrics.PRICE_CHANGES.labels("currency").inc()
    elif seen.price != price:
        metrics.PRICE_CHANGES.labels("price").inc()
    if seen.in_stock != in_stock:
        metrics.PRICE_CHANGES.labels("stock").inc()
