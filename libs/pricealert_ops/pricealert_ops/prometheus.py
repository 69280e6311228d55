"""What the tooling raises when it asks Prometheus's HTTP API and gets no usable answer.

Two situations, two codes (one status each):

- `prometheus_unreachable` (503): Prometheus did not answer, or not as its API does,
  or failed a query the tooling made itself: a dependency failure; retry later or
  check the URL.
- `prometheus_query_failed` (422): Prometheus refused a query the user typed, or its
  result is not what the command needs (one series): the user changes the query.

Kept apart from `forecast_io` (numpy) and `monitoring.budget` so that both, and the
commands that only talk to Prometheus, share the classes without the other's imports.
"""

from __future__ import annotations

from pricealert.errors import InvalidInput, ServiceUnavailable


class PrometheusUnreachable(ServiceUnavailable, code="prometheus_unreachable"):
    """Prometheus did not answer, or answered with something other than its API, or
    failed a query the tooling generated itself (`slo budget`'s recording-rule queries):
    a dependency failure (503), not the user's input. Retry later, or check the URL."""


class PrometheusQueryFailed(InvalidInput, code="prometheus_query_failed"):
    """Prometheus refused the query the user typed (its `errorType` and `error` are in the
    detail), or the result is not what the command needs (e.g. more than one series:
    wrap the query in `sum(...)`). The user's input is wrong (422): change the query.

    Only user-typed queries raise it: `slo budget`, whose queries are generated, raises
    `PrometheusUnreachable` (503) for the same answers, so the one code
    `prometheus_query_failed` always means 422."""
