"""The web service's one pure-ASGI middleware: request id, access log, request metrics,
and the security headers every answer carries."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pricealert import metrics
from pricealert.logging import RequestLog, get_logger

_UNMEASURED = ("/metrics", "/healthz", "/readyz")
_error_log = get_logger("pricealert.web")

#: Headers of every answer (pages add their Content-Security-Policy and caching).
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


class WebRequestMiddleware:
    def __init__(self, app: ASGIApp, csp: str) -> None:
        self.app = app
        self.csp = (b"content-security-policy", csp.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        log = RequestLog(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                log.status = message["status"]
                headers = list(message.get("headers", []))
                names = {name for name, _ in headers}
                headers.append((b"x-request-id", log.request_id.encode()))
                headers += [h for h in SECURITY_HEADERS if h[0] not in names]
                if b"content-security-policy" not in names:
                    headers.append(self.csp)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            _error_log.error("request.failed", exc_info=exc)
            raise
        finally:
            elapsed = log.finish()
            route = getattr(scope.get("route"), "path", None)
            if route is not None and route not in _UNMEASURED:
                metrics.WEB_REQUESTS.labels(scope["method"], route, str(log.status)).inc()
                metrics.WEB_REQUEST_DURATION.labels(scope["method"], route).observe(elapsed)
