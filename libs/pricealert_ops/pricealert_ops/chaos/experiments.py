"""The experiments, each stated in the plan's format (ops plan 9.4) with the fault it injects.

An experiment's fault (`faults`) runs while prices move; when it returns the
fault is over (the rollback) and the runner waits for the stack to be whole
again and for the alerts to settle. Its settings and tolerances are stated here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from pricealert_ops.chaos.faults import (
    Inject,
    faulty_receivers,
    faulty_shops,
    flush_redis,
    kill_workers,
    restart_postgres,
    restart_redis,
)

#: Settings for every experiment: short leases and sweeps, so recovery fits a short run.
#: The scraper's lease is at least its check timeout + 10 s (arq keeps a killed job "in
#: progress" that long; the scraper refuses a shorter lease — kill-workers found it); the
#: notifier's delivery lease exceeds its job timeout, which exceeds its webhook timeout.
QUICK_ENV = {
    "PRICEALERT_LEASE_SECONDS": "15",
    "PRICEALERT_DELIVERY_LEASE_SECONDS": "15",
    "PRICEALERT_JOB_TIMEOUT_SECONDS": "5",
    "PRICEALERT_CHECK_TIMEOUT_SECONDS": "5",
    "PRICEALERT_HTTP_TIMEOUT_SECONDS": "3",
    "PRICEALERT_MIN_CHECK_INTERVAL_SECONDS": "1",
    "PRICEALERT_RATE_LIMIT_PER_MINUTE": "100000",
}
#: A shop timeout must outlast the scraper's read timeout (10 s, not a setting), and the
#: check that waits for it must not lose its lease meanwhile: hence a longer lease.
SLOW_SHOP_ENV = QUICK_ENV | {
    "PRICEALERT_LEASE_SECONDS": "35",
    "PRICEALERT_DELIVERY_LEASE_SECONDS": "35",
    "PRICEALERT_JOB_TIMEOUT_SECONDS": "10",
    "PRICEALERT_CHECK_TIMEOUT_SECONDS": "25",
    "PRICEALERT_HTTP_TIMEOUT_SECONDS": "5",
}
CHECK_INTERVAL_SECONDS = 2


@dataclass(frozen=True)
class Experiment:
    """One experiment in the plan's format, and how to run it."""

    name: str
    hypothesis: str
    steady_state: dict[str, str]
    method: str
    rollback: str
    metrics_to_observe: tuple[str, ...]
    blast_radius: str
    inject: Inject
    env: dict[str, str] = field(default_factory=lambda: dict(QUICK_ENV))
    slack_seconds: float = 6.0

    def lease_seconds(self) -> float:
        """The lease the experiment's stack runs with."""
        return float(self.env["PRICEALERT_LEASE_SECONDS"])

    def hold_seconds(self) -> float:
        """How long each price holds: longer than a check may be late, so every price is seen."""
        return CHECK_INTERVAL_SECONDS + self.lease_seconds() + self.slack_seconds + 2

    def plan(self) -> dict[str, object]:
        """The experiment as the ops plan writes one."""
        return {
            "name": self.name,
            "hypothesis": self.hypothesis,
            "steady_state": self.steady_state,
            "method": self.method,
            "rollback": self.rollback,
            "metrics_to_observe": list(self.metrics_to_observe),
            "blast_radius": self.blast_radius,
        }


STEADY_STATE = {
    "alerts": "every price change of the run: exactly one alert in the record, delivered "
    "with a valid signature within the settle time; none for a change that did not happen",
    "prices": "every recorded price was served by the shop (none from a captcha or failed fetch)",
    "checks": "no product overdue beyond its due time + lease + slack",
    "api_availability": ">= 99.9 % of /healthz probes answered (slo.yaml api-availability)",
    "api_success": ">= 99.95 % of authenticated reads without 5xx (slo.yaml api-success)",
}
METRICS = (
    "pricealert_scrapes_total",
    "pricealert_notifications_total",
    "pricealert_notification_delay_seconds",
    "pricealert_queue_length",
    "http_requests_total",
)
BLAST_RADIUS = (
    "this machine only: a private redis-server and PostgreSQL cluster on free ports, "
    "a loopback shop and receiver, the stack's own process group"
)


def _experiment(name: str, hypothesis: str, method: str, rollback: str, inject: Inject,
                **options: object) -> Experiment:  # fmt: skip
    return Experiment(
        name=name,
        hypothesis=hypothesis,
        steady_state=STEADY_STATE,
        method=method,
        rollback=rollback,
        metrics_to_observe=METRICS,
        blast_radius=BLAST_RADIUS,
        inject=inject,
        **options,  # type: ignore[arg-type]
    )


EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        _experiment(
            "kill-workers",
            "the system keeps its SLOs while 30 % of its worker processes are SIGKILLed repeatedly",
            "SIGKILL ceil(30 %) of the scraper/evaluator/notifier processes (never a service's "
            "last), every run/8 s (at least 3 s, and at least a lease apart), while pages and the "
            "receiver answer in 0.8 s",
            "the supervisor restarts each killed worker; leases and sweepers re-issue lost jobs",
            kill_workers,
        ),
        _experiment(
            "flush-redis",
            "the system keeps its SLOs when Redis forgets every queued and running job",
            "FLUSHALL on the experiment's Redis at 35 % and 70 % of the run",
            "nothing to undo; leases and sweepers re-issue the lost work from PostgreSQL",
            flush_redis,
        ),
        _experiment(
            "restart-redis",
            "the system keeps its SLOs when Redis restarts empty",
            "stop the experiment's redis-server at 35 % of the run, start it 3 s later",
            "workers reconnect (or exit and are restarted); sweepers re-issue lost work",
            restart_redis,
            # arq workers exit when Redis goes; all six then start at once on a small machine.
            slack_seconds=15.0,
        ),
        _experiment(
            "restart-postgres",
            "the system loses nothing when PostgreSQL crashes, and says so while it is down",
            "pg_ctl stop -m immediate on the experiment's cluster at 35 % of the run, "
            "start it 4 s later",
            "PostgreSQL recovers; pools reconnect; leases expire and checks resume",
            restart_postgres,
            slack_seconds=10.0,
        ),
        _experiment(
            "faulty-shops",
            "shop failures delay checks but never cause a wrong, lost or duplicated alert",
            "for 3 s after each price change the page times out, answers 5xx, 429 with "
            "Retry-After, a captcha wall or a truncated body (with a decoy price)",
            "the shop heals; failing products back off and are checked again",
            faulty_shops,
            env=dict(SLOW_SHOP_ENV),
            slack_seconds=8.0,
        ),
        _experiment(
            "faulty-receivers",
            "receiver failures delay deliveries but every alert arrives, once in the record",
            "60 % of webhooks meet a 500, then a timeout, then a slow 2xx; the rest a slow 2xx",
            "the receiver heals; the notifier's retries and sweeper deliver the rest",
            faulty_receivers,
        ),
    )
}

#: Minimum settling after the run: enough for a lost job's lease and a sweep, and a retry.
SETTLE_FLOOR_SECONDS = 20.0


def settle_seconds(experiment: Experiment) -> float:
    """How long after the run a change may still be on its way (stated in the verdict)."""
    return max(SETTLE_FLOOR_SECONDS, experiment.hold_seconds() + 10.0)


def objectives() -> tuple[Decimal, Decimal]:
    """api-availability and api-success objectives, percent (monitoring/slo.yaml)."""
    return Decimal("99.9"), Decimal("99.95")
