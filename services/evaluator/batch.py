"""Evaluate a batch of changes in one unit of work, as if each were evaluated on its own.

`evaluate.evaluate_changes` spends about five statements on one change. A batch
(what one scraper batch found changed) spends five on all of its changes:

1. lock the rules of every product in the batch (`lock_rules_of`);
2. take every product's unevaluated rows up to the latest change the batch names
   (`changes_of`), with what they are compared with;
3. split each product's rows by change, in the batch's order — a change takes the
   product's rows not taken yet up to its own row, exactly the rows its own
   evaluation would find — and decide every (row, rule) with the pure `decide`,
   carrying each rule's state from one change to the next as the single path's
   `record` would have stored it (only forward: `history_id` guards it);
4. lock the firing users and count their caps once (`lock_users`, `cap_usage`), then
   settle the changes in the batch's order with the pure `settle`: each change's
   cooldowns see the fires of the changes before it, and every change spends the
   same per-user budget, as consecutive evaluations would see each other's
   notifications (a budget counted once and spent in memory equals one recounted:
   only notifications made here enter the window, the window's start is one `now`);
5. write everything in one `record` statement — the unique key on (rule, channel,
   history), the guarded rule-state update and `evaluated_at IS NULL` keep it
   idempotent: a redelivered batch finds its rows evaluated and writes nothing.

Each change's outcome is therefore the single path's, evaluated in the batch's
order at the batch's `now` (`tests/evaluator/test_batch_equivalence.py` checks it
on random histories). The reports come back one per change, in the batch's order.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from pricealert.repositories.evaluation import (
    Changes,
    NewNotification,
    ProductRef,
    RuleRow,
    RuleState,
)
from pricealert.repositories.evaluation_batch import BatchEvaluationRepository, ProductChanges
from services.evaluator.evaluate import (
    CAP_WINDOW,
    Budget,
    EvaluationReport,
    Step,
    decide,
    settle,
    sms_users,
)
from services.evaluator.rules import Outcome


@dataclass
class _Part:
    """One change of the batch: its rows, decisions, and the rule states that took."""

    product: ProductRef | None
    steps: list[Step]
    #: Rules whose state this change moved on (the single path's guarded update matched).
    took: set[uuid.UUID]
    report: EvaluationReport


class _Cursor:
    """Hands out one product's rows change by change, each with what it is compared with."""

    def __init__(self, of: ProductChanges) -> None:
        self.of = of
        self.taken = 0

    def through(self, history_id: int) -> Changes | None:
        """The rows the change ending at `history_id` evaluates (None: none left)."""
        end = self.of.targets.get(history_id)
        pending = self.of.pending
        if end is None:
            return None
        start = self.taken
        stop = start
        while stop < len(pending) and (pending[stop].first_seen_at, pending[stop].id) <= end:
            stop += 1
        if stop == start:
            return None
        self.taken = stop
        if start == 0:
            return Changes(pending[start:stop], self.of.previous, self.of.last_priced)
        first = pending[start]
        key = (first.first_seen_at, first.id)
        before = sorted(
            (r for r in [*pending[:start], *self.of.settled] if (r.first_seen_at, r.id) < key),
            key=lambda r: (r.first_seen_at, r.id),
        )
        priced = [r for r in before if r.state.price is not None]
        last_priced = priced[-1] if priced else self.of.last_priced
        return Changes(pending[start:stop], before[-1], last_priced)


def _decide_part(
    current: dict[uuid.UUID, RuleRow],
    order: list[uuid.UUID],
    changes: Changes,
    lowest: Mapping[int, Decimal | None] | None,
) -> tuple[list[Step], set[uuid.UUID]]:
    """Decide one change with the rules as they stand, and move them on as `record` would."""
    rules = [current[rule_id] for rule_id in order]
    steps = decide(rules, changes, lowest)
    final: dict[uuid.UUID, tuple[dict[str, Any], int]] = {}
    for step in steps:
        final[step.rule.id] = (step.decision.state, step.row.id)
    took: set[uuid.UUID] = set()
    for rule_id, (state, history_id) in final.items():
        rule = current[rule_id]
        if int(rule.state.get("history_id") or 0) < history_id:
            # `dataclasses.replace`, written out: it walks the fields on every call
            current[rule_id] = RuleRow(
                rule.id, rule.user_id, rule.watch_id, rule.kind, rule.threshold,
                rule.cooldown_seconds, {**state, "history_id": history_id},
                rule.last_fired_at, rule.created_at, rule.channels,
            )  # fmt: skip
            took.add(rule_id)
    return steps, took


async def evaluate_batch(
    session: AsyncSession, changes: Sequence[tuple[int, int]], *, now: datetime
) -> list[EvaluationReport]:
    """Evaluate the (product id, history id) `changes` (see the module doc); one report each."""
    repo = BatchEvaluationRepository(session)
    rules_of = await repo.lock_rules_of([product_id for product_id, _ in changes])
    lowest = [
        product_id
        for product_id, (_product, rules) in rules_of.items()
        if any(rule.kind == "lowest_ever" for rule in rules)
    ]
    rows_of = await repo.changes_of(changes, lowest)
    cursors = {product_id: _Cursor(of) for product_id, of in rows_of.items()}
    current = {rule.id: rule for _p, rules in rules_of.values() for rule in rules}
    original = dict(current)
    parts: list[_Part] = []
    reports: list[EvaluationReport] = []
    for product_id, history_id in changes:
        report = EvaluationReport()
        reports.append(report)
        cursor = cursors.get(product_id)
        taken = cursor.through(history_id) if cursor is not None else None
        if taken is None:
            continue
        report.rows = [row.id for row in taken.rows]
        product, rules = rules_of.get(product_id, (None, []))
        steps: list[Step] = []
        took: set[uuid.UUID] = set()
        if rules and product is not None:
            order = [rule.id for rule in rules]
            steps, took = _decide_part(current, order, taken, rows_of[product_id].lowest)
        parts.append(_Part(product, steps, took, report))
    if not parts:
        return reports
    fired = [s for p in parts for s in p.steps if s.decision.outcome is Outcome.FIRED]
    firing = sorted({s.rule.user_id for s in fired})
    usage = await repo.cap_usage(await repo.lock_users(firing), now - CAP_WINDOW, sms_users(fired))
    budgets = {user_id: Budget.of(used) for user_id, used in usage.items()}
    last_fired = {rule_id: rule.last_fired_at for rule_id, rule in original.items()}
    notifications: list[NewNotification] = []
    by_part: list[list[NewNotification]] = []
    moved: set[uuid.UUID] = set()
    for part in parts:
        made: list[NewNotification] = []
        if part.product is not None and part.steps:
            seen = {s.rule.id: last_fired[s.rule.id] for s in part.steps}
            made, states = settle(part.product, part.steps, part.report, budgets, seen)
            for state in states:
                if state.rule_id in part.took and state.fired_at is not None:
                    last_fired[state.rule_id] = state.fired_at
            moved |= part.took
        by_part.append(made)
        notifications += made
    states = [
        RuleState(
            rule_id,
            current[rule_id].state,
            int(current[rule_id].state["history_id"]),
            None if last_fired[rule_id] == original[rule_id].last_fired_at else last_fired[rule_id],
        )
        for rule_id in sorted(moved)
    ]
    history_ids = [row_id for part in parts for row_id in part.report.rows]
    inserted = await repo.record(notifications, states, history_ids, now)
    for part, made in zip(parts, by_part, strict=True):
        part.report.count_inserted(made, inserted)
    return reports
