"""What the tooling raises when it asks Prometheus's HTTP API and gets no usable answer.

Two situations, two codes (one status each):

- `prometheus_unreachable` (503): Prometheus did not answer, or not as its API does,
  or failed a query the tooling made itself: a dependency failure; retry later or
  check the URL.
- `prometheus_query_failed` (422): Prometheus refused a query the user typed, or its
  result is not what the command needs (one series): the user changes the query.

Kept apart from `forecast_io` (numpy) and `monitoring.budget` so that both, and the
commands that only talk to Prometheus (incident, alert review), share the classes and
`prometheus_api` without the other's imports.
"""

from __future__ import annotations

from typing import Any

import httpx

from pricealert.errors import InvalidInput, ServiceUnavailable

#: What Prometheus's API answers for a query it refuses (its docs: 400 bad parameters, 422 an
#: expression that cannot be executed); its 503 (timed out, aborted) and anything else
#: are the dependency's failure, not the query's.
_REFUSED_QUERY = frozenset({400, 422})


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


def prometheus_api(
    base_url: str,
    endpoint: str,
    params: dict[str, str],
    *,
    timeout: float = 30,
    typed_by_user: bool = False,
) -> dict[str, Any]:
    """One call of Prometheus's HTTP API (`/api/v1/<endpoint>`): its successful answer, or
    `PrometheusUnreachable` when it does not answer, or not as its API does (no JSON: a
    proxy's error page), or fails. A query the user typed (`typed_by_user`) that Prometheus
    refuses (400, 422: its `errorType` and `error`) is `PrometheusQueryFailed` instead; the
    tooling's own queries refused are its dependency's failure like any other."""
    url = base_url.rstrip("/") + "/api/v1/" + endpoint
    try:
        response = httpx.get(url, params=params, timeout=timeout)
    except httpx.HTTPError as exc:
        raise PrometheusUnreachable(f"cannot reach Prometheus at {base_url}: {exc}") from exc
    status = response.status_code
    try:
        body: Any = response.json()
    except ValueError as exc:
        raise PrometheusUnreachable(
            f"{base_url} answered {status} without JSON: not Prometheus's API"
        ) from exc
    if status == 200 and isinstance(body, dict) and body.get("status") == "success":
        return body
    detail = body if isinstance(body, dict) else {}
    said = f"{detail.get('errorType', status)}: {detail.get('error', 'query failed')}"
    if typed_by_user and status in _REFUSED_QUERY:
        raise PrometheusQueryFailed(said)
    raise PrometheusUnreachable(f"Prometheus answered {status}: {said}")
