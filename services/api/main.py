"""The HTTP API: `uvicorn services.api.main:app`.

`create_app(settings)` wires everything; `app` is the instance uvicorn serves.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from arq import create_pool
from arq.connections import RedisSettings
from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from prometheus_fastapi_instrumentator import Instrumentator
from prometheus_fastapi_instrumentator import metrics as instrumentator_metrics
from prometheus_fastapi_instrumentator.metrics import Info

from pricealert import metrics, queues
from pricealert.db import create_engine, create_sessionmaker
from pricealert.logging import configure_logging
from services.api import health
from services.api.alerts.endpoints import router as alerts_router
from services.api.business_metrics import business_metrics_loop
from services.api.channels.endpoints import router as channels_router
from services.api.middleware import BodyLimitMiddleware, RequestContextMiddleware
from services.api.notifications.endpoints import router as notifications_router
from services.api.problems import install_problem_handlers
from services.api.products.endpoints import router as products_router
from services.api.ratelimit import RateLimiter
from services.api.settings import ApiSettings, get_api_settings
from services.api.users.endpoints import router as users_router


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """The API application for these settings."""
    settings = settings or get_api_settings()
    configure_logging("api", level=settings.log_level, json_output=settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.redis = await create_pool(
            RedisSettings.from_dsn(settings.redis_url),
            job_serializer=queues.serializer,
            job_deserializer=queues.deserializer,
            default_queue_name=queues.SCRAPE_QUEUE,
        )
        app.state.rate_limiter = RateLimiter(app.state.redis)
        refresher = asyncio.create_task(
            business_metrics_loop(
                app.state.sessionmaker, settings.business_metrics_interval_seconds
            )
        )
        try:
            yield
        finally:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
            await app.state.redis.aclose()
            await engine.dispose()

    app = FastAPI(
        title="PriceAlert",
        version="1.0.0",
        description="Watch product prices and stock; get alerted by email, SMS, Slack or "
        "signed webhooks. Amounts are decimal strings with an ISO 4217 currency; errors are "
        "RFC 9457 problem documents.",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    v1 = APIRouter(prefix="/v1")
    for router in (
        users_router, products_router, channels_router, alerts_router, notifications_router,
    ):  # fmt: skip
        v1.include_router(router)
    app.include_router(v1)
    app.include_router(health.router)
    Instrumentator(
        should_group_status_codes=False,
        should_ignore_untemplated=True,
        excluded_handlers=["/metrics", "/healthz", "/readyz"],
    ).add(_requests_metric(), _latency_metric()).instrument(app).expose(
        app, include_in_schema=False
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(RequestContextMiddleware)
    return app


def _requests_metric() -> Callable[[Info], None] | None:
    return instrumentator_metrics.requests(
        metric_name="http_requests_total", should_include_status=True, registry=metrics.registry
    )


def _latency_metric() -> Callable[[Info], None] | None:
    # Latency without the status label: fewer series, and the SLO needs only the route.
    return instrumentator_metrics.latency(
        metric_name="http_request_duration_seconds",
        buckets=metrics.HTTP_LATENCY_BUCKETS,
        should_include_status=False,
        registry=metrics.registry,
    )


app = create_app()
