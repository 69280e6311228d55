"""The one error hierarchy of PriceAlert.

    PriceAlertError                 base; carries an HTTP status and a stable `code`
    ├── NotFound                    404 (also for another user's objects)
    ├── Conflict                    409
    ├── InvalidInput                422 (user input that is wrong, with a reason)
    ├── Unauthorized                401 (missing, unknown, expired or revoked key)
    ├── RateLimited                 429 (with `retry_after` seconds)
    └── ServiceUnavailable          503 (a dependency is down)

The API renders every one of them as an RFC 9457 problem document; the CLI
prints `error: <code>: <detail>` and exits non-zero; workers record `code` as
the failure reason.
"""

from __future__ import annotations

from typing import Any, ClassVar


class PriceAlertError(Exception):
    """Base of every error PriceAlert raises on purpose."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(PriceAlertError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(PriceAlertError):
    status = 409
    code = "conflict"
    title = "Conflict"


class InvalidInput(PriceAlertError):
    status = 422
    code = "invalid_input"
    title = "Invalid input"


class Unauthorized(PriceAlertError):
    status = 401
    code = "unauthorized"
    title = "Unauthorized"


class RateLimited(PriceAlertError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after = retry_after


class ServiceUnavailable(PriceAlertError):
    status = 503
    code = "service_unavailable"
    title = "Service unavailable"
