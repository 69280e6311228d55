"""Alert rules and the channels they notify."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, TypedDict, Unpack

from sqlalchemy import delete, insert, select

from pricealert.models import AlertRule, Product, Watch, alert_rule_channel
from pricealert.repositories.base import Repository
from pricealert.repositories.owned import user_row
from pricealert.repositories.pagination import Page, user_page


class NewAlertRule(TypedDict):
    """The columns `AlertRepository.create` sets on a new rule."""

    user_id: uuid.UUID
    watch_id: uuid.UUID
    product_id: int
    kind: str
    threshold: Any
    cooldown_seconds: int
    state: dict[str, Any]


class AlertRepository(Repository):
    async def create(
        self, *, channel_ids: list[uuid.UUID], **columns: Unpack[NewAlertRule]
    ) -> AlertRule:
        rule = await self._inserted(AlertRule(**columns))
        await self.set_channels(rule.id, channel_ids)
        return rule

    async def find_same(
        self,
        watch_id: uuid.UUID,
        kind: str,
        threshold: Decimal | None,
        channel_ids: list[uuid.UUID],
        *,
        other_than: uuid.UUID | None = None,
    ) -> AlertRule | None:
        """The rule on this watch with this kind, threshold (numerically: 1280 = 1280.00)
        and exactly these channels, if there is one.

        Locks the watch row first, so two requests making the same rule one after the other
        cannot both find none (the lock lasts until the request's transaction ends)."""
        await self.session.execute(select(Watch.id).where(Watch.id == watch_id).with_for_update())
        query = select(AlertRule).where(
            AlertRule.watch_id == watch_id,
            AlertRule.kind == kind,
            AlertRule.threshold.is_not_distinct_from(threshold),
        )
        if other_than is not None:
            query = query.where(AlertRule.id != other_than)
        candidates = list(await self.session.scalars(query.order_by(AlertRule.created_at)))
        wanted = sorted(set(channel_ids))
        channels = await self.channel_ids([c.id for c in candidates])
        return next((c for c in candidates if sorted(channels[c.id]) == wanted), None)

    async def get(self, user_id: uuid.UUID, rule_id: uuid.UUID) -> AlertRule:
        return await user_row(self.session, AlertRule, user_id, rule_id, "alert")

    async def list_page(
        self, user_id: uuid.UUID, cursor: str | None, limit: int
    ) -> Page[AlertRule]:
        return await user_page(self.session, AlertRule, user_id, cursor, limit)

    async def below_thresholds(self, watch_id: uuid.UUID) -> list[Decimal]:
        """The thresholds of the enabled "below" rules on a watch (drawn on its chart)."""
        rows = await self.session.scalars(
            select(AlertRule.threshold).where(
                AlertRule.watch_id == watch_id,
                AlertRule.kind == "below",
                AlertRule.enabled.is_(True),
                AlertRule.threshold.is_not(None),
            )
        )
        return [value for value in rows if value is not None]

    async def product_currency(self, rule: AlertRule) -> str | None:
        """The currency of the rule's product (None until its first price)."""
        return await self.session.scalar(
            select(Product.currency).where(Product.id == rule.product_id)
        )

    async def channel_ids(self, rule_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
        """Channel ids per rule, in a stable order."""
        result: dict[uuid.UUID, list[uuid.UUID]] = {rule_id: [] for rule_id in rule_ids}
        if not rule_ids:
            return result
        rows = await self.session.execute(
            select(alert_rule_channel.c.rule_id, alert_rule_channel.c.channel_id)
            .where(alert_rule_channel.c.rule_id.in_(rule_ids))
            .order_by(alert_rule_channel.c.channel_id)
        )
        for rule_id, channel_id in rows:
            result[rule_id].append(channel_id)
        return result

    async def set_channels(self, rule_id: uuid.UUID, channel_ids: list[uuid.UUID]) -> None:
        await self.session.execute(
            delete(alert_rule_channel).where(alert_rule_channel.c.rule_id == rule_id)
        )
        if channel_ids:
            await self.session.execute(
                insert(alert_rule_channel),
                [{"rule_id": rule_id, "channel_id": c} for c in dict.fromkeys(channel_ids)],
            )

    async def delete(self, user_id: uuid.UUID, rule_id: uuid.UUID) -> None:
        """Delete one of the user's rules; `NotFound` for anyone else's."""
        await self.session.delete(await self.get(user_id, rule_id))
        await self.session.flush()
