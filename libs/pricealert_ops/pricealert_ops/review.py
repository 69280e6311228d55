"""The quarterly operations review (plan 9.3) as one report: Markdown and PNG charts.

    pricealert review quarter --prometheus URL [--days 91] [--out build/review]

The five items of plan 9.3, each from a record rather than from memory:

1. SLO attainment: every SLO of `monitoring/slo.yaml` over the quarter (the same
   queries as `pricealert slo budget --period 91d`), met / SLO missed / SLA missed.
2. Incidents: the incident records of the quarter (`pricealert incident`), by
   priority with their mean time to resolve, each with the root cause and the
   action items its postmortem gives (or says it lacks).
3. Resource trends: request rate, queue backlog, CPU and watched products over
   the quarter, each forecast 90 days ahead (`pricealert_ops.forecast`), with a
   PNG chart per series.
4. Cost drivers: task-hours per service (the average number of scraped targets
   of each job × hours): what the Fargate bill grows with.
5. Automation opportunities: the action items of the quarter's postmortems, and
   the alerts that fired most (an alert that fires often is a task to automate
   or a threshold to revisit).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from pricealert.errors import InvalidInput
from pricealert_ops.alert_review import AlertHistory, alert_history
from pricealert_ops.forecast import ForecastInputError, forecast
from pricealert_ops.forecast_io import fetch_prometheus, write_plot
from pricealert_ops.incident import Incident, list_incidents, postmortem_key
from pricealert_ops.monitoring.budget import BudgetLine, budget_report
from pricealert_ops.monitoring.slo import load_spec
from pricealert_ops.prometheus import PrometheusQueryFailed, prometheus_api
from pricealert_ops.storage import BackupStore, ObjectNotFound

HORIZON = timedelta(days=90)

#: (name, PromQL, unit) of the resource trends the review charts and forecasts.
TRENDS = (
    ("api-requests", "sum(rate(http_requests_total[1h]))", "requests/s"),
    ("queue-backlog", "sum(pricealert_queue_length)", "jobs"),
    ("cpu", "sum(rate(process_cpu_seconds_total[1h]))", "cores"),
    ("watched-products", "sum(pricealert_watched_products)", "products"),
)
TASK_HOURS = "avg_over_time(count by (job) (up == 1)[{days}d:1h])"
SERVICE_JOBS = ("api", "scraper", "evaluator", "notifier", "web")


class InvalidReviewPeriod(InvalidInput, code="invalid_review_period"):
    """A review covers 7 to 366 days."""


@dataclass(frozen=True)
class Trend:
    name: str
    unit: str
    first: float
    last: float
    forecast_30d: float | None
    forecast_90d: float | None
    chart: str | None
    note: str = ""


@dataclass(frozen=True)
class IncidentLine:
    incident: Incident
    root_cause: str
    actions: list[str]


@dataclass
class QuarterReview:
    start: datetime
    end: datetime
    slos: list[BudgetLine] = field(default_factory=list)
    incidents: list[IncidentLine] = field(default_factory=list)
    trends: list[Trend] = field(default_factory=list)
    task_hours: dict[str, float] = field(default_factory=dict)
    alerts: list[AlertHistory] = field(default_factory=list)


def quarter_review(
    prometheus_url: str,
    monitoring_dir: Path,
    incidents: BackupStore,
    out_dir: Path,
    *,
    days: int = 91,
    now: datetime | None = None,
) -> QuarterReview:
    """Gather the quarter's figures and draw its charts into `out_dir`."""
    if not 7 <= days <= 366:
        raise InvalidReviewPeriod(f"--days must be between 7 and 366, not {days}")
    end = now or datetime.now(UTC)
    start = end - timedelta(days=days)
    out_dir.mkdir(parents=True, exist_ok=True)
    review = QuarterReview(start, end)
    review.slos = budget_report(load_spec(monitoring_dir / "slo.yaml"), f"{days}d", prometheus_url)
    review.incidents = [
        _incident_line(incidents, i)
        for i in list_incidents(incidents)
        if start <= i.opened_at <= end
    ]
    review.trends = [
        _trend(prometheus_url, name, query, unit, start, end, out_dir)
        for name, query, unit in TRENDS
    ]
    review.task_hours = task_hours(prometheus_url, days, end)
    review.alerts = alert_history(prometheus_url, days)
    return review


def _incident_line(store: BackupStore, incident: Incident) -> IncidentLine:
    buffer = io.BytesIO()
    try:
        store.download(postmortem_key(incident.id), buffer)
    except ObjectNotFound:
        return IncidentLine(incident, "(no postmortem yet)", [])
    text = buffer.getvalue().decode()
    cause = _section(text, "Root cause")
    actions = [
        row.strip("| ").split(" | ")[0]
        for row in _section(text, "Action items").splitlines()
        if row.startswith("|") and not set(row) <= set("|- ") and not row.startswith("| action")
    ]
    return IncidentLine(incident, cause or "(not written)", [a for a in actions if a])


def _section(markdown: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}[^\n]*\n(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    if match is None:
        return ""
    body = [
        line
        for line in match.group(1).strip().splitlines()
        if line.strip() and not (line.startswith("_") and line.endswith("_"))
    ]
    return "\n".join(body)


def _trend(
    prometheus_url: str,
    name: str,
    query: str,
    unit: str,
    start: datetime,
    end: datetime,
    out_dir: Path,
) -> Trend:
    try:
        series = fetch_prometheus(prometheus_url, query, start, end, "1h")
    except PrometheusQueryFailed as exc:  # no series at all: a row that says so
        return Trend(name, unit, 0.0, 0.0, None, None, None, f"no data ({exc.detail})")
    if not series.y:
        return Trend(name, unit, 0.0, 0.0, None, None, None, "no data")
    first, last = series.y[0], series.y[-1]
    try:
        predicted = forecast(series, HORIZON, engine="builtin")
    except ForecastInputError as exc:
        return Trend(name, unit, first, last, None, None, None, exc.detail)
    chart = out_dir / f"{name}.png"
    write_plot(predicted, series, chart, f"{name} ({unit}): the quarter and 90 days ahead")
    return Trend(
        name,
        unit,
        first,
        last,
        _value_at(predicted.ds, predicted.yhat, end + timedelta(days=30)),
        _value_at(predicted.ds, predicted.yhat, end + HORIZON),
        chart.name,
    )


def _value_at(times: list[datetime], values: list[float], at: datetime) -> float:
    index = min(range(len(times)), key=lambda i: abs((times[i] - at).total_seconds()))
    return values[index]


def task_hours(prometheus_url: str, days: int, end: datetime) -> dict[str, float]:
    """Average running targets of each service job × hours of the period."""
    body = prometheus_api(
        prometheus_url,
        "query",
        {"query": TASK_HOURS.format(days=days), "time": f"{end.timestamp():.0f}"},
    )
    hours = days * 24
    result: dict[str, float] = {}
    for sample in body["data"]["result"]:
        job = sample["metric"].get("job", "?")
        if job in SERVICE_JOBS:
            result[job] = float(sample["value"][1]) * hours
    return dict(sorted(result.items(), key=lambda kv: -kv[1]))


def _slo_row(line: BudgetLine) -> tuple[str, str, str, str]:
    if line.error_ratio is not None:
        attained = (1 - line.error_ratio) * 100
        left = line.remaining_minutes
        verdict = "met" if left is not None and left >= 0 else "SLO missed"
        return line.slo, line.target, f"{attained:.3f} %", verdict
    if line.period_average is not None:
        return (
            line.slo,
            line.target,
            f"average {line.period_average:.3f}, worst 5 min {line.worst_5m or Decimal(0):.3f}",
            line.note or "measured",
        )
    return line.slo, line.target, "-", line.note or "no data"


def render(review: QuarterReview) -> str:
    """The review as Markdown; charts are referenced by file name beside it."""
    quarter = f"{review.start:%Y-%m-%d} → {review.end:%Y-%m-%d}"
    lines = [f"# Quarterly operations review, {quarter}", ""]
    lines += [
        "## 1. SLO attainment",
        "",
        "| SLO | target | attained | verdict |",
        "| --- | --- | --- | --- |",
    ]
    lines += ["| " + " | ".join(_slo_row(line)) + " |" for line in review.slos]
    lines += ["", "## 2. Incidents", ""]
    if not review.incidents:
        lines.append("No incident was recorded this quarter (`pricealert incident`).")
    else:
        by_priority: dict[str, list[Incident]] = {}
        for item in review.incidents:
            by_priority.setdefault(item.incident.priority, []).append(item.incident)
        lines += ["| priority | incidents | mean time to resolve |", "| --- | --- | --- |"]
        for priority in sorted(by_priority):
            durations = [i.duration for i in by_priority[priority] if i.duration is not None]
            mean = (
                f"{sum(d.total_seconds() for d in durations) / len(durations) / 60:.0f} min"
                if durations
                else "open"
            )
            lines.append(f"| {priority} | {len(by_priority[priority])} | {mean} |")
        lines.append("")
        for item in review.incidents:
            i = item.incident
            lines.append(f"- **{i.id}** ({i.priority}) {i.title} — cause: {item.root_cause}")
    lines += [
        "",
        "## 3. Resource trends (forecast 90 days ahead)",
        "",
        "| series | start of quarter | now | in 30 days | in 90 days |",
        "| --- | --- | --- | --- | --- |",
    ]
    for t in review.trends:
        ahead = [
            f"{v:.2f}" if v is not None else t.note or "-" for v in (t.forecast_30d, t.forecast_90d)
        ]
        lines.append(
            f"| {t.name} ({t.unit}) | {t.first:.2f} | {t.last:.2f} | {ahead[0]} | {ahead[1]} |"
        )
    lines += [""] + [f"![{t.name}]({t.chart})" for t in review.trends if t.chart]
    lines += ["", "## 4. Cost drivers: task-hours per service", ""]
    total = sum(review.task_hours.values())
    if total:
        lines += ["| service | task-hours | share |", "| --- | --- | --- |"]
        for job, hours in review.task_hours.items():
            lines.append(f"| {job} | {hours:,.0f} | {100 * hours / total:.0f} % |")
    else:
        lines.append("No service targets were scraped this quarter.")
    lines += ["", "## 5. Automation opportunities", ""]
    actions = [(item.incident.id, a) for item in review.incidents for a in item.actions]
    lines += [f"- {action} (from {incident_id})" for incident_id, action in actions]
    if not actions:
        lines.append("- No action items in this quarter's postmortems.")
    for alert in review.alerts[:5]:
        lines.append(
            f"- {alert.alert} ({alert.severity}) fired {alert.firings} times, "
            f"{alert.firing_minutes} min in all: automate its runbook or revisit its threshold"
        )
    return "\n".join(lines) + "\n"


def write_review(review: QuarterReview, out_dir: Path) -> Path:
    """Write the Markdown beside its charts; returns its path."""
    path = out_dir / f"review-{review.end:%Y}-Q{(review.end.month - 1) // 3 + 1}.md"
    path.write_text(render(review), encoding="utf-8")
    return path
