"""Render the metrics contract (`pricealert.metrics`) as `monitoring/metrics.md`."""

from __future__ import annotations

from pricealert.metrics import (
    DELIVERY_DELAY_BUCKETS,
    HTTP_LATENCY_BUCKETS,
    JOB_DURATION_BUCKETS,
    all_metric_docs,
)

_HEADER = """\
# Metrics PriceAlert exports

<!-- Generated from `pricealert.metrics.all_metric_docs()` by
     `python -m pricealert_ops.monitoring generate`; do not edit by hand. -->

Every name below is part of the contract that `monitoring/` rules and Grafana
panels use; `tests/monitoring` fails when a rule or panel names a metric that
is neither here, nor in `monitoring/exporters.yml`, nor a recording rule.

Histograms also export `<name>_bucket`, `<name>_sum` and `<name>_count`.

| name | type | labels | service | meaning |
| --- | --- | --- | --- | --- |
"""


def _bucket_line(name: str, buckets: tuple[float, ...]) -> str:
    return f"- `{name}`: " + ", ".join(f"{b:g}" for b in buckets) + " s"


def render_metrics_md() -> str:
    """The Markdown table of every exported metric, with the histogram buckets."""
    rows = [
        f"| `{doc.name}` | {doc.type} | {', '.join(f'`{label}`' for label in doc.labels) or '-'} "
        f"| {doc.service} | {doc.help.replace('|', '/')} |"
        for doc in sorted(all_metric_docs(), key=lambda d: d.name)
    ]
    buckets = [
        "",
        "## Histogram buckets that thresholds rely on",
        "",
        _bucket_line("http_request_duration_seconds", HTTP_LATENCY_BUCKETS)
        + " (SLO 0.2 s, alert 0.5 s)",
        _bucket_line("pricealert_job_duration_seconds", JOB_DURATION_BUCKETS) + " (alert 60 s)",
        _bucket_line("pricealert_notification_delay_seconds", DELIVERY_DELAY_BUCKETS)
        + " (SLO 600 s, SLA 1800 s)",
        "",
    ]
    return _HEADER + "\n".join(rows) + "\n" + "\n".join(buckets)
