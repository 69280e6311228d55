"""The API's HTTP metrics and `/metrics`, recorded by the API's one pure-ASGI layer
(`services.api.middleware.ResponseMiddleware`).

It records what `prometheus_fastapi_instrumentator` recorded, with the same
labels: `http_requests_total{method,handler,status}` and
`http_request_duration_seconds{method,handler}`, `handler` being the route
template (`/v1/products/{product_id}`), status codes not grouped, untemplated
paths (404s) not recorded, `/metrics`, `/healthz` and `/readyz` left out.

Why not the instrumentator: before every request it matched the path against
every route a second time to find the template, and built a Request, a
Response and an Info object after it. Here the template comes from the route
the router already matched (`scope["route"]`), resolved once per route with
the instrumentator's own function and remembered; the remembered template is
only used when the request path really matches it, so a route reachable under
two prefixes still gets the right label.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_fastapi_instrumentator.routing import get_route_name
from starlette.requests import Request
from starlette.routing import compile_path
from starlette.types import Scope

from pricealert import metrics

EXCLUDED_HANDLERS = ("/metrics", "/healthz", "/readyz")

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics_endpoint() -> Response:
    """The Prometheus exposition of this process (or of all, in multiprocess mode)."""
    body, content_type = metrics.exposition()
    return Response(body, headers={"Content-Type": content_type})


class RouteMetrics:
    """Count and time each request under its route template (`ResponseMiddleware` calls
    `record` once a request is answered)."""

    def __init__(self, excluded_handlers: Iterable[str] = EXCLUDED_HANDLERS) -> None:
        # Patterns searched in the template, as the instrumentator did.
        self._excluded = [re.compile(pattern) for pattern in excluded_handlers]
        #: id(route) -> (template or None when excluded, regex the path must match)
        self._templates: dict[int, tuple[str | None, re.Pattern[str]]] = {}
        #: (method, template, status) -> the counter's and the histogram's labelled children
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def record(self, scope: Scope, before: Scope, status: int, started: float) -> None:
        """`scope` as routing left it, `before` as it came in (routing adds to the scope;
        templates resolve from the original), `started` the request's perf_counter."""
        handler = self._handler(scope, before)
        if handler is not None:
            key = (scope["method"], handler, status)
            children = self._children.get(key)
            if children is None:
                # Few and bounded (templates x methods x statuses; untemplated paths are
                # not recorded): each pair looked up once, not per request.
                children = self._children[key] = (
                    metrics.HTTP_REQUESTS.labels(key[0], handler, str(status)),
                    metrics.HTTP_REQUEST_DURATION.labels(key[0], handler),
                )
            children[0].inc()
            children[1].observe(max(time.perf_counter() - started, 0.0))

    def _handler(self, scope: Scope, before: Scope) -> str | None:
        """The template to record under, or None (untemplated or excluded)."""
        route = scope.get("route")
        if route is not None:
            known = self._templates.get(id(route))
            if known is not None and known[1].match(before["path"]):
                return known[0]
        template = get_route_name(Request(before), should_include_root_path=False)
        if template is None:
            return None
        recorded = None if any(p.search(template) for p in self._excluded) else template
        if route is not None:
            self._templates[id(route)] = (recorded, compile_path(template)[0])
        return recorded
