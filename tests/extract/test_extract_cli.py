"""`pricealert extract` and `suggest`: one JSON object, hints in plain words, named errors."""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
from pathlib import Path

import pytest

from pricealert.cli import CommandError, main
from pricealert_ops.devtools.shop import Page, Shop
from services.scraper.cli import register

CORPUS = Path(__file__).parent / "corpus"


def _run(argv: list[str]) -> int:
    """Parse and run like `pricealert` does, with only the scraper's commands registered."""
    parser = argparse.ArgumentParser(prog="pricealert")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


def test_extract_prints_one_json_object_with_a_decimal_string_price(
    capsys: pytest.CaptureFixture[str],
) -> None:
    page = str(CORPUS / "jp_eucjp_shop.html")
    url = "https://www.onkyo-yamada.jp/item/ath-m50x.html"
    argv = ["extract", page, "--url", url, "--selector", "#price", "--stock-selector", ".stock"]
    assert _run(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == {
        "price": "19800",
        "currency": "JPY",
        "availability": "InStock",
        "in_stock": True,
        "title": "オーディオテクニカ ATH-M50x モニターヘッドホン | 音響ショップ山田",
        "method": "selector",
        "blocked": False,
        "block_reason": None,
    }


def test_extract_reports_a_block_page_with_null_price(capsys: pytest.CaptureFixture[str]) -> None:
    page = str(CORPUS / "us_perimeterx.html")
    assert _run(["extract", page, "--url", "https://www.sneakers.com/p/1"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["price"], printed["blocked"], printed["block_reason"]) == (
        None,
        True,
        "perimeterx",
    )


def test_extract_of_a_missing_file_is_a_named_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError) as error:
        _run(["extract", str(tmp_path / "nope.html"), "--url", "https://shop.example.com/p"])
    assert error.value.code == "file_not_found"


def test_extract_of_a_directory_is_a_named_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError) as error:
        _run(["extract", str(tmp_path), "--url", "https://shop.example.com/p"])
    assert error.value.code == "file_not_found"


# --- a page without a price says so; `suggest` shows where the price may be ---

TEXT_ONLY = """<html lang="en"><head><title>Lamp</title></head><body>
<main id="main"><h1>Desk Lamp</h1>
<div class="price-box"><del>$59.00</del> <span class="price">$44.50</span></div>
<p class="stock-status">In stock</p><button class="add-to-cart">Add to cart</button>
</main></body></html>"""


def test_extract_of_a_page_without_a_price_says_so_and_points_to_suggest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "lamp.html"
    page.write_text(TEXT_ONLY, encoding="utf-8")
    assert _run(["extract", str(page), "--url", "https://shop.example.com/lamp"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["price"] is None  # stdout stays one JSON object
    assert "no machine-readable price" in captured.err
    assert f"pricealert suggest {page} --url https://shop.example.com/lamp" in captured.err
    assert "--selector" in captured.err


def test_extract_with_a_selector_that_matches_nothing_names_the_selector(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "lamp.html"
    page.write_text(TEXT_ONLY, encoding="utf-8")
    argv = ["extract", str(page), "--url", "https://shop.example.com/lamp", "--selector", "#nope"]
    assert _run(argv) == 0
    assert "the selector '#nope' matches no element" in capsys.readouterr().err


def test_extract_of_a_page_with_a_price_adds_no_hint(capsys: pytest.CaptureFixture[str]) -> None:
    page = str(CORPUS / "jp_yodobashi_like.html")
    assert _run(["extract", page, "--url", "https://www.yodobashi.com/product/1/"]) == 0
    assert capsys.readouterr().err == ""


def test_suggest_of_a_saved_page_ranks_the_price_first_and_its_selector_reads_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "lamp.html.gz"
    page.write_bytes(gzip.compress(TEXT_ONLY.encode()))  # saved pages may be gzipped
    url = "https://shop.example.com/lamp"
    assert _run(["suggest", str(page), "--url", url, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["price"], printed["method"]) == (None, "none")
    best = printed["suggestions"]["price"][0]
    assert (best["price"], best["currency"], best["text"]) == ("44.50", "USD", "$44.50")
    assert printed["suggestions"]["stock"][0]["availability"] == "InStock"
    assert _run(["extract", str(page), "--url", url, "--selector", best["selector"]]) == 0
    assert json.loads(capsys.readouterr().out)["price"] == "44.50"


def test_suggest_prints_a_readable_list_with_reasons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "lamp.html"
    page.write_text(TEXT_ONLY, encoding="utf-8")
    assert _run(["suggest", str(page), "--url", "https://shop.example.com/lamp"]) == 0
    out = capsys.readouterr().out
    assert "price: none in machine-readable data" in out
    assert "1. " in out
    assert "because: price-like text" in out
    assert "use one with: --selector" in out


def test_suggest_of_a_file_without_its_url_is_a_named_error(tmp_path: Path) -> None:
    page = tmp_path / "lamp.html"
    page.write_text(TEXT_ONLY, encoding="utf-8")
    with pytest.raises(CommandError) as error:
        _run(["suggest", str(page)])
    assert error.value.code == "url_required"


async def test_suggest_of_a_url_fetches_through_the_guarded_client(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PRICEALERT_ENVIRONMENT", "test")
    async with Shop() as shop:
        await shop.listen("127.0.0.1")
        shop.serve("/lamp", Page.html(TEXT_ONLY))
        monkeypatch.setenv("PRICEALERT_FETCH_ALLOWED_HOSTS", "")
        refused = await asyncio.to_thread(main, ["suggest", shop.url("/lamp"), "--no-robots"])
        assert refused == 2
        assert capsys.readouterr().err.startswith("error: blocked_address: ")
        monkeypatch.setenv("PRICEALERT_FETCH_ALLOWED_HOSTS", shop.netloc())
        argv = ["suggest", shop.url("/lamp"), "--json", "--no-robots"]
        assert await asyncio.to_thread(main, argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["suggestions"]["price"][0]["price"] == "44.50"
    assert [r.path for r in shop.requests] == ["/lamp"]
