"""API fixtures: the real app on the test database, driven in-process over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker

from services.api.main import create_app
from services.api.settings import ApiSettings


@pytest.fixture
def api_settings(database_url: str, redis_url: str) -> ApiSettings:
    return ApiSettings(
        environment="test",
        database_url=database_url,
        redis_url=redis_url,
        rate_limit_per_minute=1000,
        signup_limit_per_hour=1000,
        business_metrics_interval_seconds=3600,
    )


@pytest.fixture
async def app(api_settings: ApiSettings, db_connection: AsyncConnection) -> AsyncIterator[FastAPI]:
    application = create_app(api_settings)
    async with application.router.lifespan_context(application):
        # Every request's unit of work runs in a savepoint of the test's transaction.
        application.state.sessionmaker = async_sessionmaker(
            bind=db_connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 51000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@dataclass
class ApiUser:
    id: str
    email: str
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


SignUp = Callable[..., Awaitable[ApiUser]]


@pytest.fixture
def sign_up(client: httpx.AsyncClient) -> SignUp:
    counter = {"n": 0}

    async def _sign_up(email: str | None = None) -> ApiUser:
        counter["n"] += 1
        address = email or f"user{counter['n']}@example.com"
        response = await client.post("/v1/users", json={"email": address})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return ApiUser(id=body["id"], email=body["email"], key=body["api_key"])

    return _sign_up


@pytest.fixture
async def alice(sign_up: SignUp) -> ApiUser:
    return await sign_up("alice@example.com")


@pytest.fixture
async def bob(sign_up: SignUp) -> ApiUser:
    return await sign_up("bob@example.com")


@dataclass
class OneConnectionApi:
    """The real app on a database of its own with a pool of one connection, which
    `drop_connection` has PostgreSQL end under it."""

    client: httpx.AsyncClient
    database_url: str
    engine: AsyncEngine

    async def drop_connection(self) -> None:
        admin = await asyncpg.connect(self.database_url.replace("+asyncpg", ""))
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = 'api'"
            )
        finally:
            await admin.close()
        assert killed == 1


@pytest.fixture
async def one_connection_api(
    api_settings: ApiSettings, fresh_database_url: str
) -> AsyncIterator[OneConnectionApi]:
    settings = api_settings.model_copy(
        update={"database_url": fresh_database_url, "database_pool_size": 1,
                "database_max_overflow": 0, "database_ping_after_idle_seconds": 3600.0,
                "database_pool_timeout_seconds": 0.2}
    )  # fmt: skip
    application = create_app(settings)
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        yield OneConnectionApi(client, fresh_database_url, application.state.engine)
