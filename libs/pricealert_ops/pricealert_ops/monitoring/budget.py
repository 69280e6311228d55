"""Error budgets of the SLOs (plan 9.2), and what is left of them per Prometheus.

Without Prometheus, a ratio SLO's budget is plan 9.2's formula. With it, the
error ratio over the period is the time-average of the generated 5-minute
recording rule (`pricealert:slo_errors:ratio_rate5m`), so `budget` reads the
same series the burn-rate alerts read. Threshold SLOs have a bound, not a
budget: their period average and worst 5-minute value are shown instead.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation

import httpx

from pricealert_ops.monitoring.slo import (
    ExternalSLO,
    RatioSLO,
    SLOSpec,
    ThresholdSLO,
    budget_minutes,
    error_ratio_record,
    period_hours,
    threshold_record,
)
from pricealert_ops.prometheus import PrometheusUnreachable


class PrometheusQueryError(PrometheusUnreachable):
    """Prometheus could not be reached, or refused or misanswered one of the queries
    `budget` generates from slo.yaml. The user typed none of them (the period is
    checked before any query), so it is a dependency failure: 503
    `prometheus_unreachable`, not the 422 `prometheus_query_failed` of a query the user
    typed (see `pricealert_ops.prometheus`)."""


@dataclass(frozen=True)
class BudgetLine:
    """One SLO's budget for a period; measured fields are None without data."""

    slo: str
    kind: str
    target: str
    budget_minutes: Decimal | None = None
    error_ratio: Decimal | None = None
    consumed: Decimal | None = None
    remaining_minutes: Decimal | None = None
    period_average: Decimal | None = None
    worst_5m: Decimal | None = None
    note: str = ""


class Prometheus:
    """The few instant queries `budget` needs, over Prometheus's HTTP API."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self._client = httpx.Client(base_url=url.rstrip("/"), timeout=timeout)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def scalar(self, query: str) -> Decimal | None:
        """The single value an instant query returns; None when empty or NaN."""
        try:
            response = self._client.get("/api/v1/query", params={"query": query})
        except httpx.HTTPError as exc:
            raise PrometheusQueryError(f"cannot reach Prometheus: {exc}") from exc
        try:
            body = response.json()
        except ValueError as exc:
            raise PrometheusQueryError(
                f"HTTP {response.status_code}: not a Prometheus API"
            ) from exc
        if body.get("status") != "success":
            raise PrometheusQueryError(f"{query}: {body.get('error', response.status_code)}")
        result = body["data"]["result"]
        if not result:
            return None
        try:
            value = Decimal(result[0]["value"][1])
        except (InvalidOperation, KeyError, IndexError) as exc:
            raise PrometheusQueryError(f"{query}: unexpected result {result[0]!r}") from exc
        return None if value.is_nan() else value


def _ratio_line(slo: RatioSLO, period: str, prom: Prometheus | None) -> BudgetLine:
    minutes = budget_minutes(slo.objective, period_hours(period))
    line = BudgetLine(slo.name, slo.kind, f"{slo.objective} %", budget_minutes=minutes)
    if prom is None:
        return line
    ratio = prom.scalar(f'avg_over_time({error_ratio_record("5m")}{{slo="{slo.name}"}}[{period}])')
    if ratio is None:
        return replace(line, note="no data in Prometheus")
    consumed = ratio / slo.budget_ratio
    return replace(
        line,
        error_ratio=ratio,
        consumed=consumed,
        remaining_minutes=minutes * (1 - consumed),
        note="exhausted" if consumed >= 1 else "",
    )


def _threshold_line(slo: ThresholdSLO, period: str, prom: Prometheus | None) -> BudgetLine:
    line = BudgetLine(slo.name, slo.kind, f"<= {slo.bound} {slo.unit}", note="bound, no budget")
    if prom is None:
        return line
    selector = f'{threshold_record("5m")}{{slo="{slo.name}"}}[{period}]'
    average = prom.scalar(f"avg_over_time({selector})")
    worst = prom.scalar(f"max_over_time({selector})")
    note = "no data in Prometheus" if average is None else line.note
    if worst is not None and worst > slo.bound:
        note = f"over the bound at times (worst 5m {worst} {slo.unit})"
    return replace(line, period_average=average, worst_5m=worst, note=note)


def budget_report(spec: SLOSpec, period: str, prometheus_url: str | None) -> list[BudgetLine]:
    """One line per SLO for `period`; with a Prometheus URL, what was used and is left."""
    period_hours(period)  # a bad period fails before any query
    prom = Prometheus(prometheus_url) if prometheus_url else None
    try:
        lines = []
        for slo in spec.slos:
            if isinstance(slo, RatioSLO):
                lines.append(_ratio_line(slo, period, prom))
            elif isinstance(slo, ThresholdSLO):
                lines.append(_threshold_line(slo, period, prom))
            elif isinstance(slo, ExternalSLO):
                target = f"<= {slo.bound} {slo.unit}"
                lines.append(BudgetLine(slo.name, slo.kind, target, note=f"source: {slo.source}"))
        return lines
    finally:
        if prom is not None:
            prom.close()
