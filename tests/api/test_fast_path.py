"""The lookup by id is served by its fast handler (services.api.fastroute), and answers
every request as its FastAPI endpoint does: the same body, status, problem documents
and headers, the same limits and revocations.

The endpoint itself still serves what the handler declines, e.g. an id written without
hyphens (`uuid.hex`), which the endpoint accepts: so each case below is asked both
ways, the fast spelling and the endpoint's, and the answers compared."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Receive, Scope, Send

from pricealert.availability import Availability
from pricealert.models import ApiKey, PriceHistory, Product
from pricealert.repositories.users import Principal
from services.api import deps
from services.api.fastroute import FastRoute, HotRoutes, canonical_uuid, hot_routes, plain_int
from services.api.main import create_app
from services.api.products import endpoints
from services.api.settings import ApiSettings
from tests.api.conftest import ApiUser

PAGE = "https://shop.example.jp/item/fast"
#: Headers that differ between any two requests.
_VARYING = {"x-request-id", "ratelimit-remaining", "ratelimit-reset", "retry-after"}


async def _watch(client: httpx.AsyncClient, user: ApiUser) -> str:
    return await _watch_url(client, user, PAGE)


async def _watch_url(client: httpx.AsyncClient, user: ApiUser, url: str) -> str:
    response = await client.post("/v1/products", json={"url": url}, headers=user.auth)
    assert response.status_code == 201, response.text
    watch_id: str = response.json()["id"]
    return watch_id


async def _both_ways(
    client: httpx.AsyncClient, watch_id: str, headers: dict[str, str]
) -> tuple[httpx.Response, httpx.Response]:
    """The lookup by the fast spelling (hyphens), then by the endpoint's (none)."""
    fast = await client.get(f"/v1/products/{watch_id}", headers=headers)
    documented = await client.get(f"/v1/products/{uuid.UUID(watch_id).hex}", headers=headers)
    return fast, documented


def _same_answer(fast: httpx.Response, documented: httpx.Response) -> None:
    assert fast.status_code == documented.status_code
    assert fast.content == documented.content
    fast_headers = {k: v for k, v in fast.headers.items() if k not in _VARYING}
    documented_headers = {k: v for k, v in documented.headers.items() if k not in _VARYING}
    assert fast_headers == documented_headers
    assert {k for k in fast.headers if k in _VARYING} == {
        k for k in documented.headers if k in _VARYING
    }


def test_the_lookup_by_id_is_a_fast_route_and_no_other_is(app: FastAPI) -> None:
    fast = [
        (route.path, sorted(route.methods or ()))
        for route in app.routes
        if isinstance(route, FastRoute)
    ]
    assert sorted(fast) == [
        ("/v1/products", ["GET"]),
        ("/v1/products/{product_id}", ["GET"]),
        ("/v1/products/{product_id}/prices", ["GET"]),
        ("/v1/products/{product_id}/stats", ["GET"]),
    ]  # every other route is FastAPI's own (the route class is only used for marked ones)


def test_only_the_canonical_spelling_is_taken_by_the_fast_handler() -> None:
    value = uuid.uuid4()
    assert canonical_uuid(str(value)) == value
    assert canonical_uuid(str(value).upper()) == value
    for other in (
        value.hex,
        f"{{{value}}}",
        f"urn:uuid:{value}",
        str(value).replace("-", "")[:8] + "-" * 4 + str(value).replace("-", "")[8:28],
        "+" + str(value)[1:],
        str(value)[:-1] + "_",
        "not-a-uuid",
    ):
        assert canonical_uuid(other) is None, other


async def test_a_product_is_answered_as_the_endpoint_answers_it(
    client: httpx.AsyncClient, alice: ApiUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    watch_id = await _watch(client, alice)
    served: list[str] = []
    authenticate = deps.authenticate

    async def counted(request: Request, token: str | None) -> Principal:
        served.append(request.url.path)
        return await authenticate(request, token)

    monkeypatch.setattr(endpoints, "authenticate", counted)  # the fast handler's only
    fast, documented = await _both_ways(client, watch_id, alice.auth)
    assert served == [f"/v1/products/{watch_id}"]  # the fast handler served one, not both
    assert fast.status_code == 200
    assert fast.json()["id"] == watch_id
    assert fast.json()["url"] == PAGE
    assert fast.headers["content-type"] == "application/json"
    assert int(fast.headers["RateLimit-Remaining"]) == (
        int(documented.headers["RateLimit-Remaining"]) + 1
    )
    _same_answer(fast, documented)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer pa_unknown"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer"},
    ],
)
async def test_a_missing_or_bad_key_is_the_same_401_problem(
    client: httpx.AsyncClient, alice: ApiUser, headers: dict[str, str]
) -> None:
    watch_id = await _watch(client, alice)
    fast, documented = await _both_ways(client, watch_id, headers)
    assert fast.status_code == 401
    assert fast.headers["content-type"] == "application/problem+json"
    assert fast.json()["status"] == 401
    _same_answer(fast, documented)


async def test_someone_elses_product_is_the_same_404_problem(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser
) -> None:
    watch_id = await _watch(client, alice)
    fast, documented = await _both_ways(client, watch_id, bob.auth)
    assert fast.status_code == 404
    assert fast.json()["code"] == "not_found"
    _same_answer(fast, documented)


async def test_an_invalid_id_is_still_the_endpoints_422_after_authentication(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    invalid = await client.get("/v1/products/not-a-uuid", headers=alice.auth)
    assert invalid.status_code == 422
    assert invalid.headers["content-type"] == "application/problem+json"
    assert invalid.headers["RateLimit-Limit"] == "1000"  # counted, as before
    refused = await client.get("/v1/products/not-a-uuid")
    assert refused.status_code == 401  # no key: refused before the id is looked at


async def test_a_key_past_its_limit_gets_the_same_429_on_the_lookup(
    app: FastAPI, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    watch_id = await _watch(client, alice)
    app.state.settings.rate_limit_per_minute = 3
    fast = [await client.get(f"/v1/products/{watch_id}", headers=alice.auth) for _ in range(3)]
    # The watch's request counted in the same minute's window.
    assert [r.status_code for r in fast] == [200, 200, 429]
    documented = await client.get(f"/v1/products/{uuid.UUID(watch_id).hex}", headers=alice.auth)
    assert documented.status_code == 429
    limited = fast[-1]
    assert limited.headers["RateLimit-Remaining"] == "0"
    assert limited.headers["Retry-After"] == limited.headers["RateLimit-Reset"]
    assert limited.headers["RateLimit-Policy"] == "3;w=60"
    # The detail says the seconds left, which may have ticked between the two.
    assert {**limited.json(), "detail": ""} == {**documented.json(), "detail": ""}
    assert limited.json()["detail"].startswith("rate limit of 3 requests per 60 s exceeded")
    assert {k for k in limited.headers if k != "content-length"} == {
        k for k in documented.headers if k != "content-length"
    }


async def test_bad_key_throttling_covers_the_lookup(app: FastAPI, alice: ApiUser) -> None:
    app.state.settings.bad_key_limit_per_minute = 2
    transport = httpx.ASGITransport(app=app, client=("198.51.100.40", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as guesser:
        path = f"/v1/products/{uuid.uuid4()}"
        statuses = [
            (await guesser.get(path, headers={"Authorization": f"Bearer pa_{n}"})).status_code
            for n in range(3)
        ]
        with_a_good_key = await guesser.get(path, headers=alice.auth)
    assert statuses == [401, 401, 429]
    assert with_a_good_key.status_code == 429  # tells the guesser nothing about the key
    assert with_a_good_key.headers["RateLimit-Policy"] == "2;w=60"


async def test_a_revoked_key_is_refused_at_once_by_the_lookup(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    watch_id = await _watch(client, alice)
    second = (await client.post("/v1/api-keys", json={}, headers=alice.auth)).json()
    second_auth = {"Authorization": f"Bearer {second['api_key']}"}
    assert (await client.get(f"/v1/products/{watch_id}", headers=second_auth)).status_code == 200
    revoked = await client.delete(f"/v1/api-keys/{second['id']}", headers=alice.auth)
    assert revoked.status_code == 204
    refused = await client.get(f"/v1/products/{watch_id}", headers=second_auth)
    assert refused.status_code == 401
    assert refused.json()["detail"] == "the API key is unknown, expired or revoked"


async def test_a_key_revoked_behind_the_apis_back_is_refused_within_the_cache_age(
    app: FastAPI, client: httpx.AsyncClient, alice: ApiUser, db_session: AsyncSession
) -> None:
    watch_id = await _watch(client, alice)
    second = (await client.post("/v1/api-keys", json={}, headers=alice.auth)).json()
    second_auth = {"Authorization": f"Bearer {second['api_key']}"}
    assert (await client.get(f"/v1/products/{watch_id}", headers=second_auth)).status_code == 200
    await db_session.execute(
        update(ApiKey).where(ApiKey.prefix == second["prefix"]).values(revoked_at=_now(app))
    )
    # No broadcast (revoked by SQL): the remembered entry ages out, at most a second.
    app.state.key_cache.clear()  # what its age reaching key_cache_seconds does
    refused = await client.get(f"/v1/products/{watch_id}", headers=second_auth)
    assert refused.status_code == 401


def _now(app: FastAPI) -> Any:
    return app.state.clock()


async def test_the_openapi_document_still_describes_the_lookup(
    api_settings: ApiSettings, client: httpx.AsyncClient
) -> None:
    operation = (await client.get("/openapi.json")).json()["paths"]["/v1/products/{product_id}"][
        "get"
    ]
    assert operation["parameters"][0]["name"] == "product_id"
    assert operation["parameters"][0]["schema"]["format"] == "uuid"
    assert operation["security"] == [{"HTTPBearer": []}]
    assert {"200", "401", "404", "422", "429"} <= set(operation["responses"])
    assert create_app(api_settings).openapi() == (await client.get("/openapi.json")).json()


async def test_overridden_dependencies_are_honoured_by_the_endpoint(
    app: FastAPI, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    watch_id = await _watch(client, alice)
    key_id = uuid.uuid4()

    async def as_alice() -> Principal:
        return Principal(user_id=uuid.UUID(alice.id), key_id=key_id)

    app.dependency_overrides[deps._principal] = as_alice
    try:
        answered = await client.get(f"/v1/products/{watch_id}")  # no key: the override's
    finally:
        app.dependency_overrides.clear()
    assert answered.status_code == 200
    assert (await client.get(f"/v1/products/{watch_id}")).status_code == 401


async def test_the_lookup_is_found_before_the_router_walks_its_routes(
    app: FastAPI, client: httpx.AsyncClient, alice: ApiUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    watch_id = await _watch(client, alice)
    hot = app.router.middleware_stack
    assert isinstance(hot, HotRoutes)
    walked: list[str] = []
    routed = hot.routed

    async def counting(scope: Scope, receive: Receive, send: Send) -> None:
        walked.append(f"{scope['method']} {scope['path']}")
        await routed(scope, receive, send)

    monkeypatch.setattr(hot, "routed", counting)
    fast, documented = await _both_ways(client, watch_id, alice.auth)
    _same_answer(fast, documented)
    listed = await client.get("/v1/products", headers=alice.auth)
    channels = await client.get("/v1/channels", headers=alice.auth)
    assert (listed.status_code, channels.status_code) == (200, 200)
    # Only a fast route's own paths skip the walk (the canonical spelling of an id, the
    # list's one path); the rest are routed as before.
    assert walked == [f"GET /v1/products/{uuid.UUID(watch_id).hex}", "GET /v1/channels"]


async def test_a_route_before_the_lookup_that_matches_its_paths_still_wins(
    app: FastAPI, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    watch_id = await _watch(client, alice)
    assert "/v1/products/{product_id}" in [r.path for r in hot_routes(app.router.routes)]

    async def shadow(product_id: str) -> dict[str, str]:
        return {"shadowed": product_id}

    # Added at the front of the table, it comes first for the router: so it must here too.
    app.router.add_api_route("/v1/products/{product_id}", shadow, methods=["GET"])
    app.router.routes.insert(0, app.router.routes.pop())
    try:
        answered = await client.get(f"/v1/products/{watch_id}", headers=alice.auth)
        assert "/v1/products/{product_id}" not in [r.path for r in hot_routes(app.router.routes)]
    finally:
        app.router.routes.pop(0)
    assert answered.json() == {"shadowed": watch_id}
    # A route that takes other methods on the same path does not shadow it.
    app.router.add_api_route("/v1/products/{product_id}", shadow, methods=["PUT"])
    app.router.routes.insert(0, app.router.routes.pop())
    try:
        assert "/v1/products/{product_id}" in [r.path for r in hot_routes(app.router.routes)]
        again = await client.get(f"/v1/products/{watch_id}", headers=alice.auth)
    finally:
        app.router.routes.pop(0)
    assert again.json()["id"] == watch_id


async def test_a_static_route_beside_the_lookup_is_not_taken_for_it(
    app: FastAPI, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    async def export() -> dict[str, str]:
        return {"export": "yes"}

    # After the lookup in the table, but a path only a UUID-shaped id would share.
    app.router.add_api_route("/v1/products/export", export, methods=["GET"])
    try:
        answered = await client.get("/v1/products/export", headers=alice.auth)
    finally:
        app.router.routes.pop()
    # The router's order decides (the lookup comes first and refuses the id: 422), as
    # before the hot routes: the dispatch only ever takes UUID-shaped ids.
    assert answered.status_code == 422


def _declined(path: str) -> str:
    """`path` with a query parameter no fast handler takes (and every endpoint ignores)."""
    return path + ("&" if "?" in path else "?") + "_=1"


async def test_the_list_history_and_stats_are_fast_routes_answered_as_their_endpoints(
    client: httpx.AsyncClient,
    alice: ApiUser,
    bob: ApiUser,
    db_session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    watches = [
        await _watch_url(client, alice, f"https://shop.example.jp/item/{n}") for n in range(3)
    ]
    product_id = await db_session.scalar(
        select(Product.id).where(Product.url == "https://shop.example.jp/item/0")
    )
    start = datetime(2026, 10, 1, tzinfo=UTC)
    for day, price in enumerate(("1980", "1780", "2180")):
        db_session.add(
            PriceHistory(
                product_id=product_id, price=Decimal(price), currency="JPY",
                availability=Availability.IN_STOCK,
                first_seen_at=start + timedelta(days=day),
                last_seen_at=start + timedelta(days=day, hours=12),
            )
        )  # fmt: skip
    await db_session.flush()
    first = (await client.get("/v1/products?limit=2", headers=alice.auth)).json()
    cursor = first["next_cursor"]
    assert cursor
    watch = watches[0]
    paths = [
        "/v1/products",
        "/v1/products?limit=2",
        f"/v1/products?limit=2&cursor={cursor}",
        f"/v1/products/{watch}/prices",
        f"/v1/products/{watch}/prices?since=2026-10-02T00:00:00Z",
        f"/v1/products/{watch}/prices?since=2026-10-01T09:00:00%2B09:00&until=2026-10-02T12:00:00Z",
        f"/v1/products/{watch}/prices?limit=1",
        f"/v1/products/{watch}/stats",
        f"/v1/products/{watches[1]}/stats",
    ]
    served: list[str] = []
    authenticate = deps.authenticate

    async def counted(request: Request, token: str | None) -> Principal:
        served.append(request.url.path)
        return await authenticate(request, token)

    monkeypatch.setattr(endpoints, "authenticate", counted)
    for path in paths:
        fast = await client.get(path, headers=alice.auth)
        documented = await client.get(_declined(path), headers=alice.auth)
        assert fast.status_code == 200, (path, fast.text)
        _same_answer(fast, documented)
    assert served == [path.split("?")[0] for path in paths]  # the fast handler, each once
    history = (await client.get(paths[5], headers=alice.auth)).json()["items"]
    assert [item["price"] for item in history] == ["1980", "1780"]
    # Someone else's product, a key missing: the same problems either way.
    for path in paths[3:]:
        for headers in (bob.auth, {}):
            fast = await client.get(path, headers=headers)
            documented = await client.get(_declined(path), headers=headers)
            assert fast.status_code in (401, 404), path
            _same_answer(fast, documented)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("since=2026-10-03T00:00:00Z&until=2026-10-01T00:00:00Z", "since"),
        ("since=2026-10-03T00:00:00", "since"),
        ("until=0001-01-01T00:00:00%2B05:00", "until"),
    ],
)
async def test_a_history_window_the_endpoint_refuses_is_refused_alike(
    client: httpx.AsyncClient, alice: ApiUser, query: str, field: str
) -> None:
    watch = await _watch(client, alice)
    path = f"/v1/products/{watch}/prices?{query}"
    fast = await client.get(path, headers=alice.auth)
    documented = await client.get(_declined(path), headers=alice.auth)
    assert fast.status_code == 422
    assert fast.json()["field"] == field
    _same_answer(fast, documented)


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=101", "limit=050", "limit=", "limit=ten", "cursor=", "cursor=bad!",
     "limit=5&limit=6", "cursor=" + "x" * 201],
)  # fmt: skip
async def test_list_queries_out_of_the_plain_are_the_endpoints_to_answer(
    client: httpx.AsyncClient, alice: ApiUser, query: str
) -> None:
    await _watch(client, alice)
    fast = await client.get(f"/v1/products?{query}", headers=alice.auth)
    documented = await client.get(_declined(f"/v1/products?{query}"), headers=alice.auth)
    _same_answer(fast, documented)
    assert fast.status_code in (200, 422)


def test_plain_query_numbers_are_written_plainly() -> None:
    assert plain_int(None, 50, 1, 100) == 50
    assert plain_int("7", 50, 1, 100) == 7
    for refused in ("07", "+7", " 7", "7.0", "0", "101", "٣", "1e2", "9" * 20):
        assert plain_int(refused, 50, 1, 100) is None, refused
