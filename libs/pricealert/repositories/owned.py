"""A user's rows: the shape of their models, and one of them by id (nobody else's)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from pricealert.errors import NotFound


class UserRow(Protocol):
    """A model whose rows belong to a user and are paged on (created_at, id)."""

    user_id: ClassVar[InstrumentedAttribute[uuid.UUID]]
    created_at: ClassVar[InstrumentedAttribute[datetime]]
    id: ClassVar[InstrumentedAttribute[uuid.UUID]]


R = TypeVar("R", bound=UserRow)


async def user_row(
    session: AsyncSession, model: type[R], user_id: uuid.UUID, row_id: uuid.UUID, name: str
) -> R:
    """The user's row of `model` with this id; `NotFound` ("`name` not found") when there is
    none, or it is someone else's."""
    row = await session.scalar(select(model).where(model.id == row_id, model.user_id == user_id))
    if row is None:
        raise NotFound(f"{name} not found")
    return row
