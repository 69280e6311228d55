"""The HTTP API: `uvicorn services.api.main:app`.

`create_app(settings)` wires everything; `app` is the instance uvicorn serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from pricealert import queues
from pricealert.allocator import tune_for
from pricealert.db import create_engine, create_sessionmaker
from pricealert.logging import configure_logging
from services.api import health, http_metrics
from services.api.alerts.endpoints import router as alerts_router
from services.api.business_metrics import business_metrics_loop
from services.api.channels.endpoints import router as channels_router
from services.api.fastroute import FastRoute, fast_handler_of, install_hot_routes
from services.api.keycache import PrincipalCache, listen_for_revocations
from services.api.middleware import RequestContextMiddleware, ResponseMiddleware
from services.api.notifications.endpoints import router as notifications_router
from services.api.problem_pages import router as problem_pages_router
from services.api.problems import COMMON_ERRORS, add_problem_schema, install_problem_handlers
from services.api.products.endpoints import router as products_router
from services.api.ratelimit import (
    RateLimiter,
    describe_limits,
    document_rate_limits,
    limiter_client,
)
from services.api.sessions.endpoints import router as sessions_router
from services.api.settings import ApiSettings, get_api_settings
from services.api.users.endpoints import router as users_router


def _utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: ApiSettings | None = None, *, clock: Callable[[], datetime] = _utc_now
) -> FastAPI:
    """The API application for these settings; `clock` is what "now" is for key expiry."""
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
        # Reads run without BEGIN/COMMIT: AUTOCOMMIT connections from the same pool.
        app.state.read_sessionmaker = create_sessionmaker(
            engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        app.state.read_sessionmaker_of = app.state.sessionmaker
        app.state.redis = queues.queue_client(settings.redis_url)
        limiter_redis = limiter_client(settings.redis_url)
        app.state.rate_limiter = RateLimiter(limiter_redis)
        app.state.key_cache = PrincipalCache(settings.key_cache_seconds)
        app.state.revocations_heard = asyncio.Event()
        # Startup's heap (modules, app, pools: ~145 000 objects) frozen, out of the cyclic
        # collector's walks (50–150 ms each, every request in flight waiting); the
        # collector's and glibc's thresholds set for many requests in flight
        # (pricealert.allocator). As in the workers and the web UI.
        tune_for(settings)
        tasks = [
            asyncio.create_task(
                business_metrics_loop(
                    app.state.sessionmaker, settings.business_metrics_interval_seconds
                )
            ),
            asyncio.create_task(
                listen_for_revocations(
                    app.state.redis, app.state.key_cache, app.state.revocations_heard
                )
            ),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await app.state.redis.aclose(close_connection_pool=True)
            await limiter_redis.aclose()
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
        # The API's telemetry is the plan's: Prometheus metrics and JSON logs. FastAPI's own
        # OpenTelemetry hooks stay off (left on, every request asks the OTel globals whether
        # a provider is configured, reading the environment each time).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.clock = clock  # tests move it instead of waiting for an expiry
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
    for router in (
        users_router, sessions_router, products_router, channels_router, alerts_router,
        notifications_router,
    ):  # fmt: skip
        include_flat(app, router, prefix="/v1", responses=COMMON_ERRORS)
    app.include_router(problem_pages_router)
    app.include_router(health.router)
    app.include_router(http_metrics.router)
    install_hot_routes(app.router)
    app.add_middleware(ResponseMiddleware, max_bytes=settings.max_body_bytes)
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


def include_flat(
    app: FastAPI,
    router: APIRouter,
    *,
    prefix: str,
    responses: dict[int | str, Any],
    tags: list[Any] | None = None,
) -> None:
    """Add `router`'s routes to the app's own route list under `prefix`, as
    `include_router` did before FastAPI kept included routers nested.

    Nested, every request matched its path level by level, twice (to choose, then to
    handle), and recomputed each level's routes version on the way: about a third of a
    lookup's CPU before any of its own work. Flat, it is one pass over one list. The
    OpenAPI document is the same (tests/api/test_conventions.py compares it with the
    nested build)."""
    for route in router.routes:
        nested = getattr(route, "original_router", None)
        if isinstance(nested, APIRouter):  # a router included in this one
            context = route.include_context  # type: ignore[attr-defined]
            include_flat(
                app,
                nested,
                prefix=prefix + context.prefix,
                responses={**responses, **context.responses},
                tags=[*(tags or []), *context.tags],
            )
            continue
        if not isinstance(route, APIRoute):
            raise ValueError(f"include_flat: {route!r} is not an API route")
        route_class = type(route)
        if fast_handler_of(route.endpoint) is not None:  # see services.api.fastroute
            if route_class is not APIRoute:
                raise ValueError(f"include_flat: {route!r} has a fast path and its own class")
            route_class = FastRoute
        app.router.add_api_route(
            prefix + route.path,
            route.endpoint,
            response_model=route.response_model,
            status_code=route.status_code,
            tags=[*(tags or []), *(route.tags or [])] or None,
            dependencies=route.dependencies,
            summary=route.summary,
            description=route.description,
            response_description=route.response_description,
            responses={**responses, **route.responses},
            deprecated=route.deprecated,
            methods=route.methods,
            operation_id=route.operation_id,
            response_model_include=route.response_model_include,
            response_model_exclude=route.response_model_exclude,
            response_model_by_alias=route.response_model_by_alias,
            response_model_exclude_unset=route.response_model_exclude_unset,
            response_model_exclude_defaults=route.response_model_exclude_defaults,
            response_model_exclude_none=route.response_model_exclude_none,
            include_in_schema=route.include_in_schema,
            response_class=route.response_class,
            name=route.name,
            callbacks=route.callbacks,
            openapi_extra=route.openapi_extra,
            generate_unique_id_function=route.generate_unique_id_function,
            route_class_override=route_class,
        )


#: Swagger UI and ReDoc's files, from a pinned package that bundles them (no CDN).
DOCS_ASSETS = "/docs-assets"
#: Each docs page's asset URL parameters, and the file in DOCS_ASSETS each one names.
_SWAGGER_FILES = {
    "swagger_js_url": "swagger-ui-bundle.js",
    "swagger_css_url": "swagger-ui.css",
    "swagger_favicon_url": "favicon.png",
}
_REDOC_FILES = {"redoc_js_url": "redoc.standalone.js", "redoc_favicon_url": "favicon.png"}


def add_offline_docs(app: FastAPI) -> None:
    """`/docs` (Swagger UI) and `/redoc` with their JS/CSS served by the API itself, so they
    work with no Internet access and no third-party CDN sees who reads the docs."""
    assets = importlib.resources.files("fastapi_offline") / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(assets)), name="docs-assets")

    def page(
        request: Request,
        render: Callable[..., HTMLResponse],
        files: dict[str, str],
        **options: object,
    ) -> HTMLResponse:
        """`render`'s page with every URL under the path the API is served at (`files`: the
        asset each URL parameter names)."""
        root = request.scope.get("root_path", "")
        urls = {param: f"{root}{DOCS_ASSETS}/{file}" for param, file in files.items()}
        return render(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} API", **urls, **options
        )

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        return page(request, get_swagger_ui_html, _SWAGGER_FILES, oauth2_redirect_url=None)

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return page(request, get_redoc_html, _REDOC_FILES, with_google_fonts=False)


app = create_app()
