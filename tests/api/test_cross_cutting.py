"""Rate limiting, request ids, the log line shape, health and metrics."""

from __future__ import annotations

import io
import json
import logging
import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from pricealert.logging import configure_logging
from pricealert.settings import PriceAlertSettings
from services.api.main import create_app
from services.api.settings import ApiSettings
from tests.api.conftest import ApiUser, OneConnectionApi

LOG_FIELDS = {
    "timestamp",
    "level",
    "logger",
    "message",
    "module",
    "function",
    "line",
    "service",
    "category",
}


async def test_a_key_past_its_limit_gets_429_with_retry_after(
    api_settings: ApiSettings, db_connection: object, alice: ApiUser, app: FastAPI
) -> None:
    app.state.settings.rate_limit_per_minute = 3
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        statuses = [
            (await client.get("/v1/products", headers=alice.auth)).status_code for _ in range(5)
        ]
        assert statuses == [200, 200, 200, 429, 429]
        limited = await client.get("/v1/products", headers=alice.auth)
    assert limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60


async def test_the_request_id_is_echoed_or_made_and_appears_in_every_log_line(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    stream = io.StringIO()
    configure_logging("api", stream=stream)
    given = await client.get("/v1/products", headers={**alice.auth, "X-Request-ID": "req-123.abc"})
    assert given.headers["x-request-id"] == "req-123.abc"
    made = await client.get("/v1/products", headers=alice.auth)
    assert len(made.headers["x-request-id"]) == 32
    hostile = await client.get("/v1/products", headers={**alice.auth, "X-Request-ID": "a b\x7f"})
    assert hostile.headers["x-request-id"] != "a b\x7f"
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [line for line in lines if line["message"] == "http.request"]
    assert [line["request_id"] for line in access][:2] == [
        "req-123.abc",
        made.headers["x-request-id"],
    ]
    for line in access:
        assert set(line) >= LOG_FIELDS
        assert line["category"] == "access"
        assert line["user_id"] == alice.id
        assert line["timestamp"].endswith("Z")


async def test_an_unexpected_error_is_a_logged_500_problem_without_internals(
    api_settings: ApiSettings,
) -> None:
    application = create_app(api_settings)

    @application.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    stream = io.StringIO()
    configure_logging("api", stream=stream)
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        response = await client.get("/boom", headers={"X-Request-ID": "boom-1"})
    assert response.status_code == 500
    assert "secret internals" not in response.text
    assert response.json()["code"] == "internal_error"
    errors = [json.loads(x) for x in stream.getvalue().splitlines() if '"request.failed"' in x]
    assert errors
    assert errors[0]["exception"]["type"] == "RuntimeError"
    assert errors[0]["request_id"] == "boom-1"
    assert "secret internals" in errors[0]["exception"]["traceback"]


async def test_health_ready_and_metrics(client: httpx.AsyncClient, alice: ApiUser) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"postgres": "ok", "redis": "ok"}
    await client.get("/v1/products/00000000-0000-0000-0000-000000000000", headers=alice.auth)
    exposition = (await client.get("/metrics")).text
    assert (
        'http_requests_total{handler="/v1/products/{product_id}",method="GET",status="404"}'
        in exposition
    )
    assert (
        'http_request_duration_seconds_bucket{handler="/v1/users",le="0.2",method="POST"}'
        in exposition
    )
    assert 'le="0.5"' in exposition


async def test_readyz_says_503_when_redis_is_unreachable(
    database_url: str, db_connection: object
) -> None:
    settings = ApiSettings(
        environment="test", database_url=database_url, redis_url="redis://127.0.0.1:1/0"
    )
    application = create_app(settings)
    # Startup must not need Redis to be up: the pool connects lazily.
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["postgres"] == "ok"
    assert ready.json()["checks"]["redis"].startswith("error")


@pytest.fixture(autouse=True)
def _restore_logging() -> object:
    yield None
    configure_logging("api")
    logging.getLogger().setLevel("INFO")


async def test_the_rate_limiter_fails_open_while_redis_is_unreachable(
    database_url: str, db_connection: object
) -> None:
    from sqlalchemy.ext.asyncio import AsyncConnection, async_sessionmaker

    assert isinstance(db_connection, AsyncConnection)
    settings = ApiSettings(
        environment="test", database_url=database_url, redis_url="redis://127.0.0.1:1/0"
    )
    application = create_app(settings)
    stream = io.StringIO()
    configure_logging("api", stream=stream)
    async with application.router.lifespan_context(application):
        application.state.sessionmaker = async_sessionmaker(
            bind=db_connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            signed_up = await client.post("/v1/users", json={"email": "down@example.com"})
            key = signed_up.json()["api_key"]
            listed = await client.get("/v1/products", headers={"Authorization": f"Bearer {key}"})
    assert signed_up.status_code == 201
    assert listed.status_code == 200
    assert '"ratelimit.unavailable"' in stream.getvalue()


async def test_business_gauges_count_users_products_and_pending_notifications(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser, db_session: object
) -> None:
    from prometheus_client import REGISTRY
    from sqlalchemy.ext.asyncio import AsyncSession

    from services.api.business_metrics import refresh_business_metrics

    assert isinstance(db_session, AsyncSession)
    for user in (alice, bob):
        await client.post(
            "/v1/products", json={"url": "https://shop.example/shared"}, headers=user.auth
        )
    await client.post("/v1/products", json={"url": "https://shop.example/own"}, headers=bob.auth)
    channel = await client.post(
        "/v1/channels",
        json={"kind": "webhook", "target": "https://hooks.example.com/b"},
        headers=bob.auth,
    )
    await client.post(f"/v1/channels/{channel.json()['id']}/test", headers=bob.auth)

    await refresh_business_metrics(db_session)
    assert REGISTRY.get_sample_value("pricealert_active_users") == 2
    assert REGISTRY.get_sample_value("pricealert_watched_products") == 2
    assert REGISTRY.get_sample_value("pricealert_products", {"status": "active"}) == 2
    assert REGISTRY.get_sample_value("pricealert_products", {"status": "paused"}) == 0
    assert REGISTRY.get_sample_value("pricealert_notifications_pending") == 1


async def test_a_database_connection_lost_mid_use_is_a_503_to_retry_then_serves_again(
    one_connection_api: OneConnectionApi,
) -> None:
    client = one_connection_api.client
    created = await client.post("/v1/users", json={"email": "dora@example.com"})
    auth = {"Authorization": f"Bearer {created.json()['api_key']}"}
    assert (await client.get("/v1/users/me", headers=auth)).status_code == 200
    await one_connection_api.drop_connection()

    lost = await client.get("/v1/users/me", headers=auth)
    assert lost.status_code == 503
    assert lost.headers["retry-after"] == "1"
    assert lost.json()["code"] == "database_unavailable"
    assert (await client.get("/v1/users/me", headers=auth)).status_code == 200


async def test_each_request_is_counted_and_timed_once_under_its_template(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    from prometheus_client import REGISTRY

    labels = {"handler": "/v1/products/{product_id}", "method": "GET", "status": "404"}
    timed = {"handler": "/v1/products/{product_id}", "method": "GET"}

    def counted() -> tuple[float, float]:
        count = REGISTRY.get_sample_value("http_requests_total", labels) or 0.0
        seconds = REGISTRY.get_sample_value("http_request_duration_seconds_count", timed) or 0.0
        return count, seconds

    before = counted()
    for _ in range(3):  # the labelled children are remembered after the first
        missing = f"/v1/products/{uuid.uuid4()}"
        assert (await client.get(missing, headers=alice.auth)).status_code == 404
    after = counted()
    assert (after[0] - before[0], after[1] - before[1]) == (3.0, 3.0)


async def test_a_request_that_waits_too_long_for_a_connection_is_a_503_to_retry(
    one_connection_api: OneConnectionApi,
) -> None:
    """With every pooled connection busy past the pool's timeout, the API is overloaded: a
    503 naming it, not a 500; served again once a connection is free."""
    client = one_connection_api.client
    created = await client.post("/v1/users", json={"email": "erin@example.com"})
    auth = {"Authorization": f"Bearer {created.json()['api_key']}"}
    async with one_connection_api.engine.connect() as held:  # the pool's only connection
        await held.execute(text("SELECT 1"))
        busy = await client.get("/v1/users/me", headers=auth)
        product = await client.get(f"/v1/products/{uuid.uuid4()}", headers=auth)  # fast path
    assert busy.status_code == 503
    assert busy.headers["retry-after"] == "1"
    assert busy.json()["code"] == "database_busy"
    assert product.status_code == 503
    assert product.json()["code"] == "database_busy"
    assert (await client.get("/v1/users/me", headers=auth)).status_code == 200


def test_the_api_waits_for_a_connection_far_less_than_the_workers() -> None:
    """A request is not kept 30 s in the pool's queue (the workers' wait): past 5 s it is
    a 503 the client can retry."""
    assert ApiSettings().database_pool_timeout_seconds == 5.0
    assert PriceAlertSettings().database_pool_timeout_seconds == 30.0
