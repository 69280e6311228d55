"""Task counts a forecast implies, by the plan's scaling thresholds (6.1, 6.3).

    kind          metric the forecast is of                 per task  min  max
    queue_length  jobs waiting in one worker queue            500      1   10
    cpu           CPU % summed over the service's tasks        70      2   10
    requests      requests per minute to the API             1000      2   10

`tasks = ceil(yhat_upper / per_task)`, clamped to [min, max]: the upper bound
of the band, because capacity must cover the likely peak, not the mean. The
minimums and maximums are the ones `infra/services.yaml` deploys (API 2–10 as
plan 6.1; workers 1–10). A forecast that needs more than the maximum is the
signal to raise it (or scale vertically) before the peak arrives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime

from pricealert_ops.forecast import Forecast


@dataclass(frozen=True)
class ScalingRule:
    """How much one task handles, and the bounds autoscaling keeps."""

    kind: str
    per_task: float
    min_tasks: int
    max_tasks: int
    source: str


RULES = {
    "queue_length": ScalingRule(
        "queue_length", 500, 1, 10, "plan 6.3: worker queue length 500 per task"
    ),
    "cpu": ScalingRule("cpu", 70, 2, 10, "plan 6.1: API CPU target tracking at 70 %"),
    "requests": ScalingRule(
        "requests", 1000, 2, 10, "plan 6.1/6.3: 1000 requests per minute per API task"
    ),
}


def rule_for(
    kind: str,
    *,
    per_task: float | None = None,
    min_tasks: int | None = None,
    max_tasks: int | None = None,
) -> ScalingRule:
    """The plan's rule for `kind`, with any of its numbers overridden."""
    rule = RULES[kind]
    return replace(
        rule,
        per_task=rule.per_task if per_task is None else per_task,
        min_tasks=rule.min_tasks if min_tasks is None else min_tasks,
        max_tasks=rule.max_tasks if max_tasks is None else max_tasks,
    )


def tasks_needed(value: float, rule: ScalingRule) -> int:
    """Tasks for a load of `value`, before clamping to the rule's bounds."""
    return max(0, math.ceil(value / rule.per_task))


def clamp(tasks: int, rule: ScalingRule) -> int:
    """`tasks` within the autoscaling bounds."""
    return min(rule.max_tasks, max(rule.min_tasks, tasks))


@dataclass(frozen=True)
class CapacityPlan:
    """What the forecast horizon asks of the service."""

    rule: ScalingRule
    peak_at: datetime
    peak_upper: float
    needed: int
    tasks: int
    per_row: list[int]

    @property
    def exceeds_max(self) -> bool:
        """Whether autoscaling's maximum is too low for the forecast peak."""
        return self.needed > self.rule.max_tasks


def plan_capacity(forecast: Forecast, rule: ScalingRule) -> CapacityPlan:
    """Task counts per forecast row, and at the horizon's peak."""
    horizon = range(forecast.horizon_start, len(forecast.ds))
    peak = max(horizon, key=lambda i: forecast.yhat_upper[i])
    needed = tasks_needed(forecast.yhat_upper[peak], rule)
    return CapacityPlan(
        rule=rule,
        peak_at=forecast.ds[peak],
        peak_upper=forecast.yhat_upper[peak],
        needed=needed,
        tasks=clamp(needed, rule),
        per_row=[clamp(tasks_needed(v, rule), rule) for v in forecast.yhat_upper],
    )


def format_capacity(plan: CapacityPlan) -> list[str]:
    """The readable capacity lines of a forecast report."""
    rule = plan.rule
    lines = [
        f"capacity ({rule.source}; {rule.per_task:g} per task, {rule.min_tasks}–{rule.max_tasks}"
        " tasks)",
        f"  peak upper bound {plan.peak_upper:.1f} at {plan.peak_at.isoformat()}",
        f"  tasks needed at the peak: {plan.needed} → run {plan.tasks}",
    ]
    if plan.exceeds_max:
        lines.append(
            f"  WARNING: the peak needs {plan.needed} tasks but autoscaling stops at "
            f"{rule.max_tasks}: raise the maximum or scale up before {plan.peak_at.date()}"
        )
    return lines
