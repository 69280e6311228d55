"""Turn a product's recorded changes into the notifications its rules ask for.

`evaluate_changes` runs inside one unit of work (the caller's session scope):

1. lock the product's enabled rules (evaluations of one product run in turn);
2. take every row of the product not yet evaluated up to the one named, oldest
   first — a lost or late job is made good by the next one, in order;
3. decide each (row, rule) with the pure `rules.evaluate`; a rule sees only
   changes detected after it was made, and a row only once (`history_id` in
   its state guards the update);
4. for fired decisions apply the rule's cooldown (between detection times) and
   the user's daily caps (rolling 24 hours: `daily_notification_cap` over every
   channel, `daily_sms_cap` over SMS; pending and sent notifications count);
5. write one notification per (rule, channel, row): `pending` for delivery, or
   withheld with its reason in `last_error` — `suppressed` (currency change,
   suspicious price), `cooldown`, `capped`, or `failed` when the channel is
   disabled; the unique key makes a second run insert nothing;
6. mark the rows evaluated — in the same statement as step 5 and the rule states.

The report it returns says what to enqueue and which metrics to count; the
caller does both after commit. Steps 3 and 4 are the pure `decide` and `settle`,
which `batch.py` runs over a whole batch of changes read and written at once.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from pricealert import metrics
from pricealert.repositories.evaluation import (
    CapUsage,
    Changes,
    ChannelRef,
    EvaluationRepository,
    HistoryRow,
    NewNotification,
    ProductRef,
    RuleRow,
    RuleState,
)
from services.evaluator.payload import alert_payload
from services.evaluator.rules import Change, Decision, Observation, Outcome, Rule, evaluate

CAP_WINDOW = timedelta(hours=24)
#: Outcomes are StrEnums: `str(outcome)` is its value, without `.value`'s two Python calls.
_QUIET = str(Outcome.QUIET)


@dataclass
class EvaluationReport:
    """What one evaluation did: rows evaluated, rule results, notifications to deliver."""

    rows: list[int] = field(default_factory=list)
    results: Counter[tuple[str, str]] = field(default_factory=Counter)
    created: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    withheld: Counter[str] = field(default_factory=Counter)

    def record_metrics(self) -> None:
        """Count rule results and created notifications (call after commit)."""
        for (kind, result), count in self.results.items():
            metrics.RULE_EVALUATIONS.labels(kind, result).inc(count)
        for channel, count in Counter(channel for _id, channel in self.created).items():
            metrics.ALERTS_FIRED.labels(channel).inc(count)

    @classmethod
    def merged(cls, reports: Sequence[EvaluationReport]) -> EvaluationReport:
        """One report of several (a batch's, to log and count once)."""
        merged = cls()
        for report in reports:
            merged.rows += report.rows
            merged.results.update(report.results)
            merged.created += report.created
            merged.withheld.update(report.withheld)
        return merged

    def count_inserted(
        self, notifications: list[NewNotification], inserted: Set[uuid.UUID]
    ) -> None:
        """Note which of `notifications` were really inserted: to deliver, or withheld."""
        for notification in notifications:
            if notification.id not in inserted:
                continue
            if notification.status == "pending":
                self.created.append((notification.id, notification.channel_kind))
            else:
                self.withheld[notification.status] += 1


@dataclass
class Step:
    row: HistoryRow
    rule: RuleRow
    decision: Decision
    previous: HistoryRow | None
    last_priced: HistoryRow | None


@dataclass
class Budget:
    """What a user may still receive today."""

    total_left: int
    sms_left: int

    @classmethod
    def of(cls, usage: CapUsage) -> Budget:
        return cls(usage.daily_cap - usage.total, usage.sms_cap - usage.sms)


def _observation(row: HistoryRow | None) -> Observation | None:
    if row is None:
        return None
    return Observation(row.state, row.suspicious)


async def evaluate_changes(
    session: AsyncSession, product_id: int, history_id: int, *, now: datetime
) -> EvaluationReport:
    """Evaluate the product's unevaluated changes up to `history_id` (see the module doc)."""
    repo = EvaluationRepository(session)
    report = EvaluationReport()
    product, rules = await repo.lock_rules(product_id)
    changes = await repo.changes_through(product_id, history_id)
    if not changes.rows:
        return report
    report.rows = [row.id for row in changes.rows]
    notifications: list[NewNotification] = []
    states: list[RuleState] = []
    if rules and product is not None:
        lowest = None
        if any(rule.kind == "lowest_ever" for rule in rules):
            lowest = {row.id: await repo.lowest_before(row) for row in changes.rows}
        steps = decide(rules, changes, lowest)
        fired = [s for s in steps if s.decision.outcome is Outcome.FIRED]
        firing = sorted({s.rule.user_id for s in fired})
        usage = await repo.cap_usage(
            await repo.lock_users(firing), now - CAP_WINDOW, sms_users(fired)
        )
        budgets = {user_id: Budget.of(used) for user_id, used in usage.items()}
        last_fired = {s.rule.id: s.rule.last_fired_at for s in steps}
        notifications, states = settle(product, steps, report, budgets, last_fired)
    inserted = await repo.record(notifications, states, report.rows, now)
    report.count_inserted(notifications, inserted)
    return report


def sms_users(fired: Sequence[Step]) -> set[uuid.UUID]:
    """Users of `fired` steps with an SMS channel: the only ones whose SMS budget
    `settle` may read (`cap_usage` counts the others' SMS not at all)."""
    return {s.rule.user_id for s in fired if any(c.kind == "sms" for c in s.rule.channels)}


def decide(
    rules: list[RuleRow], changes: Changes, lowest: Mapping[int, Decimal | None] | None
) -> list[Step]:
    """Phase one, pure: each rule's decision on each row, state chained in memory.

    `lowest` is each row's lowest earlier price (`lowest_before`), needed only when a rule
    is `lowest_ever`."""
    states = {rule.id: rule.state for rule in rules}
    steps: list[Step] = []
    previous, last_priced = changes.previous, changes.last_priced
    for row in changes.rows:
        change = Change(
            new=Observation(row.state, row.suspicious),
            previous=_observation(previous),
            last_priced=_observation(last_priced),
            lowest_before=None if lowest is None else lowest.get(row.id),
        )
        for rule in rules:
            state = states[rule.id]
            if rule.created_at > row.first_seen_at or int(state.get("history_id") or 0) >= row.id:
                continue  # the rule was made after this change, or has seen it already
            decision = evaluate(Rule(rule.kind, rule.threshold), change, state)
            states[rule.id] = decision.state
            steps.append(Step(row, rule, decision, previous, last_priced))
        previous = row
        if row.state.price is not None:
            last_priced = row
    return steps


def settle(
    product: ProductRef,
    steps: list[Step],
    report: EvaluationReport,
    budgets: Mapping[uuid.UUID, Budget],
    last_fired: dict[uuid.UUID, datetime | None],
) -> tuple[list[NewNotification], list[RuleState]]:
    """Phase two, pure: cooldowns (from `last_fired`, updated), caps (`budgets`, spent),
    notifications, rule state."""
    fired_at: dict[uuid.UUID, datetime] = {}
    final: dict[uuid.UUID, tuple[dict[str, Any], int]] = {}
    notifications: list[NewNotification] = []
    for step in steps:
        rule, row, decision = step.rule, step.row, step.decision
        result, reason = str(decision.outcome), decision.reason
        if decision.outcome is Outcome.FIRED:
            previous_fire = last_fired[rule.id]
            if previous_fire is not None and row.first_seen_at < previous_fire + timedelta(
                seconds=rule.cooldown_seconds
            ):
                result = "cooldown"
                reason = f"within the alert's cooldown of {rule.cooldown_seconds} s ({reason})"
            else:
                last_fired[rule.id] = fired_at[rule.id] = row.first_seen_at
        if result != _QUIET:
            rows, result = _notifications(step, product, rule.channels, result, reason,
                                          budgets.get(rule.user_id))  # fmt: skip
            notifications.extend(rows)
        report.results[(rule.kind, result)] += 1
        final[rule.id] = (decision.state, row.id)
    states = [
        RuleState(rule_id, state, history_id, fired_at.get(rule_id))
        for rule_id, (state, history_id) in final.items()
    ]
    return notifications, states


def _notifications(
    step: Step,
    product: ProductRef,
    channels: tuple[ChannelRef, ...],
    result: str,
    reason: str,
    budget: Budget | None,
) -> tuple[list[NewNotification], str]:
    """One row per channel, and the rule's result (`capped` if every channel was)."""
    rows: list[NewNotification] = []
    capped = 0
    for channel in channels:
        status: str = result
        why: str | None = reason
        if result == "fired":
            status, why = "pending", None
            if not channel.enabled:
                status, why = "failed", f"channel disabled: {channel.disabled_reason or 'off'}"
            elif budget is not None and budget.total_left <= 0:
                status, why = "capped", "daily notification cap reached"
            elif budget is not None and channel.kind == "sms" and budget.sms_left <= 0:
                status, why = "capped", "daily SMS cap reached"
            elif budget is not None:
                budget.total_left -= 1
                budget.sms_left -= channel.kind == "sms"
            capped += status == "capped"
        notification_id = uuid.uuid4()
        rows.append(
            NewNotification(
                id=notification_id,
                product_id=product.id,
                user_id=step.rule.user_id,
                rule_id=step.rule.id,
                channel_id=channel.id,
                history_id=step.row.id,
                channel_kind=channel.kind,
                rule_kind=step.rule.kind,
                status=status,
                last_error=why,
                payload=alert_payload(
                    notification_id=notification_id,
                    rule=step.rule,
                    product=product,
                    row=step.row,
                    previous=step.previous,
                    last_priced=step.last_priced,
                    reason=step.decision.reason,
                ),
                detected_at=step.row.first_seen_at,
            )
        )
    if channels and capped == len(channels):
        result = "capped"
    return rows, result
