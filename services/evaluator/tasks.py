"""The evaluator's jobs (thin): one evaluation per change, and the sweeper."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pricealert.db import after_commit, session_scope
from pricealert.logging import get_logger
from pricealert.queues import DeliverNotification, EvaluateChange, enqueue, enqueue_after_commit
from pricealert.repositories.evaluation import EvaluationRepository
from pricealert.worker import JobContext
from services.evaluator.evaluate import evaluate_changes
from services.evaluator.settings import EvaluatorSettings

_log = get_logger(__name__)


async def evaluate_change(ctx: JobContext, job: EvaluateChange) -> int:
    """Evaluate the change (and any earlier one left unevaluated); returns notifications queued."""
    redis = ctx["redis"]
    async with session_scope(ctx["sessionmaker"]) as session:
        report = await evaluate_changes(
            session, job.product_id, job.history_id, now=datetime.now(UTC)
        )
        for notification_id, _channel in report.created:
            enqueue_after_commit(
                session, redis, DeliverNotification(notification_id=str(notification_id))
            )

        async def count() -> None:
            report.record_metrics()

        after_commit(session, count)
    _log.info(
        "evaluation.finished",
        product_id=job.product_id,
        history_id=job.history_id,
        rows=len(report.rows),
        notifications=len(report.created),
        withheld=dict(report.withheld),
    )
    return len(report.created)


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
