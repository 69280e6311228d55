"""What every repository is: the caller's session, which it adds, flushes and queries in."""

from __future__ import annotations

import uuid
from typing import TypeVar

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

Row = TypeVar("Row")


class Repository:
    """Base of the repositories: they work in the session they are given (never committing)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _inserted(self, row: Row) -> Row:
        """`row` added and flushed, then refreshed: with what the database filled in."""
        self.session.add(row)
        await self.session.flush()
        await self.session.refresh(row)
        return row

    async def _set_if_pending(
        self, status: InstrumentedAttribute[str], row_id: uuid.UUID, /, **values: object
    ) -> bool:
        """Set `values` on row `row_id` of `status`'s table if `status` is still "pending"
        (whoever finishes it first wins); whether it was."""
        model = status.class_
        result = await self.session.execute(
            update(model)
            .where(model.id == row_id, status == "pending")
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))
