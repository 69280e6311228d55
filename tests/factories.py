"""Rows for the evaluator, notifier, scraper and API tests, made the way the API, the
scraper and the evaluator make them (the arrange steps the suites share)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from arq.connections import ArqRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pricealert import queues
from pricealert.availability import Availability
from pricealert.models import AlertRule, Channel, Notification, PriceHistory, Product, User, Watch
from pricealert.models import alert_rule_channel as rule_channel
from pricealert.queues import NOTIFY_QUEUE

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


async def user(session: AsyncSession, **fields: Any) -> User:
    fields.setdefault("email", f"{uuid.uuid4().hex[:10]}@example.com")
    row = User(**fields)
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return row


async def product(
    session: AsyncSession,
    price: str | None = "100",
    currency: str | None = "USD",
    availability: Availability | None = Availability.IN_STOCK,
    *,
    at: datetime = T0,
) -> Product:
    """A product with its first observation already recorded (and evaluated)."""
    row = Product(
        url=f"https://shop.example/p/{uuid.uuid4().hex[:8]}",
        domain="shop.example",
        check_interval_seconds=3600,
        title="Walnut desk lamp",
    )
    session.add(row)
    await session.flush()
    if price is not None or availability is not None:
        first = await observe(session, row, price, currency, availability, at=at)
        first.evaluated_at = at
        await session.flush()
    return row


async def watch(session: AsyncSession, owner: User, item: Product) -> Watch:
    existing = await session.scalar(
        select(Watch).where(Watch.user_id == owner.id, Watch.product_id == item.id)
    )
    if existing is not None:
        return existing
    row = Watch(user_id=owner.id, product_id=item.id, check_interval_seconds=3600)
    session.add(row)
    await session.flush()
    return row


async def channel(
    session: AsyncSession,
    owner: User,
    kind: str = "webhook",
    target: str | None = None,
    **fields: Any,
) -> Channel:
    default = {
        "email": "someone@example.com",
        "sms": "+819012345678",
        "slack": "https://hooks.slack.example/services/T/B/x",
        "webhook": "https://hooks.example/pricealert",
    }[kind]
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" if kind == "webhook" else None
    # Verified unless the test says otherwise (`verified_at=None`: deliveries are held).
    fields.setdefault("verified_at", datetime.now(UTC))
    row = Channel(user_id=owner.id, kind=kind, target=target or default, secret=secret, **fields)
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return row


async def rule(
    session: AsyncSession,
    owner: User,
    item: Product,
    kind: str,
    threshold: str | None = None,
    channels: list[Channel] = (),  # type: ignore[assignment]
    *,
    created_at: datetime = T0 + timedelta(seconds=1),
    **fields: Any,
) -> AlertRule:
    """A rule made the way the API makes it (state from the product as it is now)."""
    watched = await watch(session, owner, item)
    row = AlertRule(
        user_id=owner.id,
        watch_id=watched.id,
        product_id=item.id,
        kind=kind,
        threshold=None if threshold is None else Decimal(threshold),
        state={
            "created_price": None if item.price is None else str(item.price),
            "created_currency": item.currency,
            "created_in_stock": item.in_stock,
        },
        created_at=created_at,
        **fields,
    )
    session.add(row)
    await session.flush()
    if channels:
        await session.execute(
            rule_channel.insert(), [{"rule_id": row.id, "channel_id": c.id} for c in channels]
        )
    await session.refresh(row)
    return row


async def observe(
    session: AsyncSession,
    item: Product,
    price: str | None,
    currency: str | None = "USD",
    availability: Availability | None = Availability.IN_STOCK,
    *,
    at: datetime,
    suspicious: bool = False,
) -> PriceHistory:
    """What the scraper does on a change: a new history row, and the product updated."""
    row = PriceHistory(
        product_id=item.id,
        price=None if price is None else Decimal(price),
        currency=currency,
        availability=availability,
        first_seen_at=at,
        last_seen_at=at,
        suspicious=suspicious,
    )
    session.add(row)
    item.price, item.currency, item.availability = row.price, currency, availability
    item.last_changed_at = at
    await session.flush()
    await session.refresh(row)
    await session.refresh(item)  # in_stock is derived by PostgreSQL
    return row


async def pending(
    session: AsyncSession,
    channel: Channel,
    owner: User,
    payload: dict[str, Any] | None = None,
    **fields: Any,
) -> Notification:
    """A pending notification as the evaluator (or the API's test endpoint) leaves it."""
    now = datetime.now(UTC)
    row = Notification(
        user_id=owner.id,
        channel_id=channel.id,
        channel_kind=channel.kind,
        rule_kind=fields.pop("rule_kind", "test"),
        payload=payload or {"type": "channel.test", "message": "PriceAlert test notification"},
        detected_at=fields.pop("detected_at", now),
        next_attempt_at=fields.pop("next_attempt_at", now),
        **fields,
    )
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return row


async def queued_deliveries(redis: ArqRedis) -> set[str]:
    """The notification ids the notify queue's jobs (single or batch) will deliver."""
    ids: set[str] = set()
    for member in await redis.zrange(NOTIFY_QUEUE, 0, -1):
        body = await redis.get(f"arq:job:{member.decode()}")
        assert body is not None, f"{member!r} is queued without its job"
        [payload] = queues.deserializer(body)["a"]
        ids.update(payload.get("notification_ids") or [payload["notification_id"]])
    return ids
