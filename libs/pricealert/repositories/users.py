"""Users and API keys. Keys are stored as SHA-256 hashes; the clear key is shown once."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, or_, select, update

from pricealert.errors import Conflict, NotFound
from pricealert.models import ApiKey, User
from pricealert.repositories.base import Repository
from pricealert.repositories.owned import user_row
from pricealert.repositories.pagination import Page, user_page

KEY_PREFIX = "pa_"


def hash_key(key: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> tuple[str, str]:
    """A fresh key and its public prefix (shown in listings)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, key[:11]


# Built once: every request authenticates, and a statement object reused keeps its
# memoized cache key instead of being rebuilt and re-keyed per request.
_KEY_BY_HASH = select(ApiKey.id, ApiKey.user_id, ApiKey.revoked_at, ApiKey.expires_at).where(
    ApiKey.key_hash == bindparam("key_hash")
)


class LastActiveKey(Conflict, code="last_active_key", title="Last active key"):
    """Revoking this key would leave the user with no way to call the API."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user and the key they called with."""

    user_id: uuid.UUID
    key_id: uuid.UUID


class UserRepository(Repository):
    async def create_user(
        self, email: str, *, time_zone: str = "UTC", locale: str | None = None
    ) -> User:
        """A new user; `Conflict` when the email is taken."""
        email = email.strip().lower()
        existing = await self.session.scalar(select(User.id).where(User.email == email))
        if existing is not None:
            raise Conflict("a user with this email already exists", field="email")
        user = User(email=email, time_zone=time_zone, locale=locale)
        self.session.add(user)
        await self.session.flush()
        return user

    async def get_user(self, user_id: uuid.UUID) -> User:
        user = await self.session.get(User, user_id)
        if user is None:
            raise NotFound("user not found")
        return user

    async def set_caps(
        self,
        user_id: uuid.UUID,
        *,
        daily_notification_cap: int | None = None,
        daily_sms_cap: int | None = None,
    ) -> User:
        """Change the user's daily caps (None keeps one); the evaluator reads them per change."""
        return await self._change(
            user_id, daily_notification_cap=daily_notification_cap, daily_sms_cap=daily_sms_cap
        )

    async def create_key(
        self,
        user_id: uuid.UUID,
        name: str | None = None,
        expires_at: datetime | None = None,
        kind: str = "api",
    ) -> tuple[ApiKey, str]:
        """A new key for the user (`kind`: `api`, or a sign-in's `session`): the row, and
        the clear key to show once."""
        key, prefix = new_key()
        row = await self._inserted(
            ApiKey(
                user_id=user_id,
                prefix=prefix,
                key_hash=hash_key(key),
                name=name,
                expires_at=expires_at,
                kind=kind,
            )
        )
        return row, key

    async def list_keys_page(
        self, user_id: uuid.UUID, cursor: str | None, limit: int
    ) -> Page[ApiKey]:
        """One page of the user's keys (revoked ones too), oldest first."""
        return await user_page(self.session, ApiKey, user_id, cursor, limit)

    async def revoke_key(self, user_id: uuid.UUID, key_id: uuid.UUID, now: datetime) -> None:
        """Revoke one of the user's keys (idempotent); `NotFound` for anyone else's;
        `LastActiveKey` when it is an API key and no other API key of theirs would still
        work. Session keys (a browser's sign-in) are always revocable (that is signing
        out: a new link signs in again) and never count as the other working key: they
        expire on their own."""
        # The user's row is the lock: two requests revoking a user's last two keys at once
        # are serialised, and the second sees the first's revocation.
        await self.session.execute(select(User.id).where(User.id == user_id).with_for_update())
        row = await user_row(self.session, ApiKey, user_id, key_id, "api key")
        if row.revoked_at is not None:
            return
        if row.kind == "session":
            row.revoked_at = now
            await self.session.flush()
            return
        others = await self.session.scalar(
            select(func.count())
            .select_from(ApiKey)
            .where(
                ApiKey.user_id == user_id,
                ApiKey.id != key_id,
                ApiKey.kind == "api",
                ApiKey.revoked_at.is_(None),
                or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
            )
        )
        if not others and (row.expires_at is None or row.expires_at > now):
            raise LastActiveKey(
                "this is your last working API key: revoking it would lock you out. Create "
                "another key first (POST /v1/api-keys), then revoke this one."
            )
        row.revoked_at = now
        await self.session.flush()

    async def set_preferences(
        self, user_id: uuid.UUID, *, time_zone: str | None = None, locale: str | None = None
    ) -> User:
        """Change the user's time zone and language (None keeps one)."""
        return await self._change(user_id, time_zone=time_zone, locale=locale)

    async def _change(self, user_id: uuid.UUID, /, **values: object) -> User:
        """Set the user's columns named in `values`, but for those given as None."""
        user = await self.get_user(user_id)
        for column, value in values.items():
            if value is not None:
                setattr(user, column, value)
        await self.session.flush()
        return user

    async def user_by_email(self, email: str) -> User | None:
        """The user with this email, verified or not."""
        return await self.session.scalar(select(User).where(User.email == email.strip().lower()))

    async def revoke_all_keys(self, user_id: uuid.UUID, now: datetime) -> int:
        """Revoke every live key of the user (an account claimed by its address's owner)."""
        result = await self.session.execute(
            update(ApiKey)
            .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def authenticate(self, key: str, now: datetime) -> Principal | None:
        """The principal of a live key (not revoked, not expired), or None."""
        live = await self.live_key(hash_key(key), now)
        return live[0] if live else None

    async def live_key(
        self, key_hash: str, now: datetime
    ) -> tuple[Principal, datetime | None] | None:
        """The principal of the live key with this hash and when it expires, or None."""
        row = (await self.session.execute(_KEY_BY_HASH, {"key_hash": key_hash})).one_or_none()
        if row is None or row.revoked_at is not None:
            return None
        if row.expires_at is not None and row.expires_at <= now:
            return None
        return Principal(user_id=row.user_id, key_id=row.id), row.expires_at

    async def touch_key(self, key_id: uuid.UUID, now: datetime) -> None:
        """Record use, at most once a minute per key (keeps the hot path write-free)."""
        await self.session.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id)
            .where((ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < now.replace(second=0)))
            .values(last_used_at=now)
        )
