"""Evaluator worker wiring: `arq services.evaluator.worker.WorkerSettings`."""

from __future__ import annotations

from typing import Any

from pricealert.queues import EVALUATE_QUEUE, EvaluateChange, EvaluateChanges
from pricealert.worker import build_worker_settings, job, periodic
from services.evaluator.settings import EvaluatorSettings
from services.evaluator.tasks import evaluate_change, evaluate_changes, sweep_unevaluated


def worker_settings(settings: EvaluatorSettings) -> dict[str, Any]:
    """The arq settings of an evaluator worker run with `settings` (tests, the demo, benchmarks)."""
    return build_worker_settings(
        service="evaluator",
        queue=EVALUATE_QUEUE,
        settings=settings,
        functions=[
            job(
                EVALUATE_QUEUE,
                EvaluateChange,
                evaluate_change,
                timeout=settings.job_timeout_seconds,
            ),
            job(
                EVALUATE_QUEUE,
                EvaluateChanges,
                evaluate_changes,
                timeout=settings.job_timeout_seconds,
            ),
        ],
        cron_jobs=[
            periodic(
                sweep_unevaluated,
                seconds=settings.sweep_interval_seconds,
                timeout=settings.job_timeout_seconds,
            )
        ],
        max_jobs=settings.worker_concurrency,
        job_timeout=settings.job_timeout_seconds,
    )


WorkerSettings = worker_settings(EvaluatorSettings())
