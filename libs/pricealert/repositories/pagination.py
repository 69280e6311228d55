"""Keyset (cursor) pagination over (created_at, id)."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar, TypeVarTuple

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from pricealert.errors import InvalidInput
from pricealert.repositories.owned import R

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(created_at: datetime, id_: uuid.UUID) -> str:
    """An opaque cursor pointing after (created_at, id)."""
    raw = json.dumps([created_at.isoformat(), str(id_)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Read a cursor made by `encode_cursor`, or raise `InvalidInput`."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at_raw, id_raw = json.loads(base64.urlsafe_b64decode(padded.encode()))
        created_at = datetime.fromisoformat(created_at_raw)
        if created_at.tzinfo is None:
            raise ValueError("naive timestamp")
        created_at.astimezone(UTC)  # sent to PostgreSQL in UTC: OverflowError if it has none
        return created_at, uuid.UUID(id_raw)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidInput(
            "cursor is not valid", field="cursor", rule="cursor", location="query"
        ) from exc


def keyset(
    query: Select[*Ts],
    created_at: InstrumentedAttribute[datetime],
    id_: InstrumentedAttribute[uuid.UUID],
    cursor: str | None,
    limit: int,
    descending: bool = False,
) -> Select[*Ts]:
    """Order by (created_at, id) — newest first when `descending` — and start after the
    cursor; fetch one extra to see a next page."""
    if cursor:
        after_at, after_id = decode_cursor(cursor)
        if descending:
            query = query.where(
                or_(created_at < after_at, and_(created_at == after_at, id_ < after_id))
            )
        else:
            query = query.where(
                or_(created_at > after_at, and_(created_at == after_at, id_ > after_id))
            )
    if descending:
        return query.order_by(created_at.desc(), id_.desc()).limit(limit + 1)
    return query.order_by(created_at, id_).limit(limit + 1)


def page_of(rows: list[T], limit: int, key: Any) -> Page[T]:
    """Cut the extra row and make the next cursor from the last kept one."""
    if len(rows) <= limit:
        return Page(rows, None)
    kept = rows[:limit]
    created_at, id_ = key(kept[-1])
    return Page(kept, encode_cursor(created_at, id_))


async def user_page(
    session: AsyncSession,
    model: type[R],
    user_id: uuid.UUID,
    cursor: str | None,
    limit: int,
    *where: ColumnElement[bool],
    descending: bool = False,
) -> Page[R]:
    """One page of a user's rows of `model` (those that also meet `where`), oldest first
    unless `descending`: `keyset`, then `page_of`."""
    query = select(model).where(model.user_id == user_id, *where)
    paged = keyset(query, model.created_at, model.id, cursor, limit, descending)
    rows = list(await session.scalars(paged))
    return page_of(rows, limit, lambda row: (row.created_at, row.id))
