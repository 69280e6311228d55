"""What every repository is: the caller's session, which it adds, flushes and queries in."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

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
