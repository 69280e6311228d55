"""`pricealert check URL` against a real shop on loopback, through the guarded client.

The command runs its own event loop (`asyncio.run`), so each test calls it in a
thread while the shop keeps serving from the test's loop.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from pricealert.cli import main
from pricealert_ops.devtools.shop import Page, Shop
from tests.scraper.conftest import product_page


async def _pricealert(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


@pytest.fixture(autouse=True)
def _polite_but_quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRICEALERT_ENVIRONMENT", "test")
    monkeypatch.setenv("PRICEALERT_PER_DOMAIN_DELAY_SECONDS", "0")


async def test_check_prints_the_price_currency_stock_and_method_of_a_real_page(
    shop: Shop, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PRICEALERT_FETCH_ALLOWED_HOSTS", "127.0.0.1")
    shop.serve("/kettle", product_page("1,280", availability="OutOfStock"))

    assert await _pricealert("check", shop.url("/kettle")) == 0

    printed = json.loads(capsys.readouterr().out)
    assert printed["price"] == "1280"
    assert printed["currency"] == "JPY"
    assert printed["in_stock"] is False
    assert printed["method"] == "jsonld"
    assert printed["title"] == "Electric kettle"
    assert printed["status"] == 200
    assert printed["final_url"] == shop.url("/kettle")
    # robots.txt was asked first, as the scraper does for every shop
    assert [r.path for r in shop.requests] == ["/robots.txt", "/kettle"]


async def test_check_uses_a_selector_when_given_one(
    shop: Shop, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PRICEALERT_FETCH_ALLOWED_HOSTS", "127.0.0.1")
    shop.serve(
        "/bag",
        Page.html(
            "<html><body><h1>Tote bag</h1><p class='was'>€ 59,00</p>"
            "<p class='now'>€ 1.234,50</p></body></html>"
        ),
    )
    url = shop.url("/bag")
    assert await _pricealert("check", url, "--selector", ".now", "--no-robots") == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["price"], printed["currency"], printed["method"]) == (
        "1234.50",
        "EUR",
        "selector",
    )
    assert [r.path for r in shop.requests] == ["/bag"]


async def test_check_refuses_loopback_unless_the_host_is_allowed(
    shop: Shop, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PRICEALERT_FETCH_ALLOWED_HOSTS", "")
    shop.serve("/kettle", product_page("1280"))

    assert await _pricealert("check", shop.url("/kettle")) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: blocked_address: ")
    assert "Traceback" not in captured.err
    assert shop.requests == []  # refused before any connection


async def test_check_refuses_the_cloud_metadata_address(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PRICEALERT_FETCH_ALLOWED_HOSTS", "127.0.0.1")
    url = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
    assert await _pricealert("check", url) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: blocked_address: ")


async def test_check_of_a_missing_page_names_the_http_status(
    shop: Shop, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PRICEALERT_FETCH_ALLOWED_HOSTS", "127.0.0.1")

    assert await _pricealert("check", shop.url("/no-such-product"), "--no-robots") == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: http_status: ")
    assert "404" in captured.err
