"""Settings of the scraper service."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from pydantic import Field, model_validator

from pricealert.settings import PriceAlertSettings
from pricealert.worker import ARQ_IN_PROGRESS_MARGIN_SECONDS
from services.scraper.fetch import FetchPolicy


class ScraperSettings(PriceAlertSettings):
    service_name: str = "scraper"
    #: How long a claim holds a product; a lost job frees it again after this. At least
    #: the check timeout + arq's 10 s: a job whose worker was killed stays "in progress"
    #: in arq that long, and re-claims collapse into it (same job id) until then.
    lease_seconds: float = 300.0
    #: Longest one check may take before arq cancels it.
    check_timeout_seconds: float = 120.0
    #: How often each instance looks for due products, and how many it claims at most.
    claim_interval_seconds: float = 1.0
    claim_batch_size: int = 500
    #: A claim is queued as jobs of this many checks each (`CheckBatch`): one job, one lease
    #: renewal and one write for its unchanged checks instead of one of each per product.
    check_batch_size: int = Field(default=25, ge=1, le=1000)
    #: No new claims while this many checks wait in the queue (backpressure).
    max_queued_checks: int = 2000
    #: Next check after interval × uniform(1 − jitter, 1): spread out, never late.
    interval_jitter: float = 0.1
    #: Failing products back off: interval × 2^failures, at most this long.
    max_backoff_seconds: float = 24 * 3600.0
    #: After this many consecutive failures a product is paused (shown as such in the API).
    pause_after_failures: int = 12
    #: A price moving by more than this factor (either way), or a currency change, is
    #: confirmed by an immediate second fetch before it is recorded.
    suspicious_ratio: Decimal = Decimal(3)
    worker_concurrency: int = 50
    user_agent: str | None = None
    per_domain_concurrency: int = 2
    per_domain_delay_seconds: float = 1.0
    respect_robots: bool = True

    @model_validator(mode="after")
    def _lease_outlasts_a_killed_job(self) -> ScraperSettings:
        if self.lease_seconds < self.check_timeout_seconds + ARQ_IN_PROGRESS_MARGIN_SECONDS:
            raise ValueError(
                "PRICEALERT_LEASE_SECONDS must be at least PRICEALERT_CHECK_TIMEOUT_SECONDS "
                f"+ {ARQ_IN_PROGRESS_MARGIN_SECONDS:.0f}, or a product whose worker was killed "
                "waits longer than its lease"
            )
        return self

    def fetch_policy(self) -> FetchPolicy:
        """How politely this scraper fetches."""
        policy = replace(
            FetchPolicy(),
            respect_robots=self.respect_robots,
            per_domain_concurrency=self.per_domain_concurrency,
            per_domain_delay=self.per_domain_delay_seconds,
        )
        return replace(policy, user_agent=self.user_agent) if self.user_agent else policy
