"""RFC 9457 problem documents for every error the API returns."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pricealert.errors import PriceAlertError, RateLimited
from pricealert.logging import get_logger

PROBLEM_TYPE_BASE = "https://docs.pricealert.example/problems/"
MEDIA_TYPE = "application/problem+json"

_log = get_logger(__name__)


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


async def _pricealert_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PriceAlertError)
    headers = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return problem(exc.status, exc.code, exc.detail, title=exc.title, headers=headers, **exc.extra)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in exc.errors()
    ]
    if any(error["type"] == "json_invalid" for error in errors):
        return problem(400, "malformed_json", "the request body is not valid JSON", errors=errors)
    return problem(422, "invalid_input", "the request is not valid", errors=errors)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_")
    return problem(exc.status_code, code, str(exc.detail), headers=exc.headers)


async def _unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
    _log.error("request.failed", exc_info=exc)
    return problem(500, "internal_error", "an unexpected error occurred; it has been logged")


def install_problem_handlers(app: FastAPI) -> None:
    """Render every error as problem+json."""
    app.add_exception_handler(PriceAlertError, _pricealert_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
