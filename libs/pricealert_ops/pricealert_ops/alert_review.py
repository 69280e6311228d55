"""Quarterly alert review (plan 7.1): alerts without runbooks, and the noisiest alerts.

A rule has a runbook when its `runbook_url` annotation names a file that
exists in the runbooks directory (matched by file name, so repository paths
and links to the rendered file both work), or, without the annotation, when
`<runbooks>/<alertname>.md` exists. Links to other sites cannot be checked
here and are listed as such.

"Firing now" comes from Alertmanager's API (`/api/v2/alerts`): the alerts it
holds now, counted per alert name (one per label set) with the earliest start.
Alertmanager keeps no history, so "fired most this quarter" comes from
Prometheus's own record of its alerts, the `ALERTS` series: per alert name and
severity, how many times it started firing (a minute firing that was not firing
the minute before) and for how many minutes it fired, over `--days` (the
Prometheus retention must cover them: compose keeps 100 days).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml

from pricealert.errors import InvalidInput, ServiceUnavailable
from pricealert_ops.prometheus import prometheus_api


class RulesUnreadable(InvalidInput, code="alert_rules_unreadable"):
    """The Prometheus rules to review cannot be read: no such directory, or a file that is not valid
    YAML."""


class AlertmanagerUnreachable(ServiceUnavailable, code="alertmanager_unreachable"):
    """Alertmanager's API did not answer, so the alerts that fired cannot be counted."""


@dataclass(frozen=True)
class RuleRunbook:
    """One alerting rule and what its runbook link resolves to."""

    alert: str
    source: str
    runbook: str | None  # the annotation, or None
    status: str  # "ok", "missing", "dangling" (names a file that does not exist), "external"


@dataclass(frozen=True)
class AlertHistory:
    """How often an alert fired over the review period, and for how long in all."""

    alert: str
    severity: str
    firings: int
    firing_minutes: int


@dataclass(frozen=True)
class FiringAlert:
    """How many instances of an alert Alertmanager holds, since when."""

    alert: str
    count: int
    severity: str
    earliest: datetime


def load_rules(rules_dir: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """(alert, file, annotations) for every alerting rule in `rules_dir/*.yml`."""
    if not rules_dir.is_dir():
        raise RulesUnreadable(f"no rules directory {rules_dir}")
    found = []
    for path in sorted([*rules_dir.glob("*.yml"), *rules_dir.glob("*.yaml")]):
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise RulesUnreadable(f"{path}: not valid YAML: {exc}") from exc
        for group in document.get("groups", []) or []:
            for rule in group.get("rules", []) or []:
                if "alert" in rule:
                    found.append((rule["alert"], path.name, rule.get("annotations") or {}))
    return found


def check_runbooks(rules_dir: Path, runbooks_dir: Path) -> list[RuleRunbook]:
    """Every alerting rule with the state of its runbook."""
    available = {p.name for p in runbooks_dir.glob("*")} if runbooks_dir.is_dir() else set()
    checked = []
    for alert, source, notes in load_rules(rules_dir):
        link = notes.get("runbook_url")
        if link is None:
            status = "ok" if f"{alert}.md" in available else "missing"
        else:
            parts = urlsplit(str(link))
            name = Path(parts.path).name
            if name in available:
                status = "ok"
            elif parts.scheme in {"http", "https"} and "runbooks" not in parts.path:
                status = "external"
            else:
                status = "dangling"
        checked.append(RuleRunbook(alert, source, link, status))
    return checked


def firing_alerts(alertmanager_url: str, *, timeout: float = 10) -> list[FiringAlert]:
    """Alerts Alertmanager holds now, grouped by name, most instances first."""
    url = alertmanager_url.rstrip("/") + "/api/v2/alerts"
    try:
        response = httpx.get(url, timeout=timeout)
        response.raise_for_status()
        alerts: list[dict[str, Any]] = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise AlertmanagerUnreachable(f"cannot read {url}: {exc}") from exc
    counts: Counter[str] = Counter()
    earliest: dict[str, datetime] = {}
    severity: dict[str, str] = {}
    for alert in alerts:
        name = alert.get("labels", {}).get("alertname", "?")
        counts[name] += 1
        started = datetime.fromisoformat(alert["startsAt"])
        earliest[name] = min(started, earliest.get(name, started))
        severity[name] = alert.get("labels", {}).get("severity", "-")
    return [
        FiringAlert(name, count, severity[name], earliest[name])
        for name, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]


#: Minutes an alert fired, and minutes it started firing (firing, but not a minute before),
#: over the period, per alert name and severity; evaluated at one-minute resolution.
_FIRING_MINUTES = (
    'sum by (alertname, severity) (count_over_time(ALERTS{{alertstate="firing"}}[{days}d:1m]))'
)
_FIRING_STARTS = (
    "sum by (alertname, severity) (count_over_time("
    '(ALERTS{{alertstate="firing"}} unless ALERTS{{alertstate="firing"}} offset 1m)[{days}d:1m]))'
)


def alert_history(prometheus_url: str, days: int, *, timeout: float = 60) -> list[AlertHistory]:
    """Each alert that fired in the last `days` days, most firings first (Prometheus `ALERTS`)."""
    minutes = _by_alert(prometheus_url, _FIRING_MINUTES.format(days=days), timeout)
    starts = _by_alert(prometheus_url, _FIRING_STARTS.format(days=days), timeout)
    history = [
        AlertHistory(alert, severity, starts.get((alert, severity), 0), count)
        for (alert, severity), count in minutes.items()
    ]
    return sorted(history, key=lambda h: (-h.firings, -h.firing_minutes, h.alert))


def _by_alert(base_url: str, query: str, timeout: float) -> dict[tuple[str, str], int]:
    body = prometheus_api(base_url, "query", {"query": query}, timeout=timeout)
    counts = {}
    for item in body.get("data", {}).get("result", []):
        labels = item.get("metric", {})
        key = (labels.get("alertname", "?"), labels.get("severity", "-"))
        counts[key] = round(float(item["value"][1]))
    return counts


def format_review(
    runbooks: list[RuleRunbook],
    firing: list[FiringAlert] | None,
    history: list[AlertHistory] | None = None,
    days: int = 0,
) -> list[str]:
    """The readable alert review."""
    problems = [r for r in runbooks if r.status != "ok"]
    lines = [f"{len(runbooks)} alerting rules; {len(problems)} without a runbook here"]
    for r in problems:
        what = {
            "missing": "no runbook_url and no runbook file",
            "dangling": f"runbook_url {r.runbook} names no existing runbook",
            "external": f"runbook_url {r.runbook} is another site (not checked)",
        }[r.status]
        lines.append(f"  {r.alert} ({r.source}): {what}")
    if firing is not None:
        lines.append(f"alerts Alertmanager holds now: {sum(f.count for f in firing)}")
        for f in firing:
            lines.append(
                f"  {f.count:>4} × {f.alert} [{f.severity}] since {f.earliest.isoformat()}"
            )
    if history is not None:
        lines.append(f"alerts fired over the last {days} days (Prometheus ALERTS): {len(history)}")
        for h in history:
            lines.append(
                f"  {h.firings:>4} × {h.alert} [{h.severity}], {h.firing_minutes} min firing in all"
            )
    return lines
