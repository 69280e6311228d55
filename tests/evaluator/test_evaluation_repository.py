"""The evaluator's statements on their own: what each one loads, counts and writes."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from pricealert.availability import Availability
from pricealert.models import AlertRule, Channel, Notification, PriceHistory
from pricealert.observed import ObservedState
from pricealert.repositories.evaluation import (
    CapUsage,
    EvaluationRepository,
    NewNotification,
    RuleState,
)
from tests import factories as make
from tests.factories import T0


async def test_lock_rules_gives_each_enabled_rule_once_with_its_channels_in_id_order(
    db_session: AsyncSession,
) -> None:
    owner = await make.user(db_session)
    item = await make.product(db_session, "100")
    channels = [await make.channel(db_session, owner, kind) for kind in ("email", "webhook")]
    both = await make.rule(db_session, owner, item, "below", "90", channels)
    bare = await make.rule(db_session, owner, item, "change")
    await make.rule(db_session, owner, item, "lowest_ever", None, channels, enabled=False)

    product, rules = await EvaluationRepository(db_session).lock_rules(item.id)

    assert product is not None
    assert (product.id, product.url, product.title) == (item.id, item.url, item.title)
    assert [rule.id for rule in rules] == sorted([both.id, bare.id])
    by_id = {rule.id: rule for rule in rules}
    assert [c.id for c in by_id[both.id].channels] == sorted(c.id for c in channels)
    assert {c.kind for c in by_id[both.id].channels} == {"email", "webhook"}
    assert by_id[bare.id].channels == ()
    assert by_id[both.id].threshold == Decimal("90")
    assert by_id[both.id].state["created_price"] == "100"


async def test_lock_rules_of_a_product_without_rules_is_empty(db_session: AsyncSession) -> None:
    item = await make.product(db_session, "100")

    assert await EvaluationRepository(db_session).lock_rules(item.id) == (None, [])


async def test_changes_through_gives_the_unevaluated_rows_up_to_the_target_and_what_came_before(
    db_session: AsyncSession,
) -> None:
    item = await make.product(db_session, "100")  # evaluated, priced
    unpriced = await make.observe(
        db_session, item, None, None, Availability.SOLD_OUT, at=T0 + timedelta(hours=1)
    )
    unpriced.evaluated_at = T0 + timedelta(hours=1)
    first = await make.observe(db_session, item, "90", at=T0 + timedelta(hours=2))
    target = await make.observe(db_session, item, "80", at=T0 + timedelta(hours=3))
    await make.observe(db_session, item, "70", at=T0 + timedelta(hours=4))  # after the target
    priced = await db_session.scalar(
        select(PriceHistory).where(PriceHistory.product_id == item.id).order_by(PriceHistory.id)
    )
    assert priced is not None

    changes = await EvaluationRepository(db_session).changes_through(item.id, target.id)

    assert [row.id for row in changes.rows] == [first.id, target.id]
    assert [row.state for row in changes.rows] == [
        ObservedState(Decimal("90"), "USD", Availability.IN_STOCK),
        ObservedState(Decimal("80"), "USD", Availability.IN_STOCK),
    ]
    assert changes.previous is not None
    assert (changes.previous.id, changes.previous.state) == (
        unpriced.id, ObservedState(None, None, Availability.SOLD_OUT),
    )  # fmt: skip
    assert changes.last_priced is not None
    assert (changes.last_priced.id, changes.last_priced.state.price) == (priced.id, Decimal("100"))


async def test_changes_through_another_products_row_or_an_evaluated_one_is_nothing(
    db_session: AsyncSession,
) -> None:
    item, other = await make.product(db_session, "100"), await make.product(db_session, "5")
    row = await make.observe(db_session, other, "4", at=T0 + timedelta(hours=1))
    repo = EvaluationRepository(db_session)

    assert (await repo.changes_through(item.id, row.id)).rows == []
    row.evaluated_at = T0 + timedelta(hours=1)
    await db_session.flush()
    assert (await repo.changes_through(other.id, row.id)).rows == []


def _sent(rule: AlertRule, channel: Channel, status: str, at: datetime) -> Notification:
    """A notification of `rule` made at `at` (no history row: the unique key never clashes)."""
    return Notification(
        user_id=rule.user_id, rule_id=rule.id, channel_id=channel.id,
        product_id=rule.product_id, channel_kind=channel.kind, rule_kind=rule.kind,
        status=status, payload={}, detected_at=at, created_at=at,
    )  # fmt: skip


async def test_cap_usage_counts_pending_and_sent_within_the_window_no_further_than_each_cap(
    db_session: AsyncSession,
) -> None:
    owner = await make.user(db_session, daily_notification_cap=3, daily_sms_cap=5)
    item = await make.product(db_session, "100")
    sms, hook = await make.channel(db_session, owner, "sms"), await make.channel(db_session, owner)
    alert = await make.rule(db_session, owner, item, "change", None, [sms, hook])
    since = T0
    db_session.add_all(
        [
            _sent(alert, sms, "sent", since + timedelta(minutes=1)),
            _sent(alert, sms, "pending", since + timedelta(minutes=2)),
            _sent(alert, hook, "sent", since + timedelta(minutes=3)),
            _sent(alert, hook, "pending", since + timedelta(minutes=4)),
            _sent(alert, hook, "failed", since + timedelta(minutes=5)),  # never counts
            _sent(alert, sms, "capped", since + timedelta(minutes=6)),  # never counts
            _sent(alert, sms, "sent", since - timedelta(minutes=1)),  # before the window
        ]
    )
    await db_session.flush()
    repo = EvaluationRepository(db_session)

    assert await repo.lock_users([owner.id]) == [owner.id]
    usage = (await repo.cap_usage([owner.id], since))[owner.id]

    assert (usage.daily_cap, usage.sms_cap) == (3, 5)
    assert usage.total == 3  # four count, but three already reach the cap
    assert usage.sms == 2
    # SMS are counted only for the users asked for (the others are sent no SMS)
    assert (await repo.cap_usage([owner.id], since, {owner.id}))[owner.id] == usage
    assert (await repo.cap_usage([owner.id], since, set()))[owner.id] == CapUsage(3, 5, 3, 0)


async def test_record_writes_notifications_once_and_never_moves_a_rule_state_back(
    db_session: AsyncSession,
) -> None:
    owner = await make.user(db_session)
    item = await make.product(db_session, "100")
    hook = await make.channel(db_session, owner)
    alert = await make.rule(db_session, owner, item, "change", None, [hook])
    older = await make.observe(db_session, item, "90", at=T0 + timedelta(hours=1))
    newer = await make.observe(db_session, item, "80", at=T0 + timedelta(hours=2))
    now = T0 + timedelta(hours=3)
    notification = NewNotification(
        id=uuid.uuid4(), product_id=item.id, user_id=owner.id, rule_id=alert.id, channel_id=hook.id,
        history_id=newer.id, channel_kind="webhook", rule_kind="change", status="pending",
        last_error=None, payload={"type": "price.alert", "data": {"n": "1.10"}},
        detected_at=newer.first_seen_at,
    )  # fmt: skip
    repo = EvaluationRepository(db_session)

    inserted = await repo.record(
        [notification], [RuleState(alert.id, {"k": "v"}, newer.id, now)], [newer.id], now
    )
    again = await repo.record(
        [NewNotification(**{**_fields(notification), "id": uuid.uuid4()})],
        [RuleState(alert.id, {"k": "old"}, older.id, None)],
        [newer.id, older.id],
        now + timedelta(minutes=1),
    )

    assert inserted == {notification.id}
    assert again == set()
    stored = await db_session.get_one(Notification, notification.id, populate_existing=True)
    assert (stored.status, stored.payload, stored.product_id) == (
        "pending", {"type": "price.alert", "data": {"n": "1.10"}}, item.id,
    )  # fmt: skip
    assert (stored.created_at, stored.next_attempt_at) == (now, now)
    rule = await db_session.get_one(AlertRule, alert.id, populate_existing=True)
    assert rule.state == {"k": "v", "history_id": newer.id}
    assert rule.last_fired_at == now
    marks = {
        row.id: row.evaluated_at
        for row in await db_session.scalars(
            select(PriceHistory)
            .where(PriceHistory.id.in_([older.id, newer.id]))
            .execution_options(populate_existing=True)
        )
    }
    assert marks == {newer.id: now, older.id: now + timedelta(minutes=1)}


def _fields(notification: NewNotification) -> dict[str, Any]:
    return {name: getattr(notification, name) for name in NewNotification.__slots__}


async def test_a_driver_statement_first_in_a_unit_of_work_runs_in_its_transaction(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as connection, AsyncSession(bind=connection) as session:
        owner = await connection.scalar(
            text("INSERT INTO app_user (id, email) VALUES (gen_random_uuid(), 'd@x.example')"
                 " RETURNING id")
        )  # fmt: skip
        await connection.commit()  # nothing begun now: the next statement is the first

        assert await EvaluationRepository(session).lock_users([owner]) == [owner]

        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        assert driver.is_in_transaction()  # the user stays locked
        await session.rollback()
        await connection.execute(text("DELETE FROM app_user WHERE id = :id"), {"id": owner})
        await connection.commit()
