"""A batch of changes in shared statements: how many, what a failure costs, races."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from arq.connections import ArqRedis
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from pricealert.db import create_sessionmaker, session_scope
from pricealert.models import AlertRule, Notification, PriceHistory
from pricealert.queues import EvaluateChange, EvaluateChanges
from pricealert.repositories.evaluation_batch import _CHANGES_OF
from services.evaluator.batch import evaluate_batch
from services.evaluator.evaluate import evaluate_changes as evaluate_changes_of_product
from services.evaluator.settings import EvaluatorSettings
from services.evaluator.tasks import evaluate_changes
from tests import factories as make
from tests.factories import T0

NOW = T0 + timedelta(hours=6)


@contextmanager
def statements(connection: AsyncConnection) -> Iterator[list[str]]:
    """The SQL statements run on `connection` meanwhile (savepoints left out)."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        statement = str(args[2]).lstrip()
        if not statement.upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            seen.append(statement)

    target = connection.sync_connection
    assert target is not None
    event.listen(target, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(target, "before_cursor_execute", record)


async def watched_changes(session: AsyncSession, count: int, kind: str = "change") -> list[Any]:
    """`count` products, each watched by its own user with a `kind` rule on a webhook, each
    with one new price recorded: the batch's changes as (product id, history id)."""
    changes = []
    for _ in range(count):
        owner = await make.user(session)
        hook = await make.channel(session, owner, "webhook")
        item = await make.product(session, "100")
        await make.rule(session, owner, item, kind, "95" if kind == "below" else None, [hook])
        row = await make.observe(session, item, "90", at=T0 + timedelta(hours=1))
        changes.append((item.id, row.id))
    return changes


@pytest.mark.parametrize("size", [2, 12])
async def test_a_batch_costs_five_statements_however_many_changes_it_holds(
    db_session: AsyncSession,
    db_connection: AsyncConnection,
    sessionmaker: async_sessionmaker[AsyncSession],
    size: int,
) -> None:
    changes = await watched_changes(db_session, size, "lowest_ever")
    changes += await watched_changes(db_session, size, "below")
    await db_session.commit()

    with statements(db_connection) as seen:
        async with session_scope(sessionmaker) as session:
            reports = await evaluate_batch(session, changes, now=NOW)

    # rules, rows (with each one's lowest earlier price), firing users, their caps, the write
    assert len(seen) == 5, seen
    assert [len(r.created) for r in reports] == [1] * 2 * size  # 90 is a new low, and below 95


async def test_a_batch_of_evaluated_changes_reads_twice_and_writes_nothing(
    db_session: AsyncSession,
    db_connection: AsyncConnection,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    changes = await watched_changes(db_session, 3)
    await db_session.commit()
    async with session_scope(sessionmaker) as session:
        first = await evaluate_batch(session, changes, now=NOW)

    with statements(db_connection) as seen:
        async with session_scope(sessionmaker) as session:
            again = await evaluate_batch(session, changes, now=NOW + timedelta(minutes=1))

    assert [len(r.created) for r in first] == [1, 1, 1]
    assert [(r.rows, r.created) for r in again] == [([], [])] * 3
    assert len(seen) == 2  # a redelivered batch finds its rows evaluated: no write at all


async def test_a_batch_takes_each_changes_rows_in_the_batchs_order(
    db_session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    owner = await make.user(db_session)
    hook = await make.channel(db_session, owner, "webhook")
    item = await make.product(db_session, "100")
    await make.rule(db_session, owner, item, "change", None, [hook], cooldown_seconds=5400)
    rows = [
        await make.observe(db_session, item, price, at=T0 + timedelta(hours=hours))
        for price, hours in (("90", 1), ("80", 2), ("70", 3))
    ]
    await db_session.commit()
    named = [(item.id, rows[1].id), (item.id, rows[0].id), (item.id, rows[2].id)]

    async with session_scope(sessionmaker) as session:
        reports = await evaluate_batch(session, named, now=NOW)

    # The first change takes the rows up to its own (and the earlier one left behind),
    # the second finds nothing left, the third its own row, 2 h after the first fire.
    assert [r.rows for r in reports] == [[rows[0].id, rows[1].id], [], [rows[2].id]]
    assert [dict(r.results) for r in reports] == [
        {("change", "fired"): 1, ("change", "cooldown"): 1},
        {},
        {("change", "fired"): 1},
    ]


async def test_a_failing_change_fails_alone_and_the_rest_of_its_batch_is_evaluated(
    db_session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    changes = await watched_changes(db_session, 3)
    broken = await db_session.scalar(select(AlertRule).where(AlertRule.product_id == changes[1][0]))
    assert broken is not None
    broken.kind, broken.threshold = "below", Decimal("95")
    broken.state = {"created_price": "not a number"}  # as if written by hand: rules raise
    await db_session.commit()
    ctx = {"sessionmaker": sessionmaker, "redis": redis, "settings": EvaluatorSettings()}
    job = EvaluateChanges(
        changes=tuple(EvaluateChange(product_id=p, history_id=h) for p, h in changes)
    )

    assert await evaluate_changes(ctx, job) == 2

    async with sessionmaker() as session:
        unevaluated = list(
            await session.scalars(
                select(PriceHistory.id).where(PriceHistory.evaluated_at.is_(None))
            )
        )
    assert unevaluated == [changes[1][1]]  # left to the sweeper, as a single change would be


@pytest.fixture
async def committed(fresh_database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_async_engine(fresh_database_url, pool_size=4)
    yield create_sessionmaker(engine)
    await engine.dispose()


async def test_batches_and_single_jobs_racing_on_the_same_products_notify_each_change_once(
    committed: async_sessionmaker[AsyncSession],
) -> None:
    async with session_scope(committed) as session:
        changes = await watched_changes(session, 6)
    batches = [changes, changes[::-1], changes[1::2], changes[:3]]

    async def run(pairs: list[tuple[int, int]]) -> int:
        # No fallback here: a deadlock or a unique violation would fail the test.
        async with session_scope(committed) as session:
            reports = await evaluate_batch(session, pairs, now=NOW)
        return sum(len(report.created) for report in reports)

    async def run_one(product_id: int, history_id: int) -> int:
        # The sweeper's single jobs take the same locks in the same order.
        async with session_scope(committed) as session:
            report = await evaluate_changes_of_product(session, product_id, history_id, now=NOW)
        return len(report.created)

    created = await asyncio.gather(
        *(run(b) for b in batches),
        *(run_one(p, h) for p, h in changes[::-1]),
        *(run(b) for b in batches[::-1]),
    )

    assert sum(created) == 6
    async with committed() as session:
        count = await session.scalar(select(func.count()).select_from(Notification))
    assert count == 6


async def test_a_batch_reads_each_products_rows_in_flight_by_product(
    fresh_database_url: str,
) -> None:
    # The rows to evaluate come from `ix_price_history_unevaluated_product`, a product at a
    # time: not from the sweeper's index, which holds every product's rows in flight, nor
    # from the product's whole history. Shaped as in production — each product's history
    # long and evaluated, a backlog of other products' rows in flight — with statistics, on a
    # database of its own (nothing other tests left), so the plan is the planner's real
    # choice (on a handful of rows any index costs the same).
    engine = create_async_engine(fresh_database_url)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as db_session:
            plan = await _plan_of_the_rows_in_flight(db_session)
    finally:
        await engine.dispose()

    used = re.findall(r'"Index Name": "(\w+)"', json.dumps(plan))
    assert "ix_price_history_unevaluated_product" in used, used


async def _plan_of_the_rows_in_flight(db_session: AsyncSession) -> Any:
    changes = await watched_changes(db_session, 2)
    backlog = [(await make.product(db_session)).id for _ in range(40)]
    await db_session.flush()
    connection = await db_session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    history = (
        "INSERT INTO price_history (product_id, price, currency, first_seen_at, last_seen_at,"
        " evaluated_at)"
        " SELECT p, 100, 'JPY', t, t, CASE WHEN $4 THEN t END FROM unnest($1::bigint[]) AS p,"
        " generate_series(1, $3::int) AS n, LATERAL (SELECT $2::timestamptz - n * interval"
        " '1 hour' AS t) AS at"
    )
    targets = [product_id for product_id, _ in changes]
    await driver.execute(history, targets, T0, 5000, True)  # a long evaluated history
    await driver.execute(history, backlog, T0, 50, False)  # 2 000 rows in flight
    await db_session.commit()
    connection = await db_session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    await driver.execute("ANALYZE price_history")
    params = {
        "product_ids": [product_id for product_id, _ in changes],
        "history_ids": [history_id for _, history_id in changes],
        "lowest": [],
    }
    plan = await driver.fetchval(
        "EXPLAIN (FORMAT JSON) " + _CHANGES_OF.sql, *[params[n] for n in _CHANGES_OF.names]
    )
    return plan
