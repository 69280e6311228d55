"""The reference the API's lookup is compared with, over HTTP: bare FastAPI, one asyncpg
lookup, no middleware, auth, limits, logs or metrics. The same app `api_inprocess.py`
measures in-process, served by the API's own uvicorn command (one worker, uvloop,
httptools, no access log, proxy headers), so the ratio of the two over HTTP counts the
server's share too.

    PRICEALERT_DATABASE_URL=postgresql+asyncpg://... uvicorn scripts.bench.api_bare:app
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI

from pricealert.supervised import service_command

#: The one query: a watch and its product by the watch's id.
LOOKUP = (
    "SELECT w.id, p.url, p.price, p.currency FROM watch AS w "
    "JOIN product AS p ON p.id = w.product_id WHERE w.id = $1::uuid"
)
PATH = "/lookup/"
API_APP = "scripts.bench.api_bare:app"


def create_app(dsn: str) -> FastAPI:
    pool: asyncpg.Pool | None = None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        nonlocal pool
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=10)
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/readyz")
    async def ready() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(PATH + "{watch_id}")
    async def lookup(watch_id: str) -> dict[str, Any]:
        assert pool is not None
        row = await pool.fetchrow(LOOKUP, watch_id)
        return {"id": str(row["id"]), "url": row["url"], "price": str(row["price"])}

    return app


def command(port: int) -> list[str]:
    """The API's own uvicorn command (`service_command`, whatever its settings), serving
    this app instead."""
    api = service_command("api", host="127.0.0.1", port=port)
    return [API_APP if part == "services.api.main:app" else part for part in api]


def _dsn() -> str:
    url = os.environ.get("PRICEALERT_DATABASE_URL", "postgresql://127.0.0.1/postgres")
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


app = create_app(_dsn())
