"""POST /v1/products/preview: a real shop on loopback, read through the guarded client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from pricealert_ops.devtools.shop import Page, Shop
from services.api.settings import ApiSettings
from tests.api.conftest import ApiUser

JSONLD_PAGE = """<html lang="en"><head><title>Kettle</title>
<script type="application/ld+json">{"@type": "Product", "name": "Acme Kettle",
 "offers": {"@type": "Offer", "price": "19.99", "priceCurrency": "USD",
            "availability": "https://schema.org/InStock"}}</script></head>
<body><h1>Acme Kettle</h1><span class="price">$19.99</span></body></html>"""

TEXT_PAGE = """<html lang="en"><head><title>Lamp</title></head><body>
<header class="site-header"><a class="minicart">Cart $0.00</a></header>
<main id="main"><h1 class="product-title">Desk Lamp</h1>
<div class="price-box"><del>$59.00</del> <span class="price price--sale">$44.50</span></div>
<p class="stock-status">Only 3 left in stock</p>
<button class="add-to-cart">Add to cart</button></main>
<section class="related-products"><span class="price">$12.00</span></section>
</body></html>"""


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    async with Shop() as running:
        await running.listen("127.0.0.1")
        running.serve("/kettle", Page.html(JSONLD_PAGE))
        running.serve("/lamp", Page.html(TEXT_PAGE))
        running.serve("/slow", Page.html(JSONLD_PAGE, delay=3.0))
        yield running


@pytest.fixture
def api_settings(database_url: str, redis_url: str, shop: Shop) -> ApiSettings:
    return ApiSettings(
        environment="test",
        database_url=database_url,
        redis_url=redis_url,
        rate_limit_per_minute=1000,
        signup_limit_per_hour=1000,
        business_metrics_interval_seconds=3600,
        fetch_allowed_hosts=[shop.netloc()],
        preview_limit_per_minute=3,
        preview_timeout_seconds=1.0,
    )


async def _preview(client: httpx.AsyncClient, user: ApiUser, **body: str) -> httpx.Response:
    return await client.post("/v1/products/preview", json=body, headers=user.auth)


async def test_preview_reads_a_structured_page_and_stores_nothing(
    client: httpx.AsyncClient, alice: ApiUser, shop: Shop
) -> None:
    response = await _preview(client, alice, url=shop.url("/kettle"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["price"], body["currency"], body["availability"], body["in_stock"]) == (
        "19.99",
        "USD",
        "InStock",
        True,
    )
    assert (body["method"], body["title"], body["blocked"]) == ("jsonld", "Acme Kettle", False)
    assert body["final_url"] == shop.url("/kettle")
    watched = await client.get("/v1/products", headers=alice.auth)
    assert watched.json()["items"] == []  # a preview is never a product, nor a price


async def test_preview_of_a_text_only_page_suggests_and_never_guesses(
    client: httpx.AsyncClient, alice: ApiUser, shop: Shop
) -> None:
    response = await _preview(client, alice, url=shop.url("/lamp"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["price"], body["method"]) == (None, "none")
    first = body["suggestions"]["price"][0]
    assert (first["price"], first["currency"], first["text"]) == ("44.50", "USD", "$44.50")
    assert "near the title (after the <h1>)" in first["reasons"]
    assert all(c["price"] != "59.00" for c in body["suggestions"]["price"])  # crossed out
    stock = body["suggestions"]["stock"][0]
    assert (stock["selector"], stock["availability"]) == (".stock-status", "LimitedAvailability")

    chosen = await _preview(
        client,
        alice,
        url=shop.url("/lamp"),
        selector=first["selector"],
        stock_selector=".stock-status",
    )
    picked = chosen.json()
    assert (picked["price"], picked["method"], picked["in_stock"]) == ("44.50", "selector", True)
    assert Decimal(picked["price"]) == Decimal(first["price"])


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://10.0.0.7/p/1", "blocked_address"),
        ("http://2130706433/p/1", "bad_url"),
        ("ftp://shop.example.com/p/1", "invalid_input"),
    ],
)
async def test_preview_of_a_refused_url_is_422_with_the_guards_reason(
    client: httpx.AsyncClient, alice: ApiUser, url: str, code: str
) -> None:
    response = await _preview(client, alice, url=url)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


async def test_a_shop_answering_an_error_is_a_502_problem(
    client: httpx.AsyncClient, alice: ApiUser, shop: Shop
) -> None:
    response = await _preview(client, alice, url=shop.url("/gone"))
    assert response.status_code == 502
    assert response.json()["code"] == "http_status"


async def test_a_shop_too_slow_is_a_504_problem(
    client: httpx.AsyncClient, alice: ApiUser, shop: Shop
) -> None:
    response = await _preview(client, alice, url=shop.url("/slow"))
    assert response.status_code == 504
    assert response.json()["code"] == "timeout"


async def test_preview_needs_an_api_key(client: httpx.AsyncClient, shop: Shop) -> None:
    response = await client.post("/v1/products/preview", json={"url": shop.url("/kettle")})
    assert response.status_code == 401


async def test_previews_have_their_own_rate_limit_per_key(
    client: httpx.AsyncClient, alice: ApiUser, shop: Shop
) -> None:
    for _ in range(3):
        assert (await _preview(client, alice, url=shop.url("/kettle"))).status_code == 200
    refused = await _preview(client, alice, url=shop.url("/kettle"))
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1


async def test_an_invalid_selector_is_refused_before_any_fetch(
    client: httpx.AsyncClient, alice: ApiUser, shop: Shop
) -> None:
    response = await _preview(client, alice, url=shop.url("/kettle"), selector="div[")
    assert response.status_code == 422
    assert shop.requests_to("/kettle") == []


async def test_the_openapi_document_describes_preview_and_its_errors(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    operation = document["paths"]["/v1/products/preview"]["post"]
    assert {"200", "422", "502", "504", "429", "401"} <= set(operation["responses"])
    assert "suggestions" in document["components"]["schemas"]["PreviewOut"]["properties"]
