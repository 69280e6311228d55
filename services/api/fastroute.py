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

Finding the route was the next cost: the router asks every route in turn whether it
matches (the lookup by id stood 18th, ~7 % of its CPU). `HotRoutes` asks a fast GET
route first, for the paths only it can match: those whose path parameters are all
canonical UUIDs (the only ones its handler serves) where no route before it matches such
a path (checked again when routes are added or removed). Everything else goes through the router.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route, Router
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


def plain_query(request: Request, *names: str) -> dict[str, str] | None:
    """The query string as one non-empty value per name, if it holds only `names`, each at
    most once; else None (the handler declines: the endpoint reads it as it always has).
    Values are percent-decoded as the endpoint's would be."""
    raw = request.scope.get("query_string", b"")
    if not raw:
        return {}
    values: dict[str, str] = {}
    for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        if name not in names or name in values or not value:
            return None
        values[name] = value
    return values


def plain_int(text: str | None, default: int, low: int, high: int) -> int | None:
    """`text` (absent: `default`) as a whole number in [low, high] written plainly (no
    sign, space or leading zero), else None: the endpoint's validation says why."""
    if text is None:
        return default
    if not (text.isascii() and text.isdigit() and len(text) <= 9 and str(int(text)) == text):
        return None
    number = int(text)
    return number if low <= number <= high else None


def canonical_uuid(text: str) -> uuid.UUID | None:
    """`text` as a UUID when written in the canonical 36-character form, else None.

    Narrower than what the endpoint's validation accepts on purpose: other spellings
    decline to the endpoint, which accepts or refuses them as it always has."""
    return uuid.UUID(text) if _CANONICAL_UUID.fullmatch(text) else None


#: Path parameter values a hot route is tried for before the router (the UUIDs its handler
#: serves); a route before it that matches either one could shadow it, so it is not hot.
#: (A route without parameters is hot for its one path, if no route before it takes that.)
_PROBES = ("00000000-0000-0000-0000-000000000000", "fedcba98-7654-4321-abcd-ef0123456789")
#: What a plain route's match adds to the scope; anything else (a mount's root path,
#: FastAPI's per-router scope) means the router's own handling is needed.
_PLAIN_CHILD_SCOPE = frozenset({"endpoint", "path_params", "route"})


class HotRoutes:
    """The router's entry point, asking the fast GET routes first (see module docstring).

    Installed over `router.middleware_stack` (`install_hot_routes`): inside the app's
    middleware and exception handlers, so a request served here gets everything a routed
    one does; the scope is what the router would have left (`router`, `endpoint`,
    `route`, `path_params`)."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.routed = router.middleware_stack
        self._hot: list[APIRoute] = []
        self._table: list[BaseRoute] | None = None
        self._table_size = -1

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            routes = self.router.routes
            if routes is not self._table or len(routes) != self._table_size:
                self._hot = hot_routes(routes)
                self._table, self._table_size = routes, len(routes)
            for route in self._hot:
                match, child = route.matches(scope)
                if (
                    match is Match.FULL
                    and child.keys() <= _PLAIN_CHILD_SCOPE
                    and all(
                        isinstance(v, str) and _CANONICAL_UUID.fullmatch(v)
                        for v in child["path_params"].values()
                    )
                ):
                    scope.setdefault("router", self.router)
                    scope.update(child)
                    await route.handle(scope, receive, send)
                    return
        await self.routed(scope, receive, send)


def hot_routes(routes: list[BaseRoute]) -> list[APIRoute]:
    """The fast GET routes no earlier route can shadow for UUID-valued parameters."""
    hot: list[APIRoute] = []
    for index, route in enumerate(routes):
        if not (
            isinstance(route, FastRoute)
            and fast_handler_of(route.endpoint) is not None
            and route.methods == {"GET"}
        ):
            continue
        probes = [
            route.url_path_for(route.name, **dict.fromkeys(route.param_convertors, probe))
            for probe in _PROBES
        ]  # a route without parameters: its one path, twice
        shadowed = any(
            _may_match(earlier, str(path)) for earlier in routes[:index] for path in probes
        )
        if not shadowed:
            hot.append(route)
    return hot


def _may_match(route: BaseRoute, path: str) -> bool:
    """Whether `route`, before the hot one, would take a GET of `path` (a plain route that
    matches the path but not the method would not: the router prefers a later full match)."""
    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": []}
    try:
        match, _ = route.matches(scope)
    except Exception:  # a route that needs more of the request to tell: assume it might
        return True
    return match is Match.FULL or (match is Match.PARTIAL and not isinstance(route, Route))


def install_hot_routes(router: Router) -> None:
    """Put `HotRoutes` in front of `router`'s own dispatch (once)."""
    if not isinstance(router.middleware_stack, HotRoutes):
        router.middleware_stack = HotRoutes(router)
