"""A batch decides every change exactly as evaluating the changes one by one would.

Hypothesis draws users (daily and SMS caps), channels (some disabled), products (in
three currencies), rules of every kind (thresholds, cooldowns, made before or after
some changes), price histories (prices around the thresholds, currency changes,
stock changes, suspicious rows, rows recorded out of time order, rows already
evaluated) and evaluation batches (several changes of one product, in any order,
changes already evaluated, a history row named with another product). Each scenario
is built once in real PostgreSQL, then run twice from the same state inside
savepoints: every change in a unit of work of its own (`evaluate.evaluate_changes`,
the path as it was), and every batch in one (`batch.evaluate_batch`); then every
batch is delivered again. Both runs must leave the same notifications (statuses,
reasons, payloads), rule states, cooldown clocks and evaluated rows, and report the
same per change.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from pricealert.availability import Availability
from pricealert.db import session_scope
from pricealert.models import AlertRule, PriceHistory
from services.evaluator.batch import evaluate_batch
from services.evaluator.evaluate import EvaluationReport, evaluate_changes
from tests import factories as make
from tests.factories import T0

KINDS = ("below", "drop_percent", "change", "back_in_stock", "lowest_ever")
PRICES = ("80", "89.99", "90", "90.5", "95", "99.99", "100", "100.01", "101", "120")
THRESHOLDS = {"below": ("90", "100", "95.5"), "drop_percent": ("5", "10", "20")}
AVAILABILITY = (
    Availability.IN_STOCK,
    Availability.OUT_OF_STOCK,
    Availability.PRE_ORDER,
    Availability.LIMITED_AVAILABILITY,
    None,
)


@dataclass(frozen=True)
class Observed:
    product: int
    price: str | None
    currency: str
    availability: Availability | None
    minute: int
    suspicious: bool
    evaluated: bool


@dataclass(frozen=True)
class RuleSpec:
    user: int
    product: int
    kind: str
    threshold: str | None
    channels: tuple[int, ...]
    cooldown_seconds: int
    made_at_minute: int
    enabled: bool


@dataclass(frozen=True)
class Scenario:
    users: tuple[tuple[int, int], ...]  # (daily cap, SMS cap)
    channels: tuple[tuple[int, str, bool], ...]  # (user, kind, enabled)
    products: tuple[str, ...]  # first price's currency
    rules: tuple[RuleSpec, ...]
    rows: tuple[Observed, ...]
    #: Each batch: (product named, row named: index into `rows` or -1-product for its
    #: first row) pairs; then the hours from the previous batch to this one's `now`.
    batches: tuple[tuple[tuple[tuple[int, int], ...], int], ...]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    users = draw(
        st.lists(
            st.tuples(st.sampled_from((0, 1, 2, 3, 100)), st.sampled_from((0, 1, 2, 100))),
            min_size=1,
            max_size=2,
        )
    )
    channels = [
        (owner, kind, enabled)
        for owner in range(len(users))
        for kind, enabled in draw(
            st.lists(
                st.tuples(
                    st.sampled_from(("webhook", "sms", "email")),
                    st.sampled_from((True, True, True, False)),
                ),
                min_size=1,
                max_size=3,
            )
        )
    ]
    products = draw(st.lists(st.sampled_from(("USD", "USD", "USD", "JPY")), min_size=1, max_size=2))
    rules: list[RuleSpec] = []
    for _ in range(draw(st.integers(1, 6))):
        user = draw(st.integers(0, len(users) - 1))
        own = [i for i, (owner, _k, _e) in enumerate(channels) if owner == user]
        kind = draw(st.sampled_from(("change", *KINDS)))  # the kind that fires most, twice
        threshold = draw(st.sampled_from(THRESHOLDS[kind])) if kind in THRESHOLDS else None
        rules.append(
            RuleSpec(
                user=user,
                product=draw(st.integers(0, len(products) - 1)),
                kind=kind,
                threshold=threshold,
                channels=tuple(sorted(set(draw(st.lists(st.sampled_from(own), min_size=1))))),
                cooldown_seconds=draw(st.sampled_from((0, 1800, 3600, 7200, 86400))),
                made_at_minute=draw(st.sampled_from((0,) * 5 + (30, 90))),
                enabled=draw(st.booleans() | st.just(True)),
            )
        )
    rows = draw(
        st.lists(
            st.builds(
                Observed,
                product=st.integers(0, len(products) - 1),
                price=st.sampled_from((*PRICES, None)),
                currency=st.sampled_from(("USD",) * 8 + ("EUR", "JPY")),
                availability=st.sampled_from(AVAILABILITY),
                minute=st.integers(1, 180),
                suspicious=st.sampled_from((False,) * 9 + (True,)),
                evaluated=st.sampled_from((False,) * 9 + (True,)),
            ),
            min_size=3,
            max_size=12,
        )
    )
    # A change names a row and (mostly) its product; -1-p names product p's first row.
    named = st.integers(-len(products), len(rows) - 1)
    mismatch = st.sampled_from((False,) * 9 + (True,))
    ref = st.tuples(named, mismatch, st.integers(0, len(products) - 1)).map(
        lambda r: (r[2] if r[1] else (rows[r[0]].product if r[0] >= 0 else -1 - r[0]), r[0])
    )
    batches = draw(
        st.lists(
            st.tuples(st.lists(ref, min_size=2, max_size=8).map(tuple), st.integers(0, 30)),
            min_size=1,
            max_size=3,
        )
    )
    return Scenario(
        users=tuple(users),
        channels=tuple(channels),
        products=tuple(products),
        rules=tuple(rules),
        rows=tuple(rows),
        batches=tuple(batches),
    )


async def build(session: AsyncSession, scenario: Scenario) -> list[list[tuple[int, int]]]:
    """The scenario's rows; the batches as (product id, history id) pairs."""
    users = [
        await make.user(session, daily_notification_cap=cap, daily_sms_cap=sms)
        for cap, sms in scenario.users
    ]
    channels = [
        await make.channel(
            session,
            users[owner],
            kind,
            enabled=enabled,
            disabled_reason=None if enabled else "bounced",
        )
        for owner, kind, enabled in scenario.channels
    ]
    products = [await make.product(session, "100", currency) for currency in scenario.products]
    firsts = [
        await session.scalar(select(PriceHistory.id).where(PriceHistory.product_id == item.id))
        for item in products
    ]
    for spec in scenario.rules:
        await make.rule(
            session,
            users[spec.user],
            products[spec.product],
            spec.kind,
            spec.threshold,
            [channels[i] for i in spec.channels],
            created_at=T0 + timedelta(minutes=spec.made_at_minute, seconds=1),
            cooldown_seconds=spec.cooldown_seconds,
            enabled=spec.enabled,
        )
    history: list[PriceHistory] = []
    for row in scenario.rows:
        observed = await make.observe(
            session,
            products[row.product],
            row.price,
            row.currency if row.price is not None else None,
            row.availability,
            at=T0 + timedelta(minutes=row.minute),
            suspicious=row.suspicious,
        )
        if row.evaluated:
            observed.evaluated_at = T0
        history.append(observed)
    await session.flush()
    batches: list[list[tuple[int, int]]] = []
    for refs, _hours in scenario.batches:
        pairs = []
        for product, index in refs:
            history_id = history[index].id if index >= 0 else firsts[-1 - index]
            assert history_id is not None
            pairs.append((products[product].id, history_id))
        batches.append(pairs)
    return batches


def summary(report: EvaluationReport) -> tuple[Any, ...]:
    return (
        report.rows,
        dict(report.results),
        Counter(kind for _id, kind in report.created),
        dict(report.withheld),
    )


async def outcome(connection: AsyncConnection) -> dict[str, Any]:
    """Everything an evaluation writes, without what differs by construction (new ids,
    `updated_at` set by the transaction's clock)."""
    notifications = await connection.execute(
        text(
            "SELECT rule_id, channel_id, history_id, user_id, product_id, channel_kind,"
            " rule_kind, status, last_error, payload, detected_at, next_attempt_at, created_at"
            " FROM notification ORDER BY rule_id, channel_id, history_id"
        )
    )
    rows = []
    for row in notifications.mappings():
        fields = dict(row)
        del fields["payload"]["data"]["notification_id"]
        rows.append(fields)
    rules = await connection.execute(
        select(AlertRule.id, AlertRule.state, AlertRule.last_fired_at).order_by(AlertRule.id)
    )
    history = await connection.execute(
        select(PriceHistory.id, PriceHistory.evaluated_at).order_by(PriceHistory.id)
    )
    return {
        "notifications": rows,
        "rules": [tuple(r) for r in rules],
        "history": [tuple(r) for r in history],
    }


async def run_single(
    sm: async_sessionmaker[AsyncSession], batches: list[list[tuple[int, int]]], nows: list[datetime]
) -> list[list[tuple[Any, ...]]]:
    reports = []
    for pairs, now in zip(batches, nows, strict=True):
        done = []
        for product_id, history_id in pairs:
            async with session_scope(sm) as session:
                done.append(
                    summary(await evaluate_changes(session, product_id, history_id, now=now))
                )
        reports.append(done)
    return reports


async def run_batches(
    sm: async_sessionmaker[AsyncSession], batches: list[list[tuple[int, int]]], nows: list[datetime]
) -> list[list[tuple[Any, ...]]]:
    reports = []
    for pairs, now in zip(batches, nows, strict=True):
        async with session_scope(sm) as session:
            reports.append([summary(r) for r in await evaluate_batch(session, pairs, now=now)])
    return reports


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios())
async def test_a_batch_decides_every_change_as_evaluating_each_alone_would(
    engine: AsyncEngine, scenario: Scenario
) -> None:
    async with engine.connect() as connection:
        outer = await connection.begin()
        try:
            sm = async_sessionmaker(
                bind=connection,
                join_transaction_mode="create_savepoint",
                expire_on_commit=False,
                autoflush=False,
            )
            async with sm() as session:
                batches = await build(session, scenario)
                await session.commit()
            nows, now = [], T0 + timedelta(hours=4)
            for _refs, hours in scenario.batches:
                now += timedelta(hours=hours)
                nows.append(now)
            runs = []
            for path in (run_single, run_batches):
                savepoint = await connection.begin_nested()
                reports = await path(sm, batches, nows)
                again = await path(sm, batches, [n + timedelta(minutes=1) for n in nows])
                runs.append((reports, again, await outcome(connection)))
                await savepoint.rollback()
        finally:
            await outer.rollback()

    (single, single_again, single_outcome), (batch, batch_again, batch_outcome) = runs
    for status in sorted({n["status"] for n in single_outcome["notifications"]}):
        event(f"a notification {status}")
    for run in single:
        for report in run:
            for kind, result in report[1]:
                event(f"{kind} {result}")
    if any(sum(1 for r in run if r[0]) > 1 for run in single):
        event("a batch of several changes evaluating rows")
    assert batch_outcome == single_outcome
    assert batch == single
    assert batch_again == single_again
    assert all(report[2] == Counter() for run in batch_again for report in run)
