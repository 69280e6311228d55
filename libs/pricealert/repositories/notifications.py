"""The delivery log as users see it."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pricealert.models import Notification
from pricealert.repositories.pagination import Page, keyset, page_of


class NotificationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list(
        self, user_id: uuid.UUID, cursor: str | None, limit: int, status: str | None = None
    ) -> Page[Notification]:
        query = select(Notification).where(Notification.user_id == user_id)
        if status is not None:
            query = query.where(Notification.status == status)
        rows = list(
            await self.session.scalars(
                keyset(query, Notification.created_at, Notification.id, cursor, limit)
            )
        )
        return page_of(rows, limit, lambda n: (n.created_at, n.id))
