"""`user_page`: one user's rows a page at a time, against the real database."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from pricealert.models import Channel
from pricealert.repositories.pagination import user_page
from tests import factories


async def test_a_users_rows_come_oldest_first_a_page_at_a_time_and_only_theirs(
    db_session: AsyncSession,
) -> None:
    owner, other = await factories.user(db_session), await factories.user(db_session)
    made = [await factories.channel(db_session, owner, kind) for kind in ("email", "sms", "slack")]
    await factories.channel(db_session, other)

    first = await user_page(db_session, Channel, owner.id, None, 2)
    last = await user_page(db_session, Channel, owner.id, first.next_cursor, 2)

    assert first.items == made[:2]
    assert first.next_cursor is not None
    assert last.items == made[2:]
    assert last.next_cursor is None


async def test_a_users_rows_can_be_narrowed_and_come_newest_first_when_asked(
    db_session: AsyncSession,
) -> None:
    owner = await factories.user(db_session)
    made = [await factories.channel(db_session, owner, kind) for kind in ("email", "sms", "slack")]

    page = await user_page(
        db_session, Channel, owner.id, None, 5, Channel.kind != "sms", descending=True
    )

    assert page.items == [made[2], made[0]]
    assert page.next_cursor is None
