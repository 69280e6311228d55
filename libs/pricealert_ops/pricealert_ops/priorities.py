"""Incident priorities P1–P4 (plan 7.2) and the alert severity each one answers.

The one table: incident records (`pricealert incident`), every alerting rule's
`priority` label (added by the rule generators from its `severity`), the
Alertmanager messages, the runbooks and the on-call handbook all come from or
are checked against `PRIORITIES`. `severity="none"` (the watchdog) is no
incident and gets no priority.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Priority = Literal["P1", "P2", "P3", "P4"]


@dataclass(frozen=True)
class PriorityClass:
    """Plan 7.2: how an incident of this priority is answered, and which alerts start one."""

    priority: Priority
    name: str
    severity: str  # the alert severity label that maps to it
    response: str


#: The one table of priorities: alert severities, runbooks and the handbook refer to it.
PRIORITIES: dict[str, PriorityClass] = {
    p.priority: p
    for p in (
        PriorityClass("P1", "緊急 / urgent", "critical", "page the on-call (PagerDuty); start now"),
        PriorityClass("P2", "高 / high", "high", "team Slack + on-call SMS; start now"),
        PriorityClass("P3", "中 / medium", "medium", "open a ticket; handle in working hours"),
        PriorityClass("P4", "低 / low", "low", "add to the next sprint"),
    )
}
PRIORITY_OF_SEVERITY: dict[str, str] = {p.severity: p.priority for p in PRIORITIES.values()}


def with_priority(rule: dict[str, Any]) -> dict[str, Any]:
    """An alerting rule with the `priority` label its `severity` maps to (none for `none`)."""
    labels = rule.get("labels", {})
    priority = PRIORITY_OF_SEVERITY.get(labels.get("severity", ""))
    if "alert" not in rule or priority is None:
        return rule
    ordered: dict[str, Any] = {}
    for key, value in labels.items():
        ordered[key] = value
        if key == "severity":
            ordered["priority"] = priority
    return {**rule, "labels": ordered}


def priority_line(severities: list[str] | set[str]) -> str:
    """The `**Priority:**` line a runbook carries for an alert firing with these severities."""
    order = [p.severity for p in PRIORITIES.values()]
    known = sorted((s for s in severities if s in PRIORITY_OF_SEVERITY), key=order.index)
    if not known:
        return "**Priority:** none — not an incident (severity `none`)"
    parts = [
        f"{PRIORITY_OF_SEVERITY[s]} ({s}): {PRIORITIES[PRIORITY_OF_SEVERITY[s]].response}"
        for s in known
    ]
    return "**Priority:** " + " · ".join(parts)


def handbook_table() -> str:
    """The priority table of the on-call handbook (docs/oncall-handbook.md holds it verbatim)."""
    rows = [
        "| priority | plan 7.2 | alerts with severity | answer |",
        "| --- | --- | --- | --- |",
    ]
    rows += [
        f"| {p.priority} | {p.name} | `{p.severity}` | {p.response} |" for p in PRIORITIES.values()
    ]
    return "\n".join(rows) + "\n"
