"""The delivery log as users see it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pricealert.models import Channel, Notification
from pricealert.repositories.base import Repository
from pricealert.repositories.pagination import Page, user_page


class NotificationRepository(Repository):
    async def list_page(
        self,
        user_id: uuid.UUID,
        cursor: str | None,
        limit: int,
        status: str | None = None,
        newest_first: bool = False,
    ) -> Page[Notification]:
        where = () if status is None else (Notification.status == status,)
        return await user_page(
            self.session, Notification, user_id, cursor, limit, *where, descending=newest_first
        )

    async def create_test(self, channel: Channel) -> Notification:
        """A test message for a channel, delivered like any notification."""
        now = datetime.now(UTC)
        return await self._inserted(
            Notification(
                user_id=channel.user_id,
                channel_id=channel.id,
                channel_kind=channel.kind,
                rule_kind="test",
                payload={"type": "channel.test", "message": "PriceAlert test notification"},
                detected_at=now,
                next_attempt_at=now,
            )
        )
