"""Limits are stated on every response they apply to; bad keys are throttled per address."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, async_sessionmaker

from services.api.main import create_app
from services.api.ratelimit import RateLimiter, limiter_client
from services.api.settings import ApiSettings
from tests.api.conftest import ApiUser

FIELDS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy")


def _client(app: FastAPI, address: str, **headers: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers)


async def test_every_authenticated_response_states_the_keys_window(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    responses = [
        await client.get("/v1/products", headers=alice.auth),
        await client.get("/v1/products/00000000-0000-0000-0000-000000000000", headers=alice.auth),
        await client.post("/v1/products", json={"url": 5}, headers=alice.auth),
    ]
    assert [r.status_code for r in responses] == [200, 404, 422]
    remaining = []
    for response in responses:
        assert response.headers["RateLimit-Limit"] == "1000"
        assert response.headers["RateLimit-Policy"] == "1000;w=60"
        assert 1 <= int(response.headers["RateLimit-Reset"]) <= 60
        remaining.append(int(response.headers["RateLimit-Remaining"]))
    assert remaining == [remaining[0], remaining[0] - 1, remaining[0] - 2]


async def test_a_key_past_its_limit_gets_429_with_retry_after_and_the_window(
    app: FastAPI, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    app.state.settings.rate_limit_per_minute = 2
    statuses = [
        (await client.get("/v1/products", headers=alice.auth)).status_code for _ in range(3)
    ]
    limited = await client.get("/v1/products", headers=alice.auth)
    assert statuses == [200, 200, 429]
    assert limited.status_code == 429
    assert limited.headers["RateLimit-Remaining"] == "0"
    assert limited.headers["Retry-After"] == limited.headers["RateLimit-Reset"]
    assert "retry in" in limited.json()["detail"]


async def test_bad_keys_are_throttled_per_client_address_and_then_so_is_everything_from_it(
    app: FastAPI, alice: ApiUser
) -> None:
    app.state.settings.bad_key_limit_per_minute = 3
    async with _client(app, "198.51.100.20") as guesser, _client(app, "198.51.100.21") as other:
        answers = [
            (await guesser.get("/v1/products", headers={"Authorization": f"Bearer pa_{n}"}))
            for n in range(3)
        ]
        missing = await guesser.get("/v1/products")
        with_a_good_key = await guesser.get("/v1/products", headers=alice.auth)
        elsewhere = await other.get("/v1/products", headers=alice.auth)
    assert [a.status_code for a in answers] == [401, 401, 401]
    assert [a.headers["RateLimit-Remaining"] for a in answers] == ["2", "1", "0"]
    assert missing.status_code == 429
    # Throttled, a good key is refused too: otherwise 200 against 429 would tell a guesser.
    assert with_a_good_key.status_code == 429
    assert int(with_a_good_key.headers["Retry-After"]) >= 1
    assert with_a_good_key.headers["RateLimit-Limit"] == "3"
    assert elsewhere.status_code == 200


async def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    api_settings: ApiSettings, db_connection: AsyncConnection, app: FastAPI
) -> None:
    app.state.settings.bad_key_limit_per_minute = 1
    spoofed = {"X-Forwarded-For": "192.0.2.1"}
    async with _client(app, "198.51.100.30") as direct:
        await direct.get("/v1/products")
        still_throttled = await direct.get("/v1/products", headers=spoofed)
    assert still_throttled.status_code == 429

    behind_alb = create_app(
        api_settings.model_copy(
            update={"trusted_proxies": ["10.0.0.0/8"], "bad_key_limit_per_minute": 1}
        )
    )
    async with behind_alb.router.lifespan_context(behind_alb):
        behind_alb.state.sessionmaker = async_sessionmaker(
            bind=db_connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        async with _client(behind_alb, "10.1.2.3") as alb:
            first = await alb.get("/v1/products", headers={"X-Forwarded-For": "192.0.2.7"})
            same_client = await alb.get("/v1/products", headers={"X-Forwarded-For": "192.0.2.7"})
            # A client prepending its own X-Forwarded-For gets the ALB's hop read, not its lie.
            forged = await alb.get(
                "/v1/products", headers={"X-Forwarded-For": "203.0.113.66, 192.0.2.7"}
            )
            another = await alb.get("/v1/products", headers={"X-Forwarded-For": "192.0.2.8"})
    assert [first.status_code, same_client.status_code] == [401, 429]
    assert forged.status_code == 429
    assert another.status_code == 401


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    settings = ApiSettings(trusted_proxies="10.0.0.0/8, 172.16.0.1")
    assert settings.trusted_proxies == ["10.0.0.0/8", "172.16.0.1"]
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6"):
        ApiSettings(trusted_proxies="the-alb")


async def test_sign_up_states_its_window_too(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/users", json={"email": "new@example.com"})
    assert response.status_code == 201
    assert response.headers["RateLimit-Policy"] == "1000;w=3600"


async def test_the_openapi_document_states_the_limits_and_the_fields(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    assert "Each API key: 1000 requests a minute." in document["info"]["description"]
    assert "Requests with a missing or bad key: 30 a minute" in document["info"]["description"]
    for name in (*FIELDS, "Retry-After"):
        assert document["components"]["headers"][name]["schema"] == {"type": "integer"}
    listing = document["paths"]["/v1/products"]["get"]["responses"]
    assert set(listing["200"]["headers"]) == set(FIELDS)
    assert set(listing["429"]["headers"]) == {*FIELDS, "Retry-After"}
    for path, operations in document["paths"].items():
        if path.startswith("/v1/"):
            for operation in operations.values():
                for response in operation["responses"].values():
                    assert "RateLimit-Remaining" in response["headers"], path


async def test_while_redis_is_unreachable_requests_are_served_without_the_fields(
    database_url: str, db_connection: AsyncConnection, alice: ApiUser
) -> None:
    settings = ApiSettings(
        environment="test", database_url=database_url, redis_url="redis://127.0.0.1:1/0"
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        application.state.sessionmaker = async_sessionmaker(
            bind=db_connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        async with _client(application, "198.51.100.40") as client:
            served = await client.get("/v1/products", headers=alice.auth)
            refused = await client.get("/v1/products")
    assert served.status_code == 200
    assert refused.status_code == 401
    assert not {f.lower() for f in FIELDS} & set(served.headers)


async def test_a_redis_that_accepts_but_never_answers_fails_open_after_the_timeout() -> None:
    # The limiter's client has no socket timeout of its own (limiter_client): its calls
    # are bounded by the limiter's. A Redis that hangs must not hang the API with it.
    held: list[asyncio.StreamWriter] = []

    async def silent(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # reads nothing, answers nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    redis = limiter_client(f"redis://127.0.0.1:{port}/0")
    limiter = RateLimiter(redis, timeout=0.2)
    try:
        started = time.monotonic()
        throttled, window = await limiter.authenticate(
            "198.51.100.7", uuid.uuid4(), key_limit=10, bad_key_limit=5
        )
        assert (throttled, window) == (False, None)
        assert await limiter.hit("signup:198.51.100.7", 3, 60) is None
        assert time.monotonic() - started < 2  # two calls, each given up at 0.2 s
    finally:
        await redis.aclose()
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_the_limits_scripts_are_loaded_again_after_redis_forgets_them(
    redis_url: str,
) -> None:
    redis = limiter_client(redis_url)
    limiter = RateLimiter(redis)
    key_id = uuid.uuid4()
    try:
        first = await limiter.authenticate("198.51.100.8", key_id, key_limit=10, bad_key_limit=5)
        await redis.script_flush()  # as after a Redis restart: EVALSHA answers NOSCRIPT
        second = await limiter.authenticate("198.51.100.8", key_id, key_limit=10, bad_key_limit=5)
        counted = await limiter.hit("signup:198.51.100.8", 3, 60)
        await redis.script_flush()
        again = await limiter.hit("signup:198.51.100.8", 3, 60)
    finally:
        await redis.aclose()
    assert first[1] is not None
    assert first[1].count == 1
    assert second[1] is not None
    assert second[1].count == 2
    assert counted is not None
    assert again is not None
    assert (counted.count, again.count) == (1, 2)
