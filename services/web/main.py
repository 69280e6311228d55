"""The web UI: `uvicorn services.web.main:app`.

Server-rendered pages (Jinja2) that reach data only through the public API (`/v1`, see
`api_client`); every essential action is a plain HTML form, scripts only enhance. Pages:
`pages/`; the visitor, session and CSRF: `visit`, `session`; languages, amounts and times:
`i18n`; page-load timing, health and metrics: `rum`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from pricealert.allocator import tune_for
from pricealert.logging import configure_logging, get_logger
from services.web import rum
from services.web.api_client import ApiClient, ApiError
from services.web.middleware import WebRequestMiddleware
from services.web.pages import activity, alerts, auth, channels, keys, products
from services.web.session import SESSION_COOKIE, SessionCodec
from services.web.settings import WebSettings, get_web_settings
from services.web.static import CachedStaticFiles, static_url
from services.web.visit import CSP, CsrfRefused, FormTooLarge, SignInRequired, _visit

HERE = Path(__file__).parent
_log = get_logger("pricealert.web")


def templates(reload: bool = False) -> Environment:
    """The pages' templates, compiled once (checked for changes only when `reload`)."""
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=reload,
    )
    env.globals["static_url"] = static_url
    env.globals["hours"] = hours
    return env


def hours(seconds: object) -> str:
    """Seconds as hours for a form field: 3600 → `1`, 5400 → `1.5`."""
    if not isinstance(seconds, int):
        return str(seconds or "0")
    return f"{seconds / 3600:.2f}".rstrip("0").rstrip(".")


def create_app(settings: WebSettings | None = None) -> FastAPI:
    settings = settings or get_web_settings()
    configure_logging("web", level=settings.log_level, json_output=settings.log_json)
    logging.getLogger("uvicorn.access").propagate = False
    # Every page makes several API calls: the access lines of both services say enough.
    logging.getLogger("httpx").setLevel(logging.WARNING)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.api = ApiClient(settings.api_url, settings.api_timeout_seconds)
        tune_for(settings)  # startup's heap frozen, thresholds set (pricealert.allocator)
        try:
            yield
        finally:
            await app.state.api.aclose()

    app = FastAPI(
        title="PriceAlert web", lifespan=lifespan, docs_url=None, redoc_url=None,
        openapi_url=None,
    )  # fmt: skip
    app.state.settings = settings
    app.state.codec = SessionCodec(settings.secret_key.get_secret_value())
    app.state.beacons_counted = rum.CountedTokens()
    app.state.templates = templates(reload=settings.environment == "development")
    for module in (auth, products, alerts, channels, activity, keys, rum):
        app.include_router(module.router)
    app.mount("/static", CachedStaticFiles(directory=HERE / "static"), name="static")
    install_error_pages(app)
    app.add_middleware(WebRequestMiddleware, csp=CSP)
    if settings.trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    return app


def install_error_pages(app: FastAPI) -> None:
    """What a person sees when something is not right: a page in their language, never a
    traceback, and a way on."""

    @app.exception_handler(SignInRequired)
    async def sign_in_required(request: Request, exc: SignInRequired) -> Response:
        return _visit(request).redirect("/sign-in")

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, exc: CsrfRefused) -> Response:
        visit = _visit(request)
        return visit.render("error.html", status=403, reason="csrf")

    @app.exception_handler(FormTooLarge)
    async def form_too_large(request: Request, exc: FormTooLarge) -> Response:
        return _visit(request).render("error.html", status=413, reason="too_large")

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        visit = _visit(request)
        if exc.status == 401:
            # The session key expired or was revoked (signed out elsewhere): sign in again.
            visit.cookies[SESSION_COOKIE] = None
            return visit.redirect("/sign-in?expired=1")
        if exc.status == 404:
            return visit.render("error.html", status=404, reason="not_found")
        if exc.status == 429:
            return visit.render(
                "error.html",
                status=429,
                reason="rate_limited",
                retry_after=exc.problem.get("retry_after"),
            )
        if exc.status >= 500:
            _log.warning("web.api_failed", status=exc.status, code=exc.code)
            return visit.render("error.html", status=503, reason="unavailable")
        return visit.render("error.html", status=exc.status, reason="refused", detail=exc.detail)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        # A bug of ours: logged with its traceback (by the middleware), never shown.
        return _visit(request).render("error.html", status=500, reason="unavailable")

    @app.exception_handler(404)
    async def not_found(request: Request, exc: Exception) -> Response:
        return _visit(request).render("error.html", status=404, reason="not_found")

    @app.exception_handler(422)
    async def bad_request(request: Request, exc: Exception) -> Response:
        return _visit(request).render("error.html", status=404, reason="not_found")


app = create_app()
