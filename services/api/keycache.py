"""API key -> principal, remembered in-process for at most a second, revocations broadcast.

Every request used to look its key up in PostgreSQL (a round trip and an ORM query,
about a fifth of a lookup's CPU). A live key is now remembered for `key_cache_seconds`
(1 s by default) by each API process:

- a revocation is broadcast on the Redis channel `pricealert:api-keys:revoked` once it
  is committed (the user's id: every process forgets all of that user's keys) and
  forgotten at once by the process that made it, so it takes effect everywhere within
  milliseconds;
- when the broadcast is lost (Redis down, a key revoked outside the API, e.g. by SQL),
  the entry's age bounds it: no process serves a revoked key more than a second later;
- a listener that loses its subscription forgets everything when it subscribes again
  (revocations in between were not heard);
- a key's `expires_at` is checked on every use, cached or not; unknown, revoked and
  expired keys are never cached (a key made a moment ago works at once everywhere).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from pricealert.db import after_commit
from pricealert.logging import get_logger
from pricealert.repositories.users import Principal

CHANNEL: Final = "pricealert:api-keys:revoked"
#: Entries kept at most; past it the cache is emptied (a flood of distinct live keys).
MAX_ENTRIES: Final = 50_000
_log = get_logger("pricealert.security")


@dataclass(frozen=True, slots=True)
class _Entry:
    principal: Principal
    expires_at: datetime | None
    fresh_until: float


class PrincipalCache:
    """Live keys' principals by key hash, each for at most `ttl_seconds`."""

    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        #: Bumped by every forget: a lookup that began before one does not store its answer.
        self.generation = 0

    def get(self, key_hash: str, now: datetime) -> Principal | None:
        """The principal of a remembered live key, or None (look it up)."""
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        if entry.fresh_until <= self._clock() or (
            entry.expires_at is not None and entry.expires_at <= now
        ):
            del self._entries[key_hash]
            return None
        return entry.principal

    def put(
        self, key_hash: str, principal: Principal, expires_at: datetime | None, generation: int
    ) -> None:
        """Remember a live key, unless something was forgotten since its lookup began."""
        if self.ttl_seconds <= 0 or generation != self.generation:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key_hash] = _Entry(principal, expires_at, self._clock() + self.ttl_seconds)

    def forget_user(self, user_id: uuid.UUID) -> None:
        """Forget every key of `user_id` (one of them was revoked)."""
        self.generation += 1
        for key_hash in [h for h, e in self._entries.items() if e.principal.user_id == user_id]:
            self._entries.pop(key_hash, None)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def announce_revocation(
    session: AsyncSession, redis: Any, cache: PrincipalCache, user_id: uuid.UUID
) -> None:
    """Once `session` commits: forget the user's keys here and tell every API process."""

    async def announce() -> None:
        cache.forget_user(user_id)
        try:
            await redis.publish(CHANNEL, str(user_id))
        except (ConnectionError, TimeoutError, OSError) as exc:
            # The other processes' entries still age out within key_cache_seconds.
            _log.warning("api_key.revocation_not_broadcast", category="security", error=str(exc))

    after_commit(session, announce)


async def listen_for_revocations(
    redis: Any, cache: PrincipalCache, subscribed: asyncio.Event | None = None
) -> None:
    """Forget the keys of every user whose key is revoked anywhere (runs until cancelled)."""
    delay = 0.1
    while True:
        pubsub = redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(CHANNEL)
            cache.clear()  # whatever was revoked while not listening
            if subscribed is not None:
                subscribed.set()
            delay = 0.1
            task = asyncio.current_task()
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if task is not None and task.cancelling():
                    # redis-py's read timeout can swallow a cancellation that lands in it.
                    raise asyncio.CancelledError
                if message is None or message.get("type") != "message":
                    continue
                data = message["data"]
                with contextlib.suppress(ValueError):
                    cache.forget_user(
                        uuid.UUID(data.decode() if isinstance(data, bytes) else str(data))
                    )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Redis away: entries age out meanwhile; try again
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                # Cancelled mid-connect, which redis-py can report as a connection error.
                raise asyncio.CancelledError from exc
            _log.warning("api_key.revocation_listener_lost", category="security", error=str(exc))
            cache.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        finally:
            # Bounded: closing a connection cancelled mid-read can wait on it for ever.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pubsub.aclose(), timeout=1.0)
