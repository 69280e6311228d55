"""Every saved shop page in the corpus gives exactly the expected extraction."""

from __future__ import annotations

import importlib.util
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from pricealert.extract import extract

HERE = Path(__file__).parent
CASES: list[dict[str, Any]] = yaml.safe_load((HERE / "cases.yaml").read_text(encoding="utf-8"))


def _case_id(case: dict[str, Any]) -> str:
    return f"{case['file']}[{case.get('selector') or case['url'].rsplit('/', 1)[-1] or 'auto'}]"


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_corpus_page_gives_the_expected_price_currency_availability_and_method(
    case: dict[str, Any],
) -> None:
    body = (HERE / "corpus" / case["file"]).read_bytes()
    result = extract(
        body,
        case["url"],
        selector=case.get("selector"),
        stock_selector=case.get("stock_selector"),
        headers=case.get("headers"),
    )
    expected_price = Decimal(case["price"]) if case["price"] is not None else None
    assert (result.price, result.currency, result.availability, result.method) == (
        expected_price,
        case["currency"],
        case["availability"],
        case["method"],
    ), case["why"]
    assert (result.blocked, result.block_reason) == (
        case.get("blocked", False),
        case.get("block_reason"),
    )
    if "title" in case:
        assert result.title == case["title"]
    if result.currency == "JPY":
        assert result.price is not None
        assert result.price.as_tuple().exponent == 0  # yen has no minor unit


def test_corpus_has_enough_pages_and_every_page_is_checked() -> None:
    pages = {path.name for path in (HERE / "corpus").iterdir()}
    assert len(pages) >= 45
    assert pages == {case["file"] for case in CASES}


def test_encoded_pages_are_stored_as_the_bytes_their_generator_writes() -> None:
    spec = importlib.util.spec_from_file_location(
        "make_encoded_corpus", HERE / "make_encoded_corpus.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for path, data in module.encoded_pages().items():
        assert path.read_bytes() == data, f"run make_encoded_corpus.py to refresh {path.name}"
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")  # really legacy bytes, not UTF-8 in disguise
