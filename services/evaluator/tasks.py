"""The evaluator's jobs (thin): evaluations of one change or of a scraper batch's changes,
and the sweeper."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from pricealert.db import after_commit, session_scope
from pricealert.logging import get_logger
from pricealert.queues import (
    EvaluateChange,
    EvaluateChanges,
    deliveries,
    enqueue,
    enqueue_many,
)
from pricealert.repositories.evaluation import EvaluationRepository
from pricealert.worker import JobContext
from services.evaluator.batch import evaluate_batch
from services.evaluator.evaluate import EvaluationReport
from services.evaluator.evaluate import evaluate_changes as evaluate_changes_of_product
from services.evaluator.settings import EvaluatorSettings

_log = get_logger(__name__)


async def evaluate_change(ctx: JobContext, job: EvaluateChange) -> int:
    """Evaluate the change (and any earlier one left unevaluated); returns notifications queued."""
    created = await _evaluate(ctx, job)
    await enqueue_many(ctx["redis"], deliveries(created))
    return len(created)


async def evaluate_changes(ctx: JobContext, job: EvaluateChanges) -> int:
    """Evaluate a scraper batch's changes in one unit of work (`batch.evaluate_batch`: shared
    statements, each change's outcome as if evaluated alone), then queue all their
    notifications at once; returns how many. Should the batch fail, each change is
    evaluated in its own unit of work instead, so one bad change only costs itself: it is
    logged and left to the sweeper (its row stays unevaluated); the others go on."""
    settings: EvaluatorSettings = ctx["settings"]
    created: list[str] | None = None
    if settings.evaluate_batches_together and len(job.changes) > 1:
        try:
            created = await _evaluate_batch(ctx, job)
        except Exception:
            _log.exception("evaluation.batch_failed", changes=len(job.changes))
    if created is None:
        created = []
        for change in job.changes:
            try:
                created += await _evaluate(ctx, change)
            except Exception:
                _log.exception(
                    "evaluation.failed", product_id=change.product_id, history_id=change.history_id
                )
    await enqueue_many(ctx["redis"], deliveries(created))
    return len(created)


async def _evaluate_batch(ctx: JobContext, job: EvaluateChanges) -> list[str]:
    """The batch's evaluation, committed; the notifications it created (to deliver)."""
    changes = [(change.product_id, change.history_id) for change in job.changes]
    async with session_scope(ctx["sessionmaker"]) as session:
        report = EvaluationReport.merged(
            await evaluate_batch(session, changes, now=datetime.now(UTC))
        )
        _count_after_commit(session, report)
    _log.info(
        "evaluation.finished",
        changes=len(changes),
        rows=len(report.rows),
        notifications=len(report.created),
        withheld=dict(report.withheld),
    )
    return [str(notification_id) for notification_id, _channel in report.created]


async def _evaluate(ctx: JobContext, job: EvaluateChange) -> list[str]:
    """One change's evaluation, committed; the notifications it created (to deliver)."""
    async with session_scope(ctx["sessionmaker"]) as session:
        report = await evaluate_changes_of_product(
            session, job.product_id, job.history_id, now=datetime.now(UTC)
        )
        _count_after_commit(session, report)
    _log.info(
        "evaluation.finished",
        product_id=job.product_id,
        history_id=job.history_id,
        rows=len(report.rows),
        notifications=len(report.created),
        withheld=dict(report.withheld),
    )
    return [str(notification_id) for notification_id, _channel in report.created]


async def sweep_unevaluated(ctx: JobContext) -> int:
    """Re-enqueue changes left unevaluated too long (their job was lost); returns how many."""
    settings: EvaluatorSettings = ctx["settings"]
    before = datetime.now(UTC) - timedelta(seconds=settings.sweep_after_seconds)
    async with session_scope(ctx["sessionmaker"]) as session:
        stale = await EvaluationRepository(session).unevaluated_before(
            before, settings.sweep_batch_size
        )
    queued = 0
    for product_id, history_id in stale:
        queued += await enqueue(
            ctx["redis"], EvaluateChange(product_id=product_id, history_id=history_id)
        )
    if stale:
        _log.warning("evaluation.swept", unevaluated=len(stale), enqueued=queued)
    return queued


def _count_after_commit(session: AsyncSession, report: EvaluationReport) -> None:
    """Count the report's outcomes in the metrics once its unit of work has committed."""

    async def count() -> None:
        report.record_metrics()

    after_commit(session, count)
