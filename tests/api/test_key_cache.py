"""Each API process remembers live keys for a second at most; a revocation is broadcast
and refused by every process at once."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import redis.asyncio as aioredis

from pricealert.repositories.users import Principal
from pricealert.supervised import service_command
from services.api.keycache import CHANNEL, PrincipalCache

REPO = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _principal() -> Principal:
    return Principal(user_id=uuid.uuid4(), key_id=uuid.uuid4())


def test_a_remembered_key_is_forgotten_after_its_ttl() -> None:
    clock = Clock()
    cache = PrincipalCache(1.0, clock)
    principal, now = _principal(), datetime.now(UTC)
    cache.put("h", principal, None, cache.generation)
    clock.now += 0.99
    assert cache.get("h", now) == principal
    clock.now += 0.02
    assert cache.get("h", now) is None
    assert len(cache) == 0


def test_a_remembered_key_past_its_expiry_is_not_served() -> None:
    cache = PrincipalCache(1.0, Clock())
    now = datetime.now(UTC)
    cache.put("h", _principal(), now + timedelta(milliseconds=10), cache.generation)
    assert cache.get("h", now) is not None
    assert cache.get("h", now + timedelta(milliseconds=10)) is None


def test_forgetting_a_user_drops_all_their_keys_and_only_theirs() -> None:
    cache = PrincipalCache(1.0, Clock())
    mine, theirs = _principal(), _principal()
    other_key_of_mine = Principal(user_id=mine.user_id, key_id=uuid.uuid4())
    for key_hash, principal in (("a", mine), ("b", other_key_of_mine), ("c", theirs)):
        cache.put(key_hash, principal, None, cache.generation)
    cache.forget_user(mine.user_id)
    now = datetime.now(UTC)
    assert (cache.get("a", now), cache.get("b", now), cache.get("c", now)) == (None, None, theirs)


def test_a_lookup_that_began_before_a_revocation_is_not_remembered() -> None:
    cache = PrincipalCache(1.0, Clock())
    principal = _principal()
    began = cache.generation  # the database said "live"...
    cache.forget_user(principal.user_id)  # ...and the revocation was heard meanwhile
    cache.put("h", principal, None, began)
    assert cache.get("h", datetime.now(UTC)) is None


def test_a_ttl_of_zero_remembers_nothing() -> None:
    cache = PrincipalCache(0.0, Clock())
    cache.put("h", _principal(), None, cache.generation)
    assert cache.get("h", datetime.now(UTC)) is None


# --- two real API processes -------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@asynccontextmanager
async def _api_process(database_url: str, redis_url: str) -> AsyncIterator[str]:
    """The API as production runs it (uvicorn, uvloop), with keys remembered for a minute:
    only the broadcast can make a revocation take effect in time."""
    port = _free_port()
    env = {
        **os.environ,
        "PRICEALERT_ENVIRONMENT": "development",
        "PRICEALERT_DATABASE_URL": database_url,
        "PRICEALERT_REDIS_URL": redis_url,
        "PRICEALERT_KEY_CACHE_SECONDS": "60",
        "PRICEALERT_LOG_LEVEL": "WARNING",
        "PRICEALERT_BUSINESS_METRICS_INTERVAL_SECONDS": "3600",
    }
    process = await asyncio.create_subprocess_exec(
        *service_command("api", host="127.0.0.1", port=port),
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            deadline = time.monotonic() + 60
            while True:
                assert process.returncode is None, "the API exited while starting"
                assert time.monotonic() < deadline, "the API did not start within 60 s"
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=20)
        except TimeoutError:
            process.kill()
            await process.wait()


async def test_a_key_revoked_through_one_api_process_is_refused_by_another_within_a_second(
    fresh_database_url: str, redis_url: str
) -> None:
    async with (
        _api_process(fresh_database_url, redis_url) as first,
        _api_process(fresh_database_url, redis_url) as second,
        httpx.AsyncClient(base_url=first, timeout=5) as a,
        httpx.AsyncClient(base_url=second, timeout=5) as b,
    ):
        signed_up = await a.post("/v1/users", json={"email": "k@example.com"})
        owner = {"Authorization": f"Bearer {signed_up.json()['api_key']}"}
        keys = [(await a.post("/v1/api-keys", json={}, headers=owner)).json() for _ in range(2)]
        revoked, by_sql = ({"Authorization": f"Bearer {k['api_key']}"} for k in keys)
        for headers in (revoked, by_sql):  # the second process now remembers both keys
            assert (await b.get("/v1/users/me", headers=headers)).status_code == 200
        listening = aioredis.Redis.from_url(redis_url)
        try:
            deadline = time.monotonic() + 10
            while (await listening.pubsub_numsub(CHANNEL))[0][1] < 2:
                assert time.monotonic() < deadline, "the API processes never subscribed"
                await asyncio.sleep(0.05)
        finally:
            await listening.aclose()

        # Revoked behind the API's back (no broadcast): the second process still serves
        # it from memory, which is what makes the next check depend on the broadcast.
        admin = await asyncpg.connect(fresh_database_url.replace("+asyncpg", ""))
        try:
            await admin.execute(
                "UPDATE api_key SET revoked_at = now() WHERE id = $1", uuid.UUID(keys[1]["id"])
            )
        finally:
            await admin.close()
        assert (await b.get("/v1/users/me", headers=by_sql)).status_code == 200

        assert (await a.delete(f"/v1/api-keys/{keys[0]['id']}", headers=owner)).status_code == 204
        revoked_at = time.monotonic()
        while (status := (await b.get("/v1/users/me", headers=revoked)).status_code) == 200:
            assert time.monotonic() - revoked_at < 1.0, "still accepted a second after revocation"
            await asyncio.sleep(0.01)
        assert status == 401
        # The broadcast names the user: their keys revoked by other means go too.
        assert (await b.get("/v1/users/me", headers=by_sql)).status_code == 401
        assert (await b.get("/v1/users/me", headers=owner)).status_code == 200
        assert (await a.get("/v1/users/me", headers=revoked)).status_code == 401
