"""Schema pieces shared by every domain."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Annotated, Any, Generic, NoReturn, TypeVar

from fastapi import Depends, Query, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from pricealert.repositories.pagination import Page

T = TypeVar("T")
R = TypeVar("R")

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50
MAX_CURSOR_LENGTH = 200
#: The query parameters of every list: the opaque cursor a page gave, and the page size.
Cursor = Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]


class PageQuery:
    """`?cursor=&limit=` of a list endpoint (the page after `cursor`, `limit` rows)."""

    def __init__(self, cursor: str | None, limit: int) -> None:
        self.cursor = cursor
        self.limit = limit


# async: FastAPI runs a class or a plain `def` dependency in a worker thread, a thread hop
# (and its CPU) per request; the parameters and their OpenAPI are the same.
async def _page_query(cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE) -> PageQuery:
    return PageQuery(cursor, limit)


Paging = Annotated[PageQuery, Depends(_page_query)]


class RequestModel(BaseModel):
    """Request bodies: unknown fields are refused, not ignored; text holding a NUL
    character (which PostgreSQL cannot store) is refused as invalid input."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        items = value if isinstance(value, list | tuple | set) else (value,)
        if any(isinstance(item, str) and "\x00" in item for item in items):
            raise ValueError("text must not contain NUL characters")
        return value


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    """`model` as the JSON FastAPI would send for it, serialised once, in Rust.

    For routes that declare the model as `response_model` (the OpenAPI document) and return
    this: FastAPI then neither validates the model a second time nor turns it into Python
    objects and those into JSON with the json module. The bytes are the same (compact
    separators, UTF-8, decimals and datetimes as strings)."""
    return Response(
        type(model).__pydantic_serializer__.to_json(model),
        status_code=status_code,
        media_type="application/json",
    )


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


def page_out(page: Page[R], convert: Callable[[R], T]) -> PageOut[T]:
    """A repository's page as a list endpoint answers it, each row converted."""
    return PageOut(items=[convert(row) for row in page.items], next_cursor=page.next_cursor)


# -- amounts in request bodies ---------------------------------------------------------


class ExponentDecimal(Decimal):
    """A JSON number that was written with an exponent (`1e3`): kept apart to be refused."""


def _json_number(text: str) -> Decimal:
    return ExponentDecimal(text) if "e" in text or "E" in text else Decimal(text)


def _no_constant(name: str) -> NoReturn:
    raise json.JSONDecodeError(f"{name} is not a JSON value", name, 0)


class DecimalJSONRequest(Request):
    """A request whose JSON numbers with a fraction or exponent are read as exact Decimals:
    `0.1` stays 0.1, `1e-400` stays 1e-400 (a float would make it 0.0, and `1e400`
    infinity), so an amount is refused for what it is. NaN and Infinity are not JSON."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            self._json = json.loads(body, parse_float=_json_number, parse_constant=_no_constant)
        return self._json


class DecimalJSONRoute(APIRoute):
    """The route class of routers whose bodies carry amounts (`APIRouter(route_class=...)`)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def decimal_json_handler(request: Request) -> Response:
            return await handler(DecimalJSONRequest(request.scope, request.receive))

        return decimal_json_handler


def _plain_number(value: object) -> object:
    """Refuse amounts written with an exponent, as JSON numbers or strings."""
    if isinstance(value, ExponentDecimal) or (
        isinstance(value, str) and ("e" in value or "E" in value)
    ):
        raise PydanticCustomError(
            "no_exponent", "write the amount without an exponent (1000, not 1e3)"
        )
    if isinstance(value, float):
        # Not from our JSON reader (which gives Decimals): its decimal spelling is the value.
        return Decimal(repr(value)) if math.isfinite(value) else value
    return value


#: A decimal amount in a request body (a JSON string or number), never in exponent form.
PlainDecimal = Annotated[Decimal, BeforeValidator(_plain_number)]
