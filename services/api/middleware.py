"""ASGI middleware: request ids, body size limit, access log.

Pure ASGI (no BaseHTTPMiddleware) to keep the per-request cost small.
"""

from __future__ import annotations

import time

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pricealert.logging import RequestLog, get_logger
from services.api.http_metrics import RouteMetrics
from services.api.problems import (
    BODY_TOO_LARGE,
    DATABASE_BUSY,
    DATABASE_UNAVAILABLE,
    problem,
    problem_of,
)
from services.api.ratelimit import shown_window

_error_log = get_logger("pricealert.api")


class RequestContextMiddleware:
    """Give every request an `X-Request-ID` (the client's, if sane), log it, echo it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        log = RequestLog(scope)
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                log.status = message["status"]
                response_started = True
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", log.request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Handled here, inside the request's context, so the line carries its request id.
            if isinstance(exc, PoolTimeout):  # overload: one line each, no traceback flood
                _error_log.warning("request.database_busy", detail=str(exc))
            else:
                _error_log.error("request.failed", exc_info=exc)
            if not response_started:
                response = _failure_response(exc, scope)
                await response(scope, receive, send_with_id)
        finally:
            log.finish()


class ResponseMiddleware:
    """The body size limit, the rate-limit fields and the HTTP metrics, as one layer (one
    coroutine frame and one `send` wrapper per request instead of three of each: every
    layer is paid again each time the request's task resumes).

    Bodies over `max_bytes` are refused with 413, whether announced or streamed. A body
    with a Content-Length is refused from the header alone (the server holds it to that
    length). A chunked body has no length to check: it is read here, up to the limit,
    before the application sees any of it, so an oversize one is a 413 problem like a
    declared one (64 KiB of buffer per request at most), never a parsing error in the
    middle of a handler. A refused body is answered before the rest: no metrics, no
    rate-limit fields (as when these were separate layers inside the limit's).

    Every other response carries the rate-limit window its request was counted in (any
    status; `ratelimit.shown_window`), and is counted and timed under its route template
    (`http_metrics.RouteMetrics`)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.metrics = RouteMetrics()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = False
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit():
                declared = True
                if int(value) > self.max_bytes:
                    await self._too_large(scope, receive, send)
                    return
            elif name == b"transfer-encoding":
                chunked = True
        if chunked and not declared:
            buffered = await self._read_streamed(receive)
            if buffered is None:
                await self._too_large(scope, receive, send)
                return
            receive = _replay(buffered, receive)
        # A request with neither header has no body (RFC 9112 6.3): nothing to read.
        before = dict(scope)  # routing adds to the scope; templates resolve from the original
        started = time.perf_counter()
        status = 500

        async def send_with_fields(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                window = shown_window(scope)
                if window is not None:
                    message["headers"] = [*message.get("headers", []), *window.headers()]
            await send(message)

        try:
            await self.app(scope, receive, send_with_fields)
        finally:
            self.metrics.record(scope, before, status, started)

    async def _read_streamed(self, receive: Receive) -> list[Message] | None:
        """The request's messages up to the end of its body; None past the limit."""
        messages: list[Message] = []
        received = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages  # the client went away: let the app see it
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                return None
            if not message.get("more_body", False):
                return messages

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_of(
            BODY_TOO_LARGE,
            f"the request body is larger than {self.max_bytes} bytes",
            scope=scope,
            # The rest of an unread body would be taken as the next request.
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replaying_receive() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()  # http.disconnect, when the client goes

    return replaying_receive


def client_address(scope: Scope) -> str:
    """The caller's address (the ALB's X-Forwarded-For is applied by uvicorn's proxy headers)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _failure_response(exc: Exception, scope: Scope) -> JSONResponse:
    """A 503 when PostgreSQL dropped the connection (the pool is already renewed: a retry
    succeeds) or no connection came free in time (overload), else a 500."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return problem_of(
            DATABASE_UNAVAILABLE, "the database connection was lost; retry the request",
            scope=scope, headers={"Retry-After": "1"},
        )  # fmt: skip
    if isinstance(exc, PoolTimeout):
        return problem_of(
            DATABASE_BUSY, "no database connection came free in time; retry the request",
            scope=scope, headers={"Retry-After": "1"},
        )  # fmt: skip
    return problem(
        500, "internal_error", "an unexpected error occurred; it has been logged", scope=scope
    )
