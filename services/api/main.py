"""The HTTP API: `uvicorn services.api.main:app`.

`create_app(settings)` wires everything; `app` is the instance uvicorn serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from pricealert import queues
from pricealert.db import create_engine, create_sessionmaker
from pricealert.logging import configure_logging
from services.api import health, http_metrics
from services.api.alerts.endpoints import router as alerts_router
from services.api.business_metrics import business_metrics_loop
from services.api.channels.endpoints import router as channels_router
from services.api.http_metrics import HttpMetricsMiddleware
from services.api.middleware import BodyLimitMiddleware, RequestContextMiddleware
from services.api.notifications.endpoints import router as notifications_router
from services.api.problem_pages import router as problem_pages_router
from services.api.problems import COMMON_ERRORS, add_problem_schema, install_problem_handlers
from services.api.products.endpoints import router as products_router
from services.api.ratelimit import (
    RateLimiter,
    RateLimitHeadersMiddleware,
    describe_limits,
    document_rate_limits,
)
from services.api.sessions.endpoints import router as sessions_router
from services.api.settings import ApiSettings, get_api_settings
from services.api.users.endpoints import router as users_router


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """The API application for these settings."""
    settings = settings or get_api_settings()
    configure_logging("api", level=settings.log_level, json_output=settings.log_json)
    # RequestContextMiddleware writes the access line (with the request id). configure_logging
    # makes uvicorn's own logger propagate again, undoing `--no-access-log`: a second line per
    # request. No handler and no propagation: uvicorn then skips even formatting it.
    logging.getLogger("uvicorn.access").propagate = False

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.redis = queues.queue_client(settings.redis_url)
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
            await app.state.redis.aclose(close_connection_pool=True)
            await engine.dispose()

    app = FastAPI(
        title="PriceAlert",
        version="1.0.0",
        description="Watch product prices and stock; get alerted by email, SMS, Slack or "
        "signed webhooks. Amounts are decimal strings with an ISO 4217 currency; errors are "
        "RFC 9457 problem documents.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_problem_handlers(app)
    add_offline_docs(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_problem_schema(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
            document_rate_limits(app.openapi_schema, describe_limits(settings))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    v1 = APIRouter(prefix="/v1", responses=COMMON_ERRORS)
    for router in (
        users_router, sessions_router, products_router, channels_router, alerts_router,
        notifications_router,
    ):  # fmt: skip
        v1.include_router(router)
    app.include_router(v1)
    app.include_router(problem_pages_router)
    app.include_router(health.router)
    app.include_router(http_metrics.router)
    app.add_middleware(HttpMetricsMiddleware)
    app.add_middleware(RateLimitHeadersMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=[
                "X-Request-ID",
                "Retry-After",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
                "RateLimit-Policy",
            ],
        )
    app.add_middleware(RequestContextMiddleware)
    if settings.trusted_proxies:
        # Outermost: the client address every limit counts is the one the ALB saw.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    return app


#: Swagger UI and ReDoc's files, from a pinned package that bundles them (no CDN).
DOCS_ASSETS = "/docs-assets"


def add_offline_docs(app: FastAPI) -> None:
    """`/docs` (Swagger UI) and `/redoc` with their JS/CSS served by the API itself, so they
    work with no Internet access and no third-party CDN sees who reads the docs."""
    assets = importlib.resources.files("fastapi_offline") / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(assets)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} API",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            oauth2_redirect_url=None,
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} API",
            redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )


app = create_app()
