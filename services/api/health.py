"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

router = APIRouter(tags=["health"])

READY_TIMEOUT_SECONDS = 2.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive (no dependency is checked)."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={503: {"description": "PostgreSQL or Redis is unreachable."}},
)
async def readyz(request: Request) -> JSONResponse:
    """PostgreSQL and Redis are reachable: 200, else 503 naming what is down."""
    checks = {
        "postgres": await _check(_postgres(request)),
        "redis": await _check(_redis(request)),
    }
    ready = all(result == "ok" for result in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )


async def _postgres(request: Request) -> None:
    async with request.app.state.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def _redis(request: Request) -> None:
    await request.app.state.redis.ping()


async def _check(probe: object) -> str:
    try:
        await asyncio.wait_for(probe, READY_TIMEOUT_SECONDS)  # type: ignore[arg-type]
    except Exception as exc:  # any failure means "not ready"; the reason is reported
        return f"error: {type(exc).__name__}"
    return "ok"
