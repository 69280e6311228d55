"""Settings of the evaluator service (env prefix `PRICEALERT_`)."""

from __future__ import annotations

from pydantic import Field

from pricealert.settings import CronSeconds, PriceAlertSettings


class EvaluatorSettings(PriceAlertSettings):
    service_name: str = "evaluator"
    #: Evaluations one worker runs at once (arq `max_jobs`).
    worker_concurrency: int = Field(default=20, ge=1)
    #: Longest one evaluation may take before arq cancels it.
    job_timeout_seconds: float = Field(default=60.0, gt=0)
    #: Evaluate a scraper batch's changes together, in shared statements (off: each in its
    #: own unit of work, as before; the outcomes are the same, the cost is not).
    evaluate_batches_together: bool = True
    #: How often the sweeper looks for changes whose evaluation job was lost.
    #: Divides 60, or is a whole number of minutes dividing 60 (it runs as an arq cron).
    sweep_interval_seconds: CronSeconds = 30
    #: A change still unevaluated this long after detection is re-enqueued.
    sweep_after_seconds: float = Field(default=120.0, gt=0)
    #: Changes re-enqueued per sweep at most.
    sweep_batch_size: int = Field(default=1000, ge=1)
