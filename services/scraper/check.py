"""Product checks, end to end: lease → fetch → extract → confirm → store → hand on.

Checks run in batches: the scheduler's claims (`run_batch`) and "check now" (`run`, a
batch of one) take the same path, and every successful check is written by one
repository call (`ScrapingRepository.record_successes`).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pricealert import metrics, queues
from pricealert.db import after_commit, session_scope
from pricealert.kinds import CheckResult
from pricealert.logging import get_logger
from pricealert.observed import ObservedState
from pricealert.queues import EvaluateChange, EvaluateChanges, JobPayload
from pricealert.repositories.scraping import (
    Leased,
    Observation,
    ScrapingRepository,
    SuccessfulCheck,
)
from services.scraper.fetch import FetchOutcome, ShopFetcher
from services.scraper.observe import (
    Deferred,
    Failure,
    backoff,
    classify_fetch,
    extract_fetched,
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
        """Check one product now ("check now"), as a batch of one; returns its result."""
        async with session_scope(self.sessionmaker) as session:
            # The check's own lease: no other check writes the product meanwhile.
            recipe = await ScrapingRepository(session).take_lease(
                product_id, datetime.now(UTC), self.settings.lease_seconds
            )
        if recipe is None:
            return "gone"
        results = await self._check(recipe.token, {product_id: recipe})
        return next(iter(results))

    async def run_batch(self, token: str, product_ids: Sequence[int]) -> Counter[str]:
        """Check the products of one claim together; returns how many had each result."""
        async with session_scope(self.sessionmaker) as session:
            recipes = await ScrapingRepository(session).renew_leases(
                product_ids, token, datetime.now(UTC), self.settings.lease_seconds
            )
        results = await self._check(token, recipes)
        if len(recipes) < len(product_ids):
            # another check took over (a "check now", a re-claim): it records its own result
            results["not_leased"] += len(product_ids) - len(recipes)
        _log.info("scrape.batch_finished", products=len(product_ids), results=dict(results))
        return results

    async def _check(self, token: str, recipes: Mapping[int, Leased]) -> Counter[str]:
        """Check leased products concurrently; returns how many had each result.

        Checks run within the worker's `slots` and each shop's politeness. Successful
        checks — the same state, a 304, or a change — are recorded for all the checks
        finished so far, every `FLUSH_SECONDS` and at the end, in one transaction of one
        statement, and the changes' evaluations are queued after it in one Redis call;
        failures and deferrals are stored as they come, each in its own transaction. A
        check still running when the batch's time is up is abandoned: its lease expires
        and the product is claimed again, as when a worker dies.
        """
        results: Counter[str] = Counter()
        finished: list[SuccessfulCheck] = []

        async def check(product_id: int, recipe: Leased) -> None:
            async with self.slots:
                outcome, verdict = await self._inspect(recipe)
            success = self._success(product_id, recipe, outcome, verdict)
            if success is not None:
                finished.append(success)
                return
            assert isinstance(verdict, Failure | Deferred)
            result = await self._store_failure(product_id, token, outcome, verdict)
            results[result] += 1
            _finished(product_id, result)

        def take_finished() -> list[SuccessfulCheck]:
            taken = finished[:]
            finished.clear()
            return taken

        tasks = [asyncio.create_task(check(pid, recipe)) for pid, recipe in recipes.items()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.batch_seconds
        running: set[asyncio.Task[None]] = set(tasks)
        try:
            # Record what is done at least every FLUSH_SECONDS: a change found early in a
            # batch is not held back by the batch's slowest shop.
            while running and (left := deadline - loop.time()) > 0:
                _done, running = await asyncio.wait(running, timeout=min(left, FLUSH_SECONDS))
                await self._record(token, take_finished(), results)
        finally:
            for task in tasks:  # also when the job itself is cancelled: no orphaned checks
                task.cancel()
        if running:
            await asyncio.wait(running)
        # What finished during the last write, then what ended in error or was abandoned.
        await self._record(token, take_finished(), results)
        for task in tasks:
            if task.cancelled():
                results["abandoned"] += 1
            elif (error := task.exception()) is not None:
                results["error"] += 1
                _log.error("scrape.check_failed", exc_info=error)
        if results["abandoned"]:
            _log.warning("scrape.batch_late", abandoned=results["abandoned"])
        return results

    async def _record(
        self, token: str, checks: list[SuccessfulCheck], results: Counter[str]
    ) -> None:
        """Record successful checks together; queue the changes' evaluations after commit."""
        if not checks:
            return
        async with session_scope(self.sessionmaker) as session:
            repo = ScrapingRepository(session)
            opened = await repo.record_successes(token, checks)
            if missed := [c for c in checks if c.product_id not in opened]:
                # Still leased, but the stored state moved on since the check started (it
                # was written without the lease): record it against what is stored now.
                stored = await repo.leased_states([c.product_id for c in missed], token)
                again = [
                    replace(c, previous=stored[c.product_id])
                    for c in missed
                    if c.product_id in stored
                ]
                opened.update(await repo.record_successes(token, again))
                checks = [*checks, *again]  # the later of two with one product is the one kept
            changes = [
                EvaluateChange(product_id=product_id, history_id=history_id)
                for product_id, history_id in opened.items()
                if history_id is not None
            ]
            if changes:
                job = _evaluations(changes)

                async def hand_on() -> None:
                    await queues.enqueue(self.redis, job)

                after_commit(session, hand_on)
        for check in {c.product_id: c for c in checks}.values():
            if check.product_id not in opened:
                result = CheckResult.LEASE_LOST  # another check took over and records its own
            else:
                result = check.result(opened[check.product_id] is not None)
            if result is CheckResult.CHANGED:
                _count_changes(check.previous, check.seen.state)
            results[result] += 1
            if result in (CheckResult.UNCHANGED, CheckResult.NOT_MODIFIED):  # common: quietly
                metrics.SCRAPES.labels(result).inc()
                _log.debug("scrape.finished", product_id=check.product_id, result=result)
            else:
                _finished(check.product_id, result)

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
        reason = implausible(recipe.state, seen.state, self.settings.suspicious_ratio)
        if reason is None:
            return seen
        # A wrong alert is worse than a late one: believe a jump only if a fresh fetch agrees.
        again = await self.fetcher.fetch(recipe.url)
        second = classify_fetch(again) or self._extract(recipe, again)  # a deferral: unconfirmed
        if isinstance(second, Observation) and second.state == seen.state:
            _log.warning("scrape.suspicious_confirmed", reason=reason, url=recipe.url)
            metrics.PRICE_CHANGES.labels("suspicious").inc()
            return replace(seen, suspicious=True)
        why = f"unconfirmed: {reason}, not seen again on a second fetch"
        return Failure(CheckResult.UNCONFIRMED, why)

    def _extract(self, recipe: Leased, outcome: FetchOutcome) -> Observation | Failure:
        return observe(extract_fetched(outcome, recipe.selector, recipe.stock_selector))

    def _success(
        self,
        product_id: int,
        recipe: Leased,
        outcome: FetchOutcome,
        verdict: Observation | Failure | Deferred | None,
    ) -> SuccessfulCheck | None:
        """The check as a success to record, or None for a failure or a deferral."""
        if isinstance(verdict, Failure | Deferred):
            return None
        seen = Observation(recipe.state, None) if verdict is None else verdict  # None: a 304
        now = datetime.now(UTC)
        # The next due time is now + interval × factor (the interval is read in SQL, fresh).
        factor = (next_check(now, 1, self.settings.interval_jitter, _rng) - now).total_seconds()
        return SuccessfulCheck(
            product_id, seen, recipe.state, now, factor, outcome.etag, outcome.last_modified,
            not_modified=verdict is None,
        )  # fmt: skip

    async def _store_failure(
        self, product_id: int, token: str, outcome: FetchOutcome, verdict: Failure | Deferred
    ) -> CheckResult:
        now = datetime.now(UTC)
        async with session_scope(self.sessionmaker) as session:
            repo = ScrapingRepository(session)
            product = await repo.leased_product(product_id, token)
            if product is None:
                return CheckResult.LEASE_LOST  # another check took over; it records its own result
            if isinstance(verdict, Deferred):
                await repo.defer(product, verdict.until)
                return CheckResult.DEFERRED
            failures = product.consecutive_failures + 1
            await repo.record_failure(
                product,
                result=verdict.result,
                error=verdict.error,
                now=now,
                next_check_at=backoff(
                    now,
                    product.check_interval_seconds,
                    failures,
                    self.settings.max_backoff_seconds,
                    outcome.retry_after,
                ),
                pause=failures >= self.settings.pause_after_failures,
            )
            return verdict.result


def _evaluations(changes: list[EvaluateChange]) -> JobPayload:
    """The job that evaluates these changes: the change itself when there is one."""
    return changes[0] if len(changes) == 1 else EvaluateChanges(changes=tuple(changes))


def _finished(product_id: int, result: CheckResult) -> None:
    if result != CheckResult.DEFERRED:  # not a check at all, so not part of the success rate
        metrics.SCRAPES.labels(result).inc()
    _log.info("scrape.finished", product_id=product_id, result=result)


def _count_changes(previous: ObservedState, seen: ObservedState) -> None:
    if previous.currency is not None and seen.currency != previous.currency:
        metrics.PRICE_CHANGES.labels("currency").inc()
    elif seen.price != previous.price:
        metrics.PRICE_CHANGES.labels("price").inc()
    if seen.availability != previous.availability:
        metrics.PRICE_CHANGES.labels("stock").inc()
