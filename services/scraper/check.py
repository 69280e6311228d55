"""One product check, end to end: lease → fetch → extract → confirm → store → hand on."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pricealert import metrics, queues
from pricealert.db import after_commit, session_scope
from pricealert.extract import extract
from pricealert.logging import get_logger
from pricealert.queues import EvaluateChange, EvaluateChanges, enqueue_after_commit
from pricealert.repositories.scraping import (
    ChangedCheck,
    Leased,
    Observation,
    ScrapingRepository,
    UnchangedCheck,
)
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
#: A batch records its finished checks at least this often (seconds).
FLUSH_SECONDS = 1.0


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
        #: Checks fetching or parsing at once in this worker, over all its jobs.
        self.slots = asyncio.Semaphore(settings.worker_concurrency)
        #: A batch's checks must be done by then, leaving time to record them before arq's
        #: job timeout (and well inside the lease renewed at the batch's start).
        self.batch_seconds = settings.check_timeout_seconds * 0.8

    async def run(self, product_id: int) -> str:
        """Check one product now ("check now"); returns the scrape result recorded."""
        async with session_scope(self.sessionmaker) as session:
            # What the check needs of the product, read under its lease: no other check
            # writes the product meanwhile.
            recipe = await ScrapingRepository(session).take_lease(
                product_id, datetime.now(UTC), self.settings.lease_seconds
            )
            if recipe is None:
                return "gone"
        async with self.slots:
            outcome, verdict = await self._inspect(recipe)
        result = None
        if (same := _unchanged(recipe, verdict)) is not None:
            result = await self._store_unchanged(product_id, recipe.token, outcome, same)
        if result is None:
            result = await self._store(product_id, recipe.token, outcome, verdict)
        _finished(product_id, result)
        return result

    async def run_batch(self, token: str, product_ids: Sequence[int]) -> Counter[str]:
        """Check the products of one claim together; returns how many had each result.

        Checks run concurrently (within the worker's `slots` and each shop's politeness).
        What most checks see — the same state, a 304, or a plain change — is recorded for
        all the checks finished so far, every `FLUSH_SECONDS` and at the end, in one
        transaction of two statements, and the changes' evaluations are queued after it in
        one Redis call; failures and deferrals are stored as they come, each in its own
        transaction. A check still running when the batch's time is up is abandoned: its
        lease expires and the product is claimed again, as when a worker dies.
        """
        async with session_scope(self.sessionmaker) as session:
            recipes = await ScrapingRepository(session).renew_leases(
                product_ids, token, datetime.now(UTC), self.settings.lease_seconds
            )
        results: Counter[str] = Counter()
        together = _Together()

        async def check(product_id: int, recipe: Leased) -> None:
            async with self.slots:
                outcome, verdict = await self._inspect(recipe)
            if not together.take(self, product_id, recipe, outcome, verdict):
                result = await self._store(product_id, token, outcome, verdict)
                results[result] += 1
                _finished(product_id, result)

        tasks = [asyncio.create_task(check(pid, recipe)) for pid, recipe in recipes.items()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.batch_seconds
        running: set[asyncio.Task[None]] = set(tasks)
        try:
            # Record what is done at least every FLUSH_SECONDS: a change found early in a
            # batch is not held back by the batch's slowest shop.
            while running and (left := deadline - loop.time()) > 0:
                _done, running = await asyncio.wait(running, timeout=min(left, FLUSH_SECONDS))
                await self._record_together(token, together.take_all(), results)
        finally:
            for task in tasks:  # also when the job itself is cancelled: no orphaned checks
                task.cancel()
        if running:
            await asyncio.wait(running)
        # What finished during the last write, then what ended in error or was abandoned.
        await self._record_together(token, together.take_all(), results)
        for task in tasks:
            if task.cancelled():
                results["abandoned"] += 1
            elif (error := task.exception()) is not None:
                results["error"] += 1
                _log.error("scrape.check_failed", exc_info=error)
        if results["abandoned"]:
            _log.warning("scrape.batch_late", abandoned=results["abandoned"])
        if len(recipes) < len(product_ids):
            # another check took over (a "check now", a re-claim): it records its own result
            results["not_leased"] += len(product_ids) - len(recipes)
        _log.info("scrape.batch_finished", products=len(product_ids), results=dict(results))
        return results

    async def _record_together(
        self, token: str, together: _Together, results: Counter[str]
    ) -> None:
        if not together.unchanged and not together.changed:
            return
        async with session_scope(self.sessionmaker) as session:
            repo = ScrapingRepository(session)
            recorded = await repo.record_unchanged_many(
                token, [u for u, _, _ in together.unchanged]
            )
            rows = await repo.record_changes_many(token, [c for c, _ in together.changed])
            if rows:
                evaluations = EvaluateChanges(
                    changes=tuple(
                        EvaluateChange(product_id=p, history_id=h) for p, h in rows.items()
                    )
                )

                async def hand_on() -> None:
                    await queues.enqueue(self.redis, evaluations)

                after_commit(session, hand_on)
        # The few that the shared statements did not match take the general path.
        for unchanged, outcome, verdict in together.unchanged:
            if unchanged.product_id in recorded:
                result = unchanged.result
                metrics.SCRAPES.labels(result).inc()
                _log.debug("scrape.finished", product_id=unchanged.product_id, result=result)
            else:
                result = await self._store(unchanged.product_id, token, outcome, verdict)
                _finished(unchanged.product_id, result)
            results[result] += 1
        for changed, outcome in together.changed:
            if changed.product_id in rows:
                result = "changed"
                _count_changes(changed.previous, changed.seen)
            else:
                result = await self._store(changed.product_id, token, outcome, changed.seen)
            _finished(changed.product_id, result)
            results[result] += 1

    async def _inspect(
        self, recipe: Leased
    ) -> tuple[FetchOutcome, Observation | Failure | Deferred | None]:
        outcome = await self.fetcher.fetch(
            recipe.url, etag=recipe.etag, last_modified=recipe.last_modified
        )
        return outcome, await self._verdict(recipe, outcome)

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
        check = self._unchanged_check(product_id, outcome, seen)
        async with session_scope(self.sessionmaker) as session:
            recorded = await ScrapingRepository(session).record_unchanged(
                product_id, token, seen, now=check.checked_at,
                interval_factor=check.interval_factor,
                etag=outcome.etag, last_modified=outcome.last_modified,
            )  # fmt: skip
        return "unchanged" if recorded else None

    def _unchanged_check(
        self, product_id: int, outcome: FetchOutcome, seen: Observation
    ) -> UnchangedCheck:
        now, factor = self._next_check_factor()
        return UnchangedCheck(product_id, seen, now, factor, outcome.etag, outcome.last_modified)

    def _next_check_factor(self) -> tuple[datetime, float]:
        """Now, and the next due time as now + interval × factor (the interval is read in
        SQL, fresh)."""
        now = datetime.now(UTC)
        return now, (next_check(now, 1, self.settings.interval_jitter, _rng) - now).total_seconds()

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
            previous = Observation(product.price, product.currency, product.in_stock, None)
            await repo.remember_validators(product, outcome.etag, outcome.last_modified)
            row = await repo.record_observation(product, verdict, now, due)
            if row is None:
                return "unchanged"
            _count_changes(previous, verdict)
            enqueue_after_commit(
                session, self.redis, EvaluateChange(product_id=product_id, history_id=row.id)
            )
            return "changed"


class _Together:
    """The checks of a batch waiting to be recorded together."""

    def __init__(self) -> None:
        self.unchanged: list[tuple[UnchangedCheck, FetchOutcome, Observation | None]] = []
        self.changed: list[tuple[ChangedCheck, FetchOutcome]] = []

    def take_all(self) -> _Together:
        """What is waiting now, handed over (this one starts empty again)."""
        taken = _Together()
        taken.unchanged, self.unchanged = self.unchanged, []
        taken.changed, self.changed = self.changed, []
        return taken

    def take(
        self,
        owner: ProductCheck,
        product_id: int,
        recipe: Leased,
        outcome: FetchOutcome,
        verdict: Observation | Failure | Deferred | None,
    ) -> bool:
        """Keep the check for the shared write if it is of a kind that has one."""
        previous = Observation(recipe.price, recipe.currency, recipe.in_stock, None)
        if verdict is None:  # a 304: the stored state seen again
            seen, result = previous, "not_modified"
        elif (same := _unchanged(recipe, verdict)) is not None:
            seen, result = same, "unchanged"
        elif isinstance(verdict, Observation):
            now, factor = owner._next_check_factor()
            self.changed.append((
                ChangedCheck(product_id, verdict, previous, now, factor, outcome.etag,
                             outcome.last_modified),
                outcome,
            ))  # fmt: skip
            return True
        else:
            return False
        now, factor = owner._next_check_factor()
        self.unchanged.append((
            UnchangedCheck(product_id, seen, now, factor, outcome.etag, outcome.last_modified,
                           result),
            outcome,
            None if verdict is None else seen,
        ))  # fmt: skip
        return True


def _unchanged(
    recipe: Leased, verdict: Observation | Failure | Deferred | None
) -> Observation | None:
    """The observation when a check saw exactly the state stored for its product (the
    common case), else None."""
    if (
        isinstance(verdict, Observation)
        and not verdict.suspicious
        and (verdict.price, verdict.currency, verdict.in_stock)
        == (recipe.price, recipe.currency, recipe.in_stock)
    ):
        return verdict
    return None


def _finished(product_id: int, result: str) -> None:
    if result != "deferred":  # not a check at all, so not part of the success rate
        metrics.SCRAPES.labels(result).inc()
    _log.info("scrape.finished", product_id=product_id, result=result)


def _count_changes(previous: Observation, seen: Observation) -> None:
    price, currency, in_stock = previous.price, previous.currency, previous.in_stock
    if currency is not None and seen.currency != currency:
        metrics.PRICE_CHANGES.labels("currency").inc()
    elif seen.price != price:
        metrics.PRICE_CHANGES.labels("price").inc()
    if seen.in_stock != in_stock:
        metrics.PRICE_CHANGES.labels("stock").inc()
