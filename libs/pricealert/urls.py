"""Product URLs: validate what users send, and normalise so one page is one product.

Normalisation: scheme and host lower-cased, host IDNA-encoded, default port and
fragment dropped, empty path → `/`, tracking parameters (utm_*, gclid, fbclid,
...) removed and the remaining query sorted. Two spellings of one page become
one product row.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pricealert.errors import InvalidInput

MAX_URL_LENGTH: Final = 2048
_TRACKING_PREFIXES: Final = ("utm_",)
_TRACKING_PARAMS: Final = frozenset(
    {"gclid", "fbclid", "dclid", "msclkid", "yclid", "mc_cid", "mc_eid", "_ga", "igshid", "ref_"}
)
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def normalise_url(raw: str) -> str:
    """Validate a product URL and return its canonical spelling, or raise `InvalidInput`."""
    candidate = raw.strip()
    if not candidate:
        raise InvalidInput("url must not be empty", field="url")
    if len(candidate) > MAX_URL_LENGTH:
        raise InvalidInput(f"url is longer than {MAX_URL_LENGTH} characters", field="url")
    if any(ch.isspace() or ord(ch) < 0x20 for ch in candidate):
        raise InvalidInput("url must not contain whitespace or control characters", field="url")
    try:
        parts = urlsplit(candidate)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"url is malformed: {exc}", field="url") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise InvalidInput("url must use http or https", field="url")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("url must not carry credentials", field="url")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise InvalidInput("url has no host", field="url")
    try:
        host = host.encode("idna").decode("ascii") if not _is_ip_literal(host) else host
    except UnicodeError as exc:
        raise InvalidInput("url host is not a valid domain name", field="url") from exc
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    query = urlencode(
        sorted(
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if k.lower() not in _TRACKING_PARAMS and not k.lower().startswith(_TRACKING_PREFIXES)
        )
    )
    normalised = urlunsplit((scheme, netloc, parts.path or "/", query, ""))
    if len(normalised) > MAX_URL_LENGTH:
        raise InvalidInput(f"url is longer than {MAX_URL_LENGTH} characters", field="url")
    return normalised


def url_domain(url: str) -> str:
    """The host[:port] a URL points at (the unit of per-shop politeness)."""
    return urlsplit(url).netloc


def _is_ip_literal(host: str) -> bool:
    return ":" in host or host.replace(".", "").isdigit()
