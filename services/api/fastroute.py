"""Hot routes served by a plain handler, documented and refused as their FastAPI endpoint.

FastAPI's work per request (dependency solving, parameter validation, the response
model, two exit stacks) was over half of a lookup by id's CPU. A route marked with
`@fast_path(handler)` keeps its FastAPI endpoint, which still defines everything the
OpenAPI document says (parameters, security, response model, errors) and still serves
every request the handler declines; the handler serves the rest directly:

    async def handler(request: Request) -> Response | None

It must either decline (return None) BEFORE any side effect (counting a rate limit,
touching the database), so the endpoint then answers as it always did, or do exactly
what the endpoint does, through the same functions: `deps.authenticate` (the key, its
revocation, both rate limits and their headers), `deps.read_connection`, the same
repository call and `json_response`. Exceptions it raises (401, 404, 429, ...) go to
the app's problem handlers like the endpoint's. The usual split: parse and validate the
path and query in plain Python, decline anything unusual (the endpoint's 422 is then the
one FastAPI builds), serve the common case.

Another route adopts it the same way: write its handler beside the endpoint, reusing
the endpoint's calls, and decorate the endpoint (`include_flat` gives it this route
class); tests/api pin each behaviour on both paths.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

FastHandler = Callable[[Request], Awaitable[Response | None]]
E = TypeVar("E", bound=Callable[..., Any])

_ATTRIBUTE = "__pricealert_fast_handler__"
_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


def fast_path(handler: FastHandler) -> Callable[[E], E]:
    """Mark an endpoint as served by `handler` whenever it does not decline."""

    def mark(endpoint: E) -> E:
        setattr(endpoint, _ATTRIBUTE, handler)
        return endpoint

    return mark


def fast_handler_of(endpoint: Callable[..., Any]) -> FastHandler | None:
    handler: FastHandler | None = getattr(endpoint, _ATTRIBUTE, None)
    return handler


class FastRoute(APIRoute):
    """An APIRoute whose requests go to its endpoint's fast handler first."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        handler = fast_handler_of(endpoint)
        if handler is None:
            return
        documented = self.app  # FastAPI's full handling: what a declined request gets
        # Where dependencies are overridden (tests may), FastAPI's handling is what counts.
        provider = self.dependency_overrides_provider

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if getattr(provider, "dependency_overrides", None):
                await documented(scope, receive, send)
                return
            response = await handler(Request(scope, receive, send))
            if response is None:
                await documented(scope, receive, send)
                return
            await response(scope, receive, send)

        self.app = app


def canonical_uuid(text: str) -> uuid.UUID | None:
    """`text` as a UUID when written in the canonical 36-character form, else None.

    Narrower than what the endpoint's validation accepts on purpose: other spellings
    decline to the endpoint, which accepts or refuses them as it always has."""
    return uuid.UUID(text) if _CANONICAL_UUID.fullmatch(text) else None
