"""One fetched page, decoded and parsed once, and what is known about it."""

from __future__ import annotations

from collections.abc import Mapping

from selectolax.lexbor import LexborHTMLParser

from pricealert.extract.currency import page_currency, tld_of
from pricealert.extract.encoding import detect_encoding
from pricealert.extract.meta import meta_properties

_JAPANESE_CODECS = frozenset({"cp932", "shift_jis", "euc_jp", "iso2022_jp", "euc_jis_2004"})


class Page:
    """One parsed page and what is known about it, shared by the strategies."""

    def __init__(self, body: bytes, url: str, headers: Mapping[str, str] | None) -> None:
        codec, bom = detect_encoding(body, headers)
        # Lexbor reads UTF-8 bytes itself; decoding to str first would only cost time.
        source: bytes | str = (
            body[bom:] if codec == "utf-8" else body[bom:].decode(codec, "replace")
        )
        self.body = body
        self.codec = codec
        self.url = url
        self.headers = headers
        self.tree = LexborHTMLParser(source)
        html = self.tree.css_first("html")
        self.lang = (html.attributes.get("lang") or "").strip() if html is not None else ""
        self.japanese = (
            self.lang.lower().startswith("ja") or tld_of(url) == "jp" or codec in _JAPANESE_CODECS
        )
        self.expected_currency = page_currency(url, self.lang) or ("JPY" if self.japanese else None)
        title_node = self.tree.css_first("title")
        self.html_title = clean(title_node.text()) if title_node is not None else None
        self._meta: dict[str, str] | None = None

    @property
    def meta(self) -> dict[str, str]:
        if self._meta is None:
            self._meta = meta_properties(self.tree)
        return self._meta


def clean(text: str | None) -> str | None:
    """Text with runs of whitespace made single spaces; None when nothing is left."""
    return " ".join(text.split()) or None if text else None
