"""`user_row`: one of a user's rows by id, and nobody else's, against the real database."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from pricealert.errors import NotFound
from pricealert.models import Channel
from pricealert.repositories.owned import user_row
from tests import factories


async def test_a_users_row_is_found_by_its_id(db_session: AsyncSession) -> None:
    owner = await factories.user(db_session)
    made = await factories.channel(db_session, owner)

    assert await user_row(db_session, Channel, owner.id, made.id, "channel") is made


async def test_someone_elses_row_and_a_missing_one_are_both_not_found(
    db_session: AsyncSession,
) -> None:
    owner, other = await factories.user(db_session), await factories.user(db_session)
    theirs = await factories.channel(db_session, other)

    for row_id in (theirs.id, uuid.uuid4()):
        with pytest.raises(NotFound, match=r"^channel not found$"):
            await user_row(db_session, Channel, owner.id, row_id, "channel")
