"""Every Prometheus metric PriceAlert exports: the contract `monitoring/` relies on.

Metric names here are referenced by alert rules, recording rules and Grafana
panels; a test proves every name they use is really exported. Add a metric
here (and only here), with its labels and meaning, and it appears in the
generated list `monitoring/metrics.md`.

The API's HTTP metrics (`http_requests_total`, `http_request_duration_seconds`)
are recorded by the instrumentator in `services/api` into the collectors below,
with status codes left ungrouped and buckets that resolve 0.2 s and 0.5 s.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

from pricealert.kinds import CheckResult

# `_created` series double the series count for no use in our rules or dashboards.
disable_created_metrics()  # type: ignore[no-untyped-call]

#: Latency buckets of the API: they resolve the SLO's 0.2 s and the alert's 0.5 s.
HTTP_LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)
#: Job duration buckets: they resolve the plan's "task time >= 60 s".
JOB_DURATION_BUCKETS: Final = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
#: Page loads measured in browsers: resolve the web SLO's 2 s and the SLA's 5 s.
PAGE_LOAD_BUCKETS: Final = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 15.0, 30.0)
#: Delay from change detected to delivery: resolves the SLO's 10 minutes and 30 minutes.
DELIVERY_DELAY_BUCKETS: Final = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


@dataclass(frozen=True)
class MetricDoc:
    name: str
    type: str
    labels: tuple[str, ...]
    help: str
    service: str


registry: CollectorRegistry = REGISTRY


def exposition() -> tuple[bytes, str]:
    """This process's metrics in the text format (all processes' in multiprocess mode)."""
    source = registry
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        source = CollectorRegistry()
        multiprocess.MultiProcessCollector(source)  # type: ignore[no-untyped-call]
    return generate_latest(source), CONTENT_TYPE_LATEST


_Metric = TypeVar("_Metric", Counter, Gauge, Histogram)

#: Every collector `_declare` made, in the order declared: the documented list.
_DECLARED: list[Counter | Gauge | Histogram] = []


def _declare(
    kind: type[_Metric], name: str, documentation: str, *, labels: str = "", **options: Any
) -> _Metric:
    """A collector in `registry`, in the documented list; `labels`: its label names, spaced."""
    metric = kind(name, documentation, labels.split(), registry=registry, **options)
    _DECLARED.append(metric)
    return metric


# --- API --------------------------------------------------------------------------------
HTTP_REQUESTS = _declare(
    Counter,
    "http_requests_total",
    'API requests by route template and exact status code (not grouped: status=~"5.." works).',
    labels="method handler status",
)
HTTP_REQUEST_DURATION = _declare(
    Histogram,
    "http_request_duration_seconds",
    "API request latency by route template.",
    labels="method handler",
    buckets=HTTP_LATENCY_BUCKETS,
)

# --- every worker (arq) ---------------------------------------------------------------
QUEUE_LENGTH = _declare(
    Gauge, "pricealert_queue_length", "Jobs waiting in a queue.", labels="queue"
)
JOBS_IN_PROGRESS = _declare(
    Gauge, "pricealert_jobs_in_progress", "Jobs running now.", labels="queue function"
)
JOBS = _declare(
    Counter,
    "pricealert_jobs_total",
    "Jobs finished, by queue, function and outcome (success, failure, retry).",
    labels="queue function outcome",
)
JOB_DURATION = _declare(
    Histogram,
    "pricealert_job_duration_seconds",
    "Wall time of one job.",
    labels="queue function",
    buckets=JOB_DURATION_BUCKETS,
)

# --- scraper --------------------------------------------------------------------------
SCRAPES = _declare(
    Counter,
    "pricealert_scrapes_total",
    "Product checks by result: "
    + ", ".join(r for r in CheckResult if r not in (CheckResult.DEFERRED, CheckResult.UNWATCHED))
    + ".",
    labels="result",
)
FETCH_DURATION = _declare(
    Histogram,
    "pricealert_fetch_duration_seconds",
    "Time to fetch one product page, redirects included.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0),
)
FETCH_BYTES = _declare(Counter, "pricealert_fetch_bytes_total", "Body bytes received from shops.")
CLAIM_LAG = _declare(
    Histogram,
    "pricealert_claim_lag_seconds",
    "How late a due product was claimed (claim time minus due time).",
    buckets=(0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 3600.0),
)
PRICE_CHANGES = _declare(
    Counter,
    "pricealert_price_changes_total",
    "Changes recorded, by kind: price, stock, currency, suspicious.",
    labels="kind",
)

# --- evaluator ------------------------------------------------------------------------
RULE_EVALUATIONS = _declare(
    Counter,
    "pricealert_rule_evaluations_total",
    "Rule evaluations by rule kind and result: fired, quiet, cooldown, capped, suppressed.",
    labels="kind result",
)
ALERTS_FIRED = _declare(
    Counter,
    "pricealert_alerts_fired_total",
    "Notifications created by the evaluator (one per rule firing and channel), by channel kind.",
    labels="channel",
)

# --- notifier -------------------------------------------------------------------------
NOTIFICATIONS = _declare(
    Counter,
    "pricealert_notifications_total",
    "Delivery attempts by channel kind and outcome: sent, retry, failed.",
    labels="channel outcome",
)
NOTIFICATION_DELAY = _declare(
    Histogram,
    "pricealert_notification_delay_seconds",
    "Time from the price change being detected to the notification being delivered.",
    labels="channel",
    buckets=DELIVERY_DELAY_BUCKETS,
)

# --- business gauges (refreshed from PostgreSQL by the API) ---------------------------
ACTIVE_USERS = _declare(
    Gauge, "pricealert_active_users", "Users with at least one watched product."
)
WATCHED_PRODUCTS = _declare(
    Gauge, "pricealert_watched_products", "Distinct products watched by someone."
)
PRODUCTS_BY_STATUS = _declare(Gauge, "pricealert_products", "Products by status.", labels="status")
NOTIFICATIONS_PENDING = _declare(
    Gauge, "pricealert_notifications_pending", "Notifications not yet delivered or failed."
)

# --- web UI ---------------------------------------------------------------------------
# Its own names: the API's SLOs sum http_requests_total without a job filter, and the web's
# requests (each one several API calls) must not count twice.
WEB_PAGE_LOAD = _declare(
    Histogram,
    "pricealert_web_page_load_seconds",
    "Page load time measured in the browser (Navigation Timing: start of navigation to the "
    "load event), reported by each page's beacon, by page template.",
    labels="page",
    buckets=PAGE_LOAD_BUCKETS,
)
WEB_REQUESTS = _declare(
    Counter,
    "pricealert_web_requests_total",
    "Web UI requests by route template and exact status code.",
    labels="method route status",
)
WEB_REQUEST_DURATION = _declare(
    Histogram,
    "pricealert_web_request_duration_seconds",
    "Web UI server time per request (its API calls included), by route template.",
    labels="method route",
    buckets=HTTP_LATENCY_BUCKETS,
)
WEB_BEACONS_REFUSED = _declare(
    Counter,
    "pricealert_web_beacons_refused_total",
    "Page-load beacons not counted, by reason: malformed, unknown_page, out_of_range, bad_token, "
    "replayed.",
    labels="reason",
)


#: prometheus_client's default process and platform collectors, exported by every service.
PROCESS_METRIC_NAMES: Final = frozenset(
    {
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
        "python_info",
        "python_gc_objects_collected_total",
        "python_gc_collections_total",
    }
)


def exported_metric_names() -> set[str]:
    """Names of every series family this code base exports (histogram/counter suffixes included)."""
    names: set[str] = set(PROCESS_METRIC_NAMES)
    for doc in all_metric_docs():
        names.add(doc.name)
        if doc.type == "histogram":
            names.update({f"{doc.name}_bucket", f"{doc.name}_sum", f"{doc.name}_count"})
    return names


def all_metric_docs() -> list[MetricDoc]:
    """The documented list: every collector declared above, in order."""
    docs: list[MetricDoc] = []
    for metric in _DECLARED:
        metric_type = metric._type  # prometheus_client keeps these private
        name = metric._name
        if metric_type == "counter":
            name = f"{name}_total"
        service = _SERVICE_OF.get(name, "") or _SERVICE_OF.get(
            name.removeprefix("pricealert_").split("_")[0], "worker"
        )
        docs.append(
            MetricDoc(name, metric_type, tuple(metric._labelnames), metric._documentation, service)
        )
    return docs


_SERVICE_OF: Final = {
    "queue": "worker", "jobs": "worker", "job": "worker",
    "scrapes": "scraper", "fetch": "scraper", "claim": "scraper", "price": "scraper",
    "rule": "evaluator", "alerts": "evaluator",
    "notifications": "notifier", "notification": "notifier",
    "active": "api", "watched": "api", "products": "api", "http": "api", "web": "web",
    "pricealert_notifications_pending": "api",  # a business gauge the API refreshes
}  # fmt: skip
