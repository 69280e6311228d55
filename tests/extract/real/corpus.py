"""Loader for the corpus of real saved shop pages (manifest.yaml + pages/*.html.gz).

The pages were written by shops and saved by other projects; their labels were
read by hand (rules at the top of manifest.yaml). This module only reads the
manifest into typed records: it never extracts anything from a page.

    ManifestError  -- raised when manifest.yaml does not have the documented shape
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, cast

import yaml

HERE = Path(__file__).parent
MANIFEST = HERE / "manifest.yaml"

Kind = Literal["product", "no_price", "listing", "block", "fragment"]
Structured = Literal["jsonld", "microdata", "rdfa", "opengraph"]

KINDS: tuple[Kind, ...] = ("product", "no_price", "listing", "block", "fragment")
STRUCTURED: tuple[Structured, ...] = ("jsonld", "microdata", "rdfa", "opengraph")
AVAILABILITIES = (
    "InStock",
    "OutOfStock",
    "PreOrder",
    "PreSale",
    "BackOrder",
    "SoldOut",
    "Discontinued",
    "LimitedAvailability",
    "InStoreOnly",
    "OnlineOnly",
)


class ManifestError(ValueError):
    """manifest.yaml is missing a field or has one of the wrong shape."""


@dataclass(frozen=True)
class Source:
    """Where a page was taken from: a public repository, a path in it and a commit."""

    repo: str
    path: str
    commit: str


@dataclass(frozen=True)
class Expected:
    """The hand-read label: price (None when the page shows none), currency, availability."""

    price: Decimal | None
    currency: str | None
    availability: str | None
    also_acceptable: tuple[Decimal, ...] = ()

    def accepts(self, price: Decimal | None) -> bool:
        """True when `price` is the labelled price or one of the also-acceptable ones."""
        if price is None or self.price is None:
            return price is None and self.price is None
        return price == self.price or price in self.also_acceptable


@dataclass(frozen=True)
class RealPage:
    """One saved page with its label and provenance."""

    id: str
    file: str
    url: str
    shop: str
    country: str
    language: str
    kind: Kind
    structured: tuple[Structured, ...]
    expected: Expected
    price_selector: str | None
    source: Source
    licence: str
    notes: str
    root: Path = HERE

    @property
    def path(self) -> Path:
        """The gzip file holding the page's original bytes."""
        return self.root / self.file

    def body(self) -> bytes:
        """The page's original bytes, exactly as saved (encoding untouched)."""
        return gzip.decompress(self.path.read_bytes())


def _text(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ManifestError(f"{where}: '{key}' must be a non-empty string, got {value!r}")
    return value


def _optional_text(entry: dict[str, Any], key: str, where: str) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ManifestError(f"{where}: '{key}' must be a non-empty string or null, got {value!r}")
    return value


def _decimal(value: object, where: str) -> Decimal:
    # Prices are strings in the manifest so YAML never turns "26.00" into a float.
    if not isinstance(value, str):
        raise ManifestError(f"{where}: a price must be a quoted decimal string, got {value!r}")
    try:
        price = Decimal(value)
    except InvalidOperation:
        raise ManifestError(f"{where}: {value!r} is not a decimal number") from None
    if not price.is_finite() or price <= 0:
        raise ManifestError(f"{where}: {value!r} is not a positive price")
    return price


def _expected(raw: object, where: str) -> Expected:
    if not isinstance(raw, dict):
        raise ManifestError(f"{where}: 'expected' must be a mapping")
    price = None if raw.get("price") is None else _decimal(raw["price"], f"{where}.expected.price")
    also = raw.get("also_acceptable") or []
    if not isinstance(also, list):
        raise ManifestError(f"{where}: 'also_acceptable' must be a list")
    return Expected(
        price=price,
        currency=_optional_text(raw, "currency", f"{where}.expected"),
        availability=_optional_text(raw, "availability", f"{where}.expected"),
        also_acceptable=tuple(_decimal(v, f"{where}.expected.also_acceptable") for v in also),
    )


def _page(entry: object, root: Path, index: int) -> RealPage:
    if not isinstance(entry, dict):
        raise ManifestError(f"pages[{index}] must be a mapping")
    where = f"pages[{index}] ({entry.get('id', '?')})"
    kind = _text(entry, "kind", where)
    if kind not in KINDS:
        raise ManifestError(f"{where}: kind {kind!r} is not one of {KINDS}")
    structured = entry.get("structured")
    if not isinstance(structured, list) or any(s not in STRUCTURED for s in structured):
        raise ManifestError(f"{where}: 'structured' must be a list of {STRUCTURED}")
    source = entry.get("source")
    if not isinstance(source, dict):
        raise ManifestError(f"{where}: 'source' must be a mapping with repo, path, commit")
    notes = entry.get("notes", "")
    if not isinstance(notes, str):
        raise ManifestError(f"{where}: 'notes' must be a string")
    return RealPage(
        id=_text(entry, "id", where),
        file=_text(entry, "file", where),
        url=_text(entry, "url", where),
        shop=_text(entry, "shop", where),
        country=_text(entry, "country", where),
        language=_text(entry, "language", where),
        kind=kind,
        structured=tuple(cast(list[Structured], structured)),
        expected=_expected(entry.get("expected"), where),
        price_selector=_optional_text(entry, "price_selector", where),
        source=Source(
            repo=_text(source, "repo", f"{where}.source"),
            path=_text(source, "path", f"{where}.source"),
            commit=_text(source, "commit", f"{where}.source"),
        ),
        licence=_text(entry, "licence", where),
        notes=notes,
        root=root,
    )


def load_manifest(manifest: Path = MANIFEST) -> dict[str, Any]:
    """The raw manifest document (header keys and the list of page entries)."""
    document = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or not isinstance(document.get("pages"), list):
        raise ManifestError(f"{manifest}: expected a mapping with a 'pages' list")
    return document


@lru_cache(maxsize=4)
def _load(manifest: Path) -> tuple[RealPage, ...]:
    document = load_manifest(manifest)
    return tuple(_page(entry, manifest.parent, i) for i, entry in enumerate(document["pages"]))


def load_corpus(manifest: Path = MANIFEST) -> list[RealPage]:
    """Every page of the corpus in manifest order, labels parsed (Decimal prices)."""
    return list(_load(manifest.resolve()))
