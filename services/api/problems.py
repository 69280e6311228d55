"""RFC 9457 problem documents for every error the API returns.

Every problem's `type` is the API's own page about it (`GET /problems/{code}`, see
`problem_pages`); the set of types is generated from the one error hierarchy
(`pricealert.errors.PriceAlertError` and its subclasses: status, title and docstring)
plus the few problems only the HTTP layer raises (`API_PROBLEMS` below) and the
framework's plain HTTP statuses (404 for an unknown route, 405, ...). So a new error
class has its page the moment it exists.

Every invalid-input answer (pydantic, a check of ours, a path or query parameter)
has one shape: status 422 (400 for a body that is not JSON), `code`, `detail`,
`field` (the first invalid parameter) and `errors`, one entry per invalid parameter:
`{"in": "body"|"query"|"path"|"header", "name": "threshold", "pointer": "#/threshold",
"rule": "currency_minor_units", "reason": "JPY has no minor unit"}` (`pointer`, an RFC
6901 JSON pointer as a URI fragment, for body parameters only).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from pricealert.errors import InvalidInput, ParamLocation, PriceAlertError, RateLimited

MEDIA_TYPE = "application/problem+json"
PROBLEMS_PATH = "/problems/"


@dataclass(frozen=True, slots=True)
class ProblemType:
    """One kind of problem: what its page at `/problems/{code}` says."""

    code: str
    status: int
    title: str
    description: str


#: Problems raised by the HTTP layer itself rather than by a PriceAlertError.
MALFORMED_JSON = ProblemType(
    "malformed_json",
    400,
    "Malformed JSON",
    "The request body is not valid JSON (or uses NaN/Infinity, which JSON does not have). "
    "`errors` says where parsing stopped. Nothing was changed.",
)
BODY_TOO_LARGE = ProblemType(
    "body_too_large",
    413,
    "Request body too large",
    "The request body is larger than the API accepts (64 KiB by default), whether its "
    "size was declared with Content-Length or it was streamed in chunks. Nothing was changed.",
)
DATABASE_UNAVAILABLE = ProblemType(
    "database_unavailable",
    503,
    "Database unavailable",
    "The connection to the database was lost while answering; it has been renewed. "
    "Retry the request after `Retry-After` seconds.",
)
DATABASE_BUSY = ProblemType(
    "database_busy",
    503,
    "Database busy",
    "Every database connection of the API process that took the request stayed busy "
    "longer than it may wait for one (`PRICEALERT_DATABASE_POOL_TIMEOUT_SECONDS`): the API "
    "is overloaded, and what the request asked for was not done. Retry after "
    "`Retry-After` seconds.",
)
API_PROBLEMS: tuple[ProblemType, ...] = (
    MALFORMED_JSON,
    BODY_TOO_LARGE,
    DATABASE_UNAVAILABLE,
    DATABASE_BUSY,
)


def _error_classes(root: type[PriceAlertError]) -> Iterator[type[PriceAlertError]]:
    yield root
    for sub in root.__subclasses__():
        yield from _error_classes(sub)


def _http_code(status: int) -> str:
    return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")


def problem_types() -> dict[str, ProblemType]:
    """Every problem type the API can answer with, by code (generated: see the module doc).

    Computed on each call: error classes defined after start-up (plugins) are included."""
    types: dict[str, ProblemType] = {}
    for cls in _error_classes(PriceAlertError):
        # The class that declares a code describes it; subclasses that only specialise
        # the Python type share its page.
        owner = _declaring(cls)
        types.setdefault(
            owner.code,
            ProblemType(owner.code, owner.status, owner.title, inspect.getdoc(owner) or ""),
        )
    for declared in API_PROBLEMS:
        types.setdefault(declared.code, declared)
    for status in HTTPStatus:
        if status >= 400:
            code = _http_code(status)
            types.setdefault(
                code,
                ProblemType(
                    code,
                    int(status),
                    status.phrase,
                    f"HTTP {int(status)} {status.phrase}: {status.description}.",
                ),
            )
    return types


def _declaring(cls: type[PriceAlertError]) -> type[PriceAlertError]:
    for klass in cls.__mro__:
        if "code" in vars(klass):
            return klass
    return PriceAlertError


class InvalidParam(BaseModel):
    """One invalid parameter of a request."""

    model_config = ConfigDict(populate_by_name=True)
    in_: str = Field(alias="in", description="body, query, path or header")
    name: str = Field(description="Dotted path of the parameter ('' for the body as a whole).")
    pointer: str | None = Field(
        default=None, description="RFC 6901 JSON pointer (URI fragment) into the body."
    )
    rule: str = Field(description="The rule it broke (stable name).")
    reason: str = Field(description="What is wrong, for a person.")


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(description="The page about this problem (`GET /problems/{code}`).")
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable machine-readable error code.")
    field: str | None = Field(
        default=None, description="Invalid input only: the first invalid parameter's name."
    )
    errors: list[InvalidParam] | None = Field(
        default=None, description="Invalid input only: every invalid parameter."
    )


def problem_response(description: str) -> dict[str, Any]:
    """An OpenAPI response documented as a Problem (for `responses=` of a route)."""
    schema = {"$ref": "#/components/schemas/Problem"}
    return {"description": description, "content": {MEDIA_TYPE: {"schema": schema}}}


def add_problem_schema(openapi: dict[str, Any]) -> dict[str, Any]:
    """Put the Problem schema the error responses refer to into the document's components."""
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        schemas[name] = definition
    schemas["Problem"] = schema
    # FastAPI's own 422 schema is never sent: every 422 is a Problem.
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for path in openapi.get("paths", {}).values():
        for operation in path.values():
            responses = operation.get("responses", {})
            if "422" in responses:
                responses["422"] = problem_response("Invalid input (see `errors`).")
    return openapi


#: Errors any authenticated /v1 route can answer with, documented in the OpenAPI.
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: problem_response("Malformed JSON."),
    401: problem_response("Missing, unknown, expired or revoked API key."),
    404: problem_response("No such object (or not yours)."),
    409: problem_response("Conflict with an existing object."),
    413: problem_response("Request body too large."),
    422: problem_response("Invalid input (see `errors`)."),
    429: problem_response("Rate limited; see Retry-After."),
}


def type_uri(code: str, scope: Scope | None = None) -> str:
    """The absolute URL of the problem's page on this API (relative without a request)."""
    if scope is None:
        return PROBLEMS_PATH + code
    base = str(Request(scope).base_url).rstrip("/")
    return base + PROBLEMS_PATH + code


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    scope: Scope | None = None,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response (`scope`: the request's, to make `type` an absolute URL)."""
    body: dict[str, Any] = {
        "type": type_uri(code, scope),
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def problem_of(
    kind: ProblemType,
    detail: str,
    *,
    scope: Scope | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response of a declared type."""
    return problem(
        kind.status, kind.code, detail, scope=scope, title=kind.title, headers=headers, **extra
    )


def invalid_param(
    location: str, name: Sequence[str | int] | str, rule: str, reason: str
) -> dict[str, str]:
    """One `errors` entry."""
    parts = [name] if isinstance(name, str) else [str(part) for part in name]
    entry = {"in": location, "name": ".".join(p for p in parts if p != "")}
    if location == "body":
        escaped = (p.replace("~", "~0").replace("/", "~1") for p in parts if p != "")
        entry["pointer"] = "#" + "".join("/" + p for p in escaped)
    entry["rule"] = rule
    entry["reason"] = reason
    return entry


def _locate(request: Request, field: str | None, location: ParamLocation | None) -> str:
    if location is not None:
        return location
    if field is not None and field in request.query_params:
        return "query"
    if field is not None and field in request.path_params:
        return "path"
    return "body"


async def _pricealert_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PriceAlertError)
    headers = {}
    extra = dict(exc.extra)
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, InvalidInput):
        where = _locate(request, exc.field, exc.location)
        extra["field"] = exc.field or ""
        extra["errors"] = [invalid_param(where, exc.field or "", exc.rule, exc.detail)]
    return problem(
        exc.status,
        exc.code,
        exc.detail,
        scope=request.scope,
        title=exc.title,
        headers=headers,
        **extra,
    )


_LOCATIONS = ("body", "query", "path", "header", "cookie")


def _reason(error: Mapping[str, Any]) -> str:
    message = str(error.get("msg", ""))
    # A ValueError raised in one of our validators: its text is the reason.
    return message.removeprefix("Value error, ")


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        where = str(loc[0]) if loc and loc[0] in _LOCATIONS else "body"
        rule = str(error.get("type", "invalid"))
        if rule == "json_invalid":
            position = loc[1] if len(loc) > 1 else "?"
            reason = f"{error.get('ctx', {}).get('error', 'not JSON')} at character {position}"
            errors.append(invalid_param("body", "", rule, reason))
            continue
        errors.append(invalid_param(where, [str(p) for p in loc[1:]], rule, _reason(error)))
    if any(e["rule"] == "json_invalid" for e in errors):
        return problem_of(
            MALFORMED_JSON,
            "the request body is not valid JSON",
            scope=request.scope,
            field="",
            errors=errors,
        )
    detail = "; ".join(f"{e['name'] or e['in']}: {e['reason']}" for e in errors)
    return problem(
        422,
        InvalidInput.code,
        detail,
        scope=request.scope,
        title=InvalidInput.title,
        field=errors[0]["name"] if errors else "",
        errors=errors,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == BODY_TOO_LARGE.status:
        return problem_of(BODY_TOO_LARGE, str(exc.detail), scope=request.scope)
    code = _http_code(exc.status_code)
    return problem(exc.status_code, code, str(exc.detail), scope=request.scope, headers=exc.headers)


def install_problem_handlers(app: FastAPI) -> None:
    """Render every error as problem+json (unexpected ones: see RequestContextMiddleware)."""
    app.add_exception_handler(PriceAlertError, _pricealert_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
