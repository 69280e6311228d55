"""`pricealert extract FILE --url URL`: one JSON object, named errors for bad input."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from pricealert.cli import CommandError
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
