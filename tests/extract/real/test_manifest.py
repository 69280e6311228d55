"""The real-page corpus is whole and its manifest has the documented shape.

These tests check the data, not the extractor: files exist and decompress,
every page names its source and an allowed licence, labels have the right
shapes (ISO 4217 currency, schema.org availability, kind rules), and the
hand-written price selector of each text-only page points at an element that
shows the labelled price.
"""

from __future__ import annotations

import gzip
import re
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pycountry
import pytest
from selectolax.lexbor import LexborHTMLParser

from tests.extract.real.corpus import (
    AVAILABILITIES,
    HERE,
    STRUCTURED,
    ManifestError,
    RealPage,
    load_corpus,
    load_manifest,
)

PAGES = load_corpus()
DOCUMENT = load_manifest()
BY_ID = {page.id: page for page in PAGES}

# Licences that allow redistribution of the fixtures in this repository.
ALLOWED_LICENCES = {
    "MIT",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "Apache-2.0",
    "ISC",
    "CC0-1.0",
    "CC-BY-4.0",
    "CC-BY-SA-4.0",
}
MAX_PAGE_BYTES = 3_000_000
UNKNOWN_COUNTRY = "ZZ"  # ISO 3166 user-assigned code: bot walls belong to no shop
ID_PATTERN = re.compile(r"^(?P<cc>[a-z]{2})_[a-z0-9]+_[1-9][0-9]*$")
COMMIT_PATTERN = re.compile(r"^[0-9a-f]{40}$")
REPO_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_-]+)""", re.IGNORECASE)


def _ids(pages: list[RealPage]) -> list[str]:
    return [page.id for page in pages]


def _decoded(page: RealPage) -> str:
    body = page.body()
    declared = CHARSET.search(body[:8192])
    encoding = declared.group(1).decode("ascii") if declared else "utf-8"
    try:
        return body.decode(encoding)
    except (LookupError, UnicodeDecodeError):
        return body.decode("utf-8", errors="replace")


def _digits(text: str) -> str:
    return re.sub(r"[^0-9]", "", text)


def test_the_corpus_holds_at_least_150_pages_with_unique_ids() -> None:
    ids = Counter(page.id for page in PAGES)
    assert len(PAGES) >= 150
    assert [pid for pid, n in ids.items() if n > 1] == []


def test_every_gzip_in_pages_is_listed_in_the_manifest() -> None:
    on_disk = {p.name for p in (HERE / "pages").glob("*.html.gz")}
    listed = {Path(page.file).name for page in PAGES}
    assert on_disk - listed == set()


def test_the_corpus_has_products_no_price_pages_and_block_pages() -> None:
    kinds = Counter(page.kind for page in PAGES)
    assert kinds["product"] >= 100
    assert kinds["no_price"] >= 3
    assert kinds["block"] >= 3


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_page_file_exists_decompresses_and_is_not_too_big(page: RealPage) -> None:
    assert page.file == f"pages/{page.id}.html.gz"
    raw = page.path.read_bytes()
    body = gzip.decompress(raw)
    assert body == page.body()
    assert 0 < len(body) <= MAX_PAGE_BYTES
    assert b"<" in body[:4096]


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_page_names_its_source_commit_and_an_allowed_licence(page: RealPage) -> None:
    assert REPO_PATTERN.match(page.source.repo), page.source.repo
    assert COMMIT_PATTERN.match(page.source.commit), page.source.commit
    assert page.source.path
    assert not page.source.path.startswith("/")
    assert page.licence in ALLOWED_LICENCES


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_page_identity_fields_have_the_right_shapes(page: RealPage) -> None:
    match = ID_PATTERN.match(page.id)
    assert match, page.id
    assert match["cc"] == page.country.lower()
    assert page.country == UNKNOWN_COUNTRY or pycountry.countries.get(alpha_2=page.country)
    assert pycountry.languages.get(alpha_2=page.language), page.language
    assert re.match(r"^https?://[^/\s]+\.[^/\s]+", page.url), page.url
    assert page.shop == page.shop.strip()
    assert page.shop


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_page_label_follows_the_rules_for_its_kind(page: RealPage) -> None:
    expected = page.expected
    withdrawn = set(DOCUMENT.get("withdrawn_currencies") or {})
    assert expected.availability is None or expected.availability in AVAILABILITIES
    assert list(page.structured) == [s for s in STRUCTURED if s in page.structured]
    if page.kind in ("product", "fragment"):
        assert expected.price is not None
        assert expected.price > 0
        assert expected.currency is not None
        assert pycountry.currencies.get(alpha_3=expected.currency) or expected.currency in withdrawn
        assert expected.price not in expected.also_acceptable
    else:
        assert expected.price is None
        assert expected.currency is None
        assert expected.also_acceptable == ()
        assert page.structured == ()
        assert page.price_selector is None
    if page.kind == "block":
        assert expected.availability is None


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_text_only_page_has_a_selector_that_hits_the_labelled_price(page: RealPage) -> None:
    if page.price_selector is None:
        # Only pages whose price is in machine-readable data (or that have none) go without.
        assert page.structured or page.expected.price is None
        return
    assert page.structured == ()
    assert page.expected.price is not None
    tree = LexborHTMLParser(_decoded(page))
    nodes = tree.css(page.price_selector)
    assert nodes, f"{page.price_selector!r} matches nothing"
    wanted = _digits(str(page.expected.price))
    texts = [" ".join(node.text(deep=True).split()) for node in nodes]
    assert any(_digits(text) == wanted for text in texts), texts[:5]


def test_every_source_repository_is_attributed_in_the_readme() -> None:
    readme = (HERE / "README.md").read_text(encoding="utf-8")
    missing = sorted({page.source.repo for page in PAGES if page.source.repo not in readme})
    assert missing == []


def test_loader_returns_decimal_prices_and_acceptable_alternatives() -> None:
    page = BY_ID["sk_agem_1"]
    assert page.expected.price == Decimal("5263.20")
    assert page.expected.accepts(Decimal("5263.2"))
    assert page.expected.accepts(Decimal("4386.00"))
    assert not page.expected.accepts(Decimal("30.48"))
    assert not page.expected.accepts(None)
    assert BY_ID["us_amazon_3"].expected.accepts(None)


def test_loader_rejects_a_float_price_with_a_named_error(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(
        "pages:\n"
        "- {id: us_shop_1, file: pages/us_shop_1.html.gz, url: 'https://shop.example/p',"
        " shop: shop, country: US, language: en, kind: product, structured: [jsonld],"
        " expected: {price: 26.0, currency: USD, availability: InStock},"
        " source: {repo: a/b, path: p.html, commit: '" + "0" * 40 + "'}, licence: MIT}\n",
        encoding="utf-8",
    )
    with pytest.raises(ManifestError, match="quoted decimal string"):
        load_corpus(manifest)
