"""The one error hierarchy of PriceAlert.

    PriceAlertError                 base; carries an HTTP status and a stable `code`
    ├── NamedError                  a module's refusals, each `code` named where raised
    ├── NotFound                    404 (also for another user's objects)
    ├── Conflict                    409
    ├── InvalidInput                422 (user input that is wrong: which parameter, which rule)
    ├── Unauthorized                401 (missing, unknown, expired or revoked key)
    ├── RateLimited                 429 (with `retry_after` seconds)
    └── ServiceUnavailable          503 (a dependency is down)

The API renders every one of them as an RFC 9457 problem document whose `type`
is the API's own page for the `code` (`GET /problems/{code}`, written from the
class's docstring: a new error type has its page by construction); the CLI
prints `error: <code>: <detail>` and exits non-zero; workers record `code` as
the failure reason.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

#: Where an invalid parameter was sent (RFC 9457 problem documents name it in `errors[].in`).
ParamLocation = Literal["body", "query", "path", "header"]


class PriceAlertError(Exception):
    """Something went wrong on our side; it has been logged. Retrying later may help."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal error"

    def __init_subclass__(
        cls,
        *,
        status: int | None = None,
        code: str | None = None,
        title: str | None = None,
        **kwargs: Any,
    ) -> None:
        """A subclass declares what it changes on its class line:
        `class Gone(PriceAlertError, status=410, code="gone", title="Gone")`."""
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if code is not None:
            cls.code = code
        if title is not None:
            cls.title = title

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NamedError(PriceAlertError):
    """An error whose `code` is named where it is raised: one class for a module's many
    refusals (`raise RestoreError("target_exists", detail)`)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code  # type: ignore[misc]  # one class, many named codes


class NotFound(PriceAlertError, status=404, code="not_found", title="Not found"):
    """The object does not exist, or belongs to another user (which is not revealed: the
    answer is the same 404)."""


class Conflict(PriceAlertError, status=409, code="conflict", title="Conflict"):
    """The request conflicts with an object that already exists. When that object is yours,
    the problem document names it (`existing_id`, `existing_url`)."""


class InvalidInput(PriceAlertError, status=422, code="invalid_input", title="Invalid input"):
    """Some input is not valid. `errors` lists each invalid parameter: where it was sent
    (`in`: body, query, path or header), its `name` (a dotted path into the body), the `rule`
    it broke (a stable name such as `greater_than_equal`, `currency_minor_units`) and a
    `reason` a person can read. `field` repeats the first one's name. Nothing was changed."""

    def __init__(
        self,
        detail: str,
        *,
        field: str | None = None,
        rule: str = "invalid",
        location: ParamLocation | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail, **extra)
        self.field = field
        self.rule = rule
        #: None: the API looks the field up among the request's query and path parameters,
        #: else takes it as a body field.
        self.location = location


class Unauthorized(PriceAlertError, status=401, code="unauthorized", title="Unauthorized"):
    """The request carries no API key, or one that is unknown, expired or revoked. Send
    `Authorization: Bearer <key>`."""


class RateLimited(PriceAlertError, status=429, code="rate_limited", title="Too many requests"):
    """Too many requests: wait the number of seconds in `Retry-After` before the next one."""

    def __init__(self, detail: str, *, retry_after: int, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after = retry_after


class ServiceUnavailable(
    PriceAlertError, status=503, code="service_unavailable", title="Service unavailable"
):
    """A service PriceAlert depends on is down for now; retry later."""
