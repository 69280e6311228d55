"""The named failures of the guarded client (hierarchy drawn in `pricealert.http`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pricealert.errors import PriceAlertError

if TYPE_CHECKING:
    from pricealert.http._result import FetchResult


class FetchError(PriceAlertError):
    """Base of every failure of an outbound request; `code` names the failure."""

    status = 502
    code: ClassVar[str] = "fetch_error"
    title = "Fetch failed"

    def __init__(self, detail: str, *, url: str = "", **extra: Any) -> None:
        super().__init__(detail, url=url, **extra)
        self.url = url


class BadURL(FetchError, status=422, code="bad_url", title="URL not allowed"):
    """Not an absolute http(s) URL, credentials in it, or a numeric IP spelling."""


class BlockedAddress(FetchError, status=422, code="blocked_address", title="Address not allowed"):
    """The host is, or resolves to, an address the policy refuses."""


class DNSFailure(FetchError, code="dns_error", title="Name did not resolve"):
    """The name did not resolve."""


class FetchTimeout(FetchError, status=504, code="timeout", title="Timed out"):
    """Connect, read, write, pool or total timeout; `phase` says which."""

    def __init__(self, detail: str, *, url: str = "", phase: str = "total", **extra: Any) -> None:
        super().__init__(detail, url=url, phase=phase, **extra)
        self.phase = phase


class ConnectionFailed(FetchError, code="connection_error", title="Connection failed"):
    """Refused, reset or broken connection, or a response that breaks HTTP/1.1."""


class TLSFailure(FetchError, code="tls_error", title="TLS failed"):
    """The TLS handshake failed (certificate not valid for the host, protocol error)."""


class TooLarge(FetchError, code="too_large", title="Response too large"):
    """The body passed the size cap, on the wire or after decompression."""


class TooManyRedirects(FetchError, code="too_many_redirects", title="Too many redirects"):
    """More redirect hops than allowed."""


class DecodingFailed(FetchError, code="decoding_error", title="Body could not be decoded"):
    """A compressed body that does not decompress (corrupt, truncated, unknown coding)."""


class HTTPStatusError(FetchError, code="http_status", title="Unexpected HTTP status"):
    """A non-2xx answer when the caller asked for `raise_for_status`; carries the result."""

    def __init__(self, detail: str, *, result: FetchResult) -> None:
        super().__init__(detail, url=result.url, status_code=result.status)
        self.result = result
