"""Comparing a page's URL with the URLs structured data names."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit


def url_key(url: str, base: str = "") -> str:
    """A comparable form of `url`: absolute, no fragment, lower-case host, sorted query."""
    parts = urlsplit(urljoin(base, url.strip()) if base else url.strip())
    host = (parts.hostname or "").removeprefix("www.")
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return f"{host}{parts.path.rstrip('/')}?{query}"
