"""What every repository is: the caller's session, which it adds, flushes and queries in."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession


class Repository:
    """Base of the repositories: they work in the session they are given (never committing)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
