"""The API is the same everywhere: one validation problem shape, problem types that
resolve, every list paged alike, docs without a CDN, the body limit however it is sent."""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import re
import socket
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from types import ModuleType
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
import uvicorn
from fastapi import APIRouter, FastAPI

import pricealert
import pricealert_ops
import services
from pricealert.errors import Conflict, NamedError, PriceAlertError
from services.api import main
from services.api.problems import API_PROBLEMS, problem_types
from services.api.settings import ApiSettings
from tests.api.conftest import ApiUser

PAGE = "https://shop.example.jp/item/9"


async def _product(client: httpx.AsyncClient, user: ApiUser) -> str:
    response = await client.post("/v1/products", json={"url": PAGE}, headers=user.auth)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _assert_validation_problem(response: httpx.Response) -> list[dict[str, Any]]:
    """The one shape every invalid-input answer has; returns its `errors`."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "invalid_input"
    assert body["status"] == 422
    assert body["title"] == "Invalid input"
    assert body["type"].endswith("/problems/invalid_input")
    assert body["errors"], body
    for error in body["errors"]:
        assert set(error) >= {"in", "name", "rule", "reason"}
        assert error["in"] in {"body", "query", "path", "header"}
        assert error["reason"]
        assert (error["in"] == "body") == ("pointer" in error)
    assert body["field"] == body["errors"][0]["name"]
    return list(body["errors"])


async def test_a_too_small_and_a_too_large_interval_answer_in_one_shape(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    # 1 is refused by our check (the minimum is a setting), 1e12 by pydantic's bound.
    for value, rule in ((1, "greater_than_equal"), (10**12, "less_than_equal")):
        response = await client.post(
            "/v1/products",
            json={"url": PAGE, "check_interval_seconds": value},
            headers=alice.auth,
        )
        [error] = _assert_validation_problem(response)
        assert error == {
            "in": "body",
            "name": "check_interval_seconds",
            "pointer": "#/check_interval_seconds",
            "rule": rule,
            "reason": error["reason"],
        }
        assert re.search(r"\d", error["reason"]), "the reason states the bound"


async def test_path_and_query_parameters_are_reported_where_they_were_sent(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    [path_error] = _assert_validation_problem(
        await client.get("/v1/products/not-a-uuid", headers=alice.auth)
    )
    assert path_error["in"] == "path"
    assert path_error["name"] == "product_id"
    assert path_error["rule"] == "uuid_parsing"
    [query_error] = _assert_validation_problem(
        await client.get("/v1/products", params={"limit": 0}, headers=alice.auth)
    )
    assert (query_error["in"], query_error["name"]) == ("query", "limit")
    assert query_error["rule"] == "greater_than_equal"
    # A check of ours on a query parameter says "query" too.
    [cursor_error] = _assert_validation_problem(
        await client.get("/v1/products", params={"cursor": "forged!"}, headers=alice.auth)
    )
    assert (cursor_error["in"], cursor_error["name"], cursor_error["rule"]) == (
        "query",
        "cursor",
        "cursor",
    )


async def test_every_invalid_body_field_is_listed_with_its_pointer(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    response = await client.post(
        "/v1/alerts",
        json={"product_id": "x", "kind": "sideways", "channel_ids": ["nope"], "extra": 1},
        headers=alice.auth,
    )
    errors = _assert_validation_problem(response)
    pointers = {e["pointer"]: e["rule"] for e in errors}
    assert pointers == {
        "#/product_id": "uuid_parsing",
        "#/kind": "enum",  # every closed set (pricealert.kinds) is an enum
        "#/channel_ids/0": "uuid_parsing",
        "#/extra": "extra_forbidden",
    }


async def test_malformed_json_is_a_400_with_the_same_errors_list(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/v1/users", content=b'{"email": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "malformed_json"
    [error] = body["errors"]
    assert (error["in"], error["rule"]) == ("body", "json_invalid")
    assert "character 10" in error["reason"]


async def test_every_problem_type_uri_resolves_to_a_page_about_it(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    problems = [
        await client.get("/v1/products/00000000-0000-0000-0000-000000000000", headers=alice.auth),
        await client.get("/v1/products", params={"limit": 0}, headers=alice.auth),
        await client.get("/v1/products"),
        await client.post("/v1/users", content=b"{", headers={"Content-Type": "application/json"}),
        await client.put("/v1/products", headers=alice.auth),
        await client.get("/no/such/route"),
    ]
    for response in problems:
        body = response.json()
        page = await client.get(urljoin(str(response.url), body["type"]))
        assert page.status_code == 200, body["type"]
        assert page.headers["content-type"].startswith("text/html")
        assert f"<code>{body['code']}</code>" in page.text
        assert f"HTTP {body['status']}" in page.text
    markdown = await client.get("/problems/invalid_input", headers={"Accept": "text/markdown"})
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text.startswith("# Invalid input\n")
    assert "`errors`" in markdown.text
    assert (await client.get("/problems/no_such_thing")).status_code == 404


def _import_everything(*more: ModuleType) -> None:
    for package in (pricealert, services, *more):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if ".migrations" in module.name or module.name.endswith("__main__"):
                continue
            importlib.import_module(module.name)


def _all_error_classes() -> list[type[PriceAlertError]]:
    found: list[type[PriceAlertError]] = []
    pending: list[type[PriceAlertError]] = [PriceAlertError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


async def test_every_error_class_and_api_problem_has_its_page(
    client: httpx.AsyncClient,
) -> None:
    _import_everything()
    codes = {cls.code for cls in _all_error_classes()} | {p.code for p in API_PROBLEMS}
    assert {"invalid_input", "not_found", "conflict", "bad_url", "body_too_large"} <= codes
    for code in sorted(codes):
        page = await client.get(f"/problems/{code}")
        assert page.status_code == 200, code
        assert f"<code>{code}</code>" in page.text
    index = await client.get("/problems", headers={"Accept": "text/markdown"})
    assert all(f"`{code}`" in index.text for code in codes)


def test_every_class_that_declares_a_code_describes_it_itself() -> None:
    # A page about a code must not be its parent's text: `wrong_code`'s page once said
    # what `invalid_input` is (inspect.getdoc falls back to the parent's docstring). The
    # operators' tools too: the CLI's errors are read by people at 3 a.m.
    _import_everything(pricealert_ops)
    undescribed = sorted(
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in _all_error_classes()
        if "code" in vars(cls) and not (vars(cls).get("__doc__") or "").strip()
    )
    assert undescribed == []


def test_the_verification_pages_say_the_limits_in_force() -> None:
    from pricealert.tokens import MAX_FAILED_ATTEMPTS, TOKEN_TTL
    from services.api.settings import ApiSettings as Settings

    pages = problem_types()
    minutes = f"{int(TOKEN_TTL.total_seconds() // 60)} minutes"
    assert f"{MAX_FAILED_ATTEMPTS} wrong codes" in pages["wrong_code"].description
    assert f"{MAX_FAILED_ATTEMPTS} wrong codes" in pages["code_exhausted"].description
    assert minutes in pages["code_expired"].description
    assert minutes in pages["invalid_token"].description
    unverified = Settings.model_fields["max_unverified_channels"].default
    assert f"{unverified} by default" in pages["too_many_unverified_channels"].description


async def test_a_new_error_class_has_its_page_from_its_docstring(
    client: httpx.AsyncClient,
) -> None:
    class PriceWentSideways(Conflict):
        """The price moved in a direction prices do not move."""

        code = "price_went_sideways"
        title = "Price went sideways"

    assert "price_went_sideways" in problem_types()
    page = await client.get("/problems/price_went_sideways")
    assert page.status_code == 200
    assert "The price moved in a direction prices do not move." in page.text
    assert "HTTP 409" in page.text


def test_a_named_error_carries_the_code_it_was_raised_with_and_adds_no_page() -> None:
    before = set(problem_types())

    class RestoreRefused(NamedError):
        """A restore refused."""

        status = 422

    refused = RestoreRefused("target_exists", "the instance exists")
    assert (refused.code, refused.detail, refused.status) == (
        "target_exists",
        "the instance exists",
        422,
    )
    assert RestoreRefused.code == "internal_error"  # its codes are its instances'
    assert set(problem_types()) == before


async def test_the_openapi_document_lists_the_problem_pages_and_one_422_schema(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    assert "/problems/{code}" in document["paths"]
    assert (
        "text/html" in document["paths"]["/problems/{code}"]["get"]["responses"]["200"]["content"]
    )
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path in document["paths"].values():
        for operation in path.values():
            error = operation["responses"].get("422")
            if error:
                schema = error["content"]["application/problem+json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Problem"}
    assert "errors" in document["components"]["schemas"]["Problem"]["properties"]


async def test_api_keys_are_listed_a_page_at_a_time_like_every_list(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    for name in ("ci", "laptop", "phone"):
        created = await client.post("/v1/api-keys", json={"name": name}, headers=alice.auth)
        assert created.status_code == 201
    names: list[str | None] = []
    cursor = None
    for _ in range(4):
        params: dict[str, str | int] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await client.get("/v1/api-keys", params=params, headers=alice.auth)
        assert page.status_code == 200
        assert set(page.json()) == {"items", "next_cursor"}
        names += [key["name"] for key in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert names == ["default", "ci", "laptop", "phone"]
    _assert_validation_problem(
        await client.get("/v1/api-keys", params={"limit": 101}, headers=alice.auth)
    )


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_script = tag == "script"
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_work_offline_every_asset_is_served_by_the_api(
    client: httpx.AsyncClient, page: str
) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    parser = _Assets()
    parser.feed(response.text)
    # Script bodies name URLs too (Swagger UI's `url: '/openapi.json'`).
    quoted = re.findall(r"""['"](/[^'"\s]*|https?://[^'"\s]+)['"]""", "".join(parser.scripts))
    urls = parser.urls + quoted
    assert any(u.endswith(".js") for u in urls), urls
    assert not re.search(r"https?://", response.text.replace("http://testserver", "")), (
        "an absolute URL: the page would need the Internet"
    )
    for url in urls:
        assert urlsplit(url).netloc in ("", "testserver"), url
        asset = await client.get(urljoin(str(response.url), url))
        assert asset.status_code == 200, url
        assert asset.content


@pytest.fixture
async def served(app: FastAPI) -> AsyncIterator[tuple[str, int]]:
    """The test's app behind a real uvicorn on a free loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)  # connections wait in the backlog until uvicorn serves: no polling
    config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield sock.getsockname()
    finally:
        server.should_exit = True
        await task
        sock.close()


async def _raw(address: tuple[str, int], head: bytes, chunks: list[bytes]) -> bytes:
    reader, writer = await asyncio.open_connection(*address)
    writer.write(head)
    try:
        for chunk in chunks:
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
    except ConnectionError:
        pass  # the server may answer and close before the whole body is sent
    answer = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    return answer


def _chunked_post(path: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()


async def test_a_chunked_body_over_the_limit_is_a_413_like_a_declared_one(
    served: tuple[str, int], app: FastAPI
) -> None:
    limit = app.state.settings.max_body_bytes
    padding = b" " * 4096
    chunks = [b'{"email": "big@example.com", "x": "'] + [padding] * (limit // 4096 + 2) + [b'"}']
    answer = await _raw(served, _chunked_post("/v1/users"), chunks)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), head
    assert b"content-type: application/problem+json" in head.lower()
    assert b'"code":"body_too_large"' in body
    async with httpx.AsyncClient(base_url=f"http://{served[0]}:{served[1]}") as http:
        declared = await http.post("/v1/users", content=b"{" + b" " * limit + b"}")
    assert declared.status_code == 413
    assert declared.json()["code"] == "body_too_large"


async def test_a_chunked_body_under_the_limit_reaches_the_endpoint(
    served: tuple[str, int],
) -> None:
    chunks = [b'{"email": ', b'"chunked@example.com"', b"}"]
    answer = await _raw(served, _chunked_post("/v1/users"), chunks)
    assert answer.startswith(b"HTTP/1.1 201 "), answer[:200]
    assert b'"email":"chunked@example.com"' in answer


def test_the_flat_routes_document_the_api_exactly_as_the_nested_routers_did(
    api_settings: ApiSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    flat = main.create_app(api_settings).openapi()

    def include_nested(
        app: FastAPI, router: APIRouter, *, prefix: str, responses: dict[int | str, Any]
    ) -> None:
        v1 = APIRouter(prefix=prefix, responses=responses)
        v1.include_router(router)
        app.include_router(v1)

    monkeypatch.setattr(main, "include_flat", include_nested)
    nested = main.create_app(api_settings).openapi()
    assert len(flat["paths"]) > 20
    assert flat == nested
