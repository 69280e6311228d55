"""Notification channels of a user."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime

from sqlalchemy import func, select

from pricealert.errors import InvalidInput
from pricealert.models import Channel
from pricealert.repositories.base import Repository
from pricealert.repositories.owned import user_row
from pricealert.repositories.pagination import Page, user_page


def new_webhook_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` + base64 of 32 random bytes."""
    import base64

    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class ChannelRepository(Repository):
    async def create(
        self, user_id: uuid.UUID, kind: str, target: str, verified_at: datetime | None
    ) -> Channel:
        """A new channel; `verified_at` None leaves it waiting for its code."""
        return await self._inserted(
            Channel(
                user_id=user_id,
                kind=kind,
                target=target,
                secret=new_webhook_secret() if kind == "webhook" else None,
                verified_at=verified_at,
            )
        )

    async def count_unverified(self, user_id: uuid.UUID) -> int:
        """The user's channels still waiting for their code."""
        count = await self.session.scalar(
            select(func.count())
            .select_from(Channel)
            .where(Channel.user_id == user_id, Channel.verified_at.is_(None))
        )
        return int(count or 0)

    async def get(self, user_id: uuid.UUID, channel_id: uuid.UUID) -> Channel:
        return await user_row(self.session, Channel, user_id, channel_id, "channel")

    async def list_page(self, user_id: uuid.UUID, cursor: str | None, limit: int) -> Page[Channel]:
        return await user_page(self.session, Channel, user_id, cursor, limit)

    async def owned(self, user_id: uuid.UUID, channel_ids: list[uuid.UUID]) -> list[Channel]:
        """The user's channels with these ids; `InvalidInput` naming any that are not theirs."""
        if not channel_ids:
            return []
        rows = list(
            await self.session.scalars(
                select(Channel).where(Channel.id.in_(channel_ids), Channel.user_id == user_id)
            )
        )
        missing = set(channel_ids) - {c.id for c in rows}
        if missing:
            raise InvalidInput(
                "unknown channel ids: " + ", ".join(sorted(str(m) for m in missing)),
                field="channel_ids",
            )
        return rows

    async def delete(self, user_id: uuid.UUID, channel_id: uuid.UUID) -> None:
        """Delete one of the user's channels; `NotFound` for anyone else's."""
        await self.session.delete(await self.get(user_id, channel_id))
        await self.session.flush()
