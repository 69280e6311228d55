"""The evaluator's SQL: changes to evaluate, rules and their state, caps, new notifications.

Concurrency: `lock_rules` takes the product's enabled rules `FOR UPDATE`, so two
evaluations of one product's changes run one after the other; `lock_users`
takes the firing users `FOR NO KEY UPDATE` (in id order: no deadlock), so two
evaluations never both spend a user's last notification of the day. Inserts
of notifications are `ON CONFLICT DO NOTHING` on (rule, channel, history), and
rule state and `evaluated_at` updates are guarded, so re-running an evaluation
changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, cast, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import BIGINT, insert
from sqlalchemy.ext.asyncio import AsyncSession

from pricealert.models import AlertRule, Channel, Notification, PriceHistory, Product, User
from pricealert.models import alert_rule_channel as rule_channel

#: Notifications that count against a user's daily caps (they were, or will be, sent).
CAPPED_STATUSES = ("pending", "sent")
#: Rows per INSERT: 16 columns each stays far below PostgreSQL's 32767 bind parameters.
INSERT_BATCH = 1000


def _before(row: PriceHistory) -> Any:
    return tuple_(PriceHistory.first_seen_at, PriceHistory.id) < tuple_(row.first_seen_at, row.id)


class EvaluationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_rules(self, product_id: int) -> list[AlertRule]:
        """The product's enabled rules, locked for this transaction, in a stable order."""
        query = (
            select(AlertRule)
            .where(AlertRule.product_id == product_id, AlertRule.enabled)
            .order_by(AlertRule.id)
            .with_for_update()
        )
        return list(await self.session.scalars(query))

    async def unevaluated_through(self, product_id: int, history_id: int) -> list[PriceHistory]:
        """Rows of the product not yet evaluated, oldest first, up to `history_id` included."""
        target = (
            await self.session.execute(
                select(PriceHistory.first_seen_at, PriceHistory.id).where(
                    PriceHistory.id == history_id, PriceHistory.product_id == product_id
                )
            )
        ).first()
        if target is None:
            return []
        query = (
            select(PriceHistory)
            .where(
                PriceHistory.product_id == product_id,
                PriceHistory.evaluated_at.is_(None),
                tuple_(PriceHistory.first_seen_at, PriceHistory.id) <= tuple_(*target),
            )
            .order_by(PriceHistory.first_seen_at, PriceHistory.id)
            .with_for_update()
        )
        return list(await self.session.scalars(query))

    async def previous_row(self, row: PriceHistory) -> PriceHistory | None:
        """The product's history row just before `row`."""
        query = (
            select(PriceHistory)
            .where(PriceHistory.product_id == row.product_id, _before(row))
            .order_by(PriceHistory.first_seen_at.desc(), PriceHistory.id.desc())
            .limit(1)
        )
        return await self.session.scalar(query)

    async def last_priced_before(self, row: PriceHistory) -> PriceHistory | None:
        """The latest row before `row` that had a price."""
        query = (
            select(PriceHistory)
            .where(
                PriceHistory.product_id == row.product_id,
                PriceHistory.price.is_not(None),
                _before(row),
            )
            .order_by(PriceHistory.first_seen_at.desc(), PriceHistory.id.desc())
            .limit(1)
        )
        return await self.session.scalar(query)

    async def lowest_before(self, row: PriceHistory) -> Decimal | None:
        """The lowest non-suspicious price before `row` in `row.currency`."""
        if row.currency is None:
            return None
        query = select(func.min(PriceHistory.price)).where(
            PriceHistory.product_id == row.product_id,
            PriceHistory.currency == row.currency,
            PriceHistory.suspicious.is_(False),
            _before(row),
        )
        return await self.session.scalar(query)

    async def product(self, product_id: int) -> Product | None:
        """The product the changes belong to."""
        return await self.session.get(Product, product_id)

    async def channels_of(self, rule_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Channel]]:
        """Each rule's channels, in a stable order."""
        result: dict[uuid.UUID, list[Channel]] = {rule_id: [] for rule_id in rule_ids}
        if not rule_ids:
            return result
        rows = await self.session.execute(
            select(rule_channel.c.rule_id, Channel)
            .join(Channel, Channel.id == rule_channel.c.channel_id)
            .where(rule_channel.c.rule_id.in_(rule_ids))
            .order_by(rule_channel.c.rule_id, Channel.id)
        )
        for rule_id, channel in rows:
            result[rule_id].append(channel)
        return result

    async def lock_users(self, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, User]:
        """Lock the users whose caps are about to be spent (id order, so no deadlock)."""
        if not user_ids:
            return {}
        query = (
            select(User)
            .where(User.id.in_(user_ids))
            .order_by(User.id)
            .with_for_update(key_share=True)  # FOR NO KEY UPDATE: FK inserts still pass
        )
        return {user.id: user for user in await self.session.scalars(query)}

    async def notifications_since(self, user_id: uuid.UUID, since: datetime) -> tuple[int, int]:
        """How many notifications (all channels, and SMS) count against the user's caps."""
        query = select(
            func.count(),
            func.count().filter(Notification.channel_kind == "sms"),
        ).where(
            Notification.user_id == user_id,
            Notification.created_at >= since,
            Notification.status.in_(CAPPED_STATUSES),
        )
        total, sms = (await self.session.execute(query)).one()
        return int(total), int(sms)

    async def add_notifications(self, rows: Sequence[dict[str, Any]]) -> list[uuid.UUID]:
        """Insert notifications; a (rule, channel, history) already there is left alone.

        Returns the ids of the rows really inserted.
        """
        inserted: list[uuid.UUID] = []
        for start in range(0, len(rows), INSERT_BATCH):
            statement = (
                insert(Notification)
                .values(list(rows[start : start + INSERT_BATCH]))
                .on_conflict_do_nothing(constraint="uq_notification_firing")
                .returning(Notification.id)
            )
            inserted.extend(await self.session.scalars(statement))
        return inserted

    async def save_rule_state(
        self,
        rule_id: uuid.UUID,
        state: dict[str, Any],
        history_id: int,
        last_fired_at: datetime | None,
    ) -> bool:
        """Store the rule's new state unless a later change was already applied to it."""
        applied = cast(AlertRule.state["history_id"].astext, BIGINT)
        values: dict[str, Any] = {"state": {**state, "history_id": history_id}}
        if last_fired_at is not None:
            values["last_fired_at"] = last_fired_at
        statement = (
            update(AlertRule)
            .where(AlertRule.id == rule_id, or_(applied.is_(None), applied < history_id))
            .values(values)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(statement)
        return bool(getattr(result, "rowcount", 0))

    async def mark_evaluated(self, history_ids: Sequence[int], at: datetime) -> int:
        """Mark rows evaluated (those not yet marked); returns how many were."""
        if not history_ids:
            return 0
        statement = (
            update(PriceHistory)
            .where(PriceHistory.id.in_(history_ids), PriceHistory.evaluated_at.is_(None))
            .values(evaluated_at=at)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(statement)
        return int(getattr(result, "rowcount", 0))

    async def unevaluated_before(self, before: datetime, limit: int) -> list[tuple[int, int]]:
        """(product id, history id) of the oldest changes still unevaluated at `before`."""
        query = (
            select(PriceHistory.product_id, PriceHistory.id)
            .where(and_(PriceHistory.evaluated_at.is_(None), PriceHistory.first_seen_at < before))
            .order_by(PriceHistory.first_seen_at)
            .limit(limit)
        )
        return [
            (product_id, history_id) for product_id, history_id in await self.session.execute(query)
        ]
