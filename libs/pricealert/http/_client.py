"""`GuardedClient`: check the URL, resolve, check the addresses, connect to the checked one."""

from __future__ import annotations

import asyncio
import json as jsonlib
import re
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final

import httpx

from pricealert.http._addresses import (
    AllowedHosts,
    IPAddress,
    blocked_reason,
    is_numeric_spelling,
    parse_ip_literal,
)
from pricealert.http._body import ACCEPT_ENCODING
from pricealert.http._connection import NotConnected, Response, open_connection
from pricealert.http._errors import (
    BadURL,
    BlockedAddress,
    ConnectionFailed,
    FetchTimeout,
    HTTPStatusError,
    TooManyRedirects,
)
from pricealert.http._headers import Headers
from pricealert.http._pool import ConnectionPool
from pricealert.http._resolver import CachingResolver, Resolver
from pricealert.settings import PriceAlertSettings

try:
    _VERSION = version("pricealert")
except PackageNotFoundError:  # running from a checkout that was never installed
    _VERSION = "0"

#: Honest by default: who we are and where to read about it.
DEFAULT_USER_AGENT: Final = f"PriceAlert/{_VERSION} (+https://pricealert.example/bot)"
DEFAULT_MAX_BYTES: Final = 5 * 1024 * 1024
REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_DROP_ON_NEW_ORIGIN: Final = ("authorization", "cookie", "proxy-authorization")
_BODY_HEADERS: Final = ("content-type", "content-length", "transfer-encoding")
#: Headers the connection layer owns: never taken from the caller.
_OWN_HEADERS: Final = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "te",
     "trailer", "upgrade", "proxy-connection"}
)  # fmt: skip
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE: Final = re.compile(r"[\r\n\0]")
_METHODS_WITH_BODY: Final = frozenset({"POST", "PUT", "PATCH"})


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One completed exchange (after redirects): what the server answered, and what it cost."""

    url: str  #: final URL, after redirects
    status: int
    headers: Headers  #: case-insensitive `Mapping[str, str]`
    body: bytes  #: decoded (gzip/deflate undone)
    elapsed: float  #: seconds, DNS and redirects included
    bytes_received: int  #: body bytes on the wire, final response only
    redirects: tuple[str, ...]  #: the URLs that redirected, in order
    address: str  #: the IP address the final response came from

    @property
    def is_success(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class _Target:
    """A checked URL, parsed once (by httpx's parser, so spelling rules stay one place's)."""

    parsed: httpx.URL
    url: str  #: normalised, as reported in results
    scheme: str
    host: str  #: lower-case, IPv6 without brackets, IDNA decoded
    raw_host: str  #: ASCII (IDNA encoded): what is resolved and verified in TLS
    port: int
    netloc: str  #: host[:port], ASCII: the Host header
    path: str  #: path and query, encoded: the request target

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port


@dataclass(frozen=True, slots=True)
class _Hop:
    status: int
    headers: Headers
    body: bytes
    received: int
    address: str


class GuardedClient:
    """The one outbound HTTP client of PriceAlert (see `pricealert.http` for the rules)."""

    def __init__(
        self,
        *,
        allowed_hosts: Iterable[str] = (),
        user_agent: str = DEFAULT_USER_AGENT,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        total_timeout: float = 30.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_redirects: int = 5,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
        max_connections_per_host: int = 4,
        max_hosts: int = 512,
    ) -> None:
        self._allowed = AllowedHosts(allowed_hosts)
        self._user_agent = user_agent
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._write_timeout = read_timeout
        self._pool_timeout = connect_timeout
        self._total_timeout = total_timeout
        self._max_bytes = max_bytes
        self._max_redirects = max_redirects
        self._resolver: Resolver = resolver or CachingResolver()
        self._ssl = ssl_context
        self._pool = ConnectionPool(max_hosts=max_hosts, max_connections=max_connections_per_host)

    @classmethod
    def from_settings(cls, settings: PriceAlertSettings, **options: Any) -> GuardedClient:
        """A client whose exemptions are `settings.fetch_allowed_hosts`."""
        return cls(allowed_hosts=settings.fetch_allowed_hosts, **options)

    async def __aenter__(self) -> GuardedClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every pooled connection (requests in flight finish first)."""
        self._pool.close()

    async def get(self, url: str, **options: Any) -> FetchResult:
        """`request("GET", url, ...)`."""
        return await self.request("GET", url, **options)

    async def post(self, url: str, **options: Any) -> FetchResult:
        """`request("POST", url, ...)`."""
        return await self.request("POST", url, **options)

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        json: Any = None,
        follow_redirects: bool = True,
        raise_for_status: bool = False,
        max_bytes: int | None = None,
        total_timeout: float | None = None,
    ) -> FetchResult:
        """Send one request under the policy; raises a `FetchError` subclass on any failure."""
        total = self._total_timeout if total_timeout is None else total_timeout
        started = time.monotonic()
        try:
            async with asyncio.timeout(total):
                return await self._request(
                    method.upper(), url, headers, content, json, follow_redirects,
                    raise_for_status, self._max_bytes if max_bytes is None else max_bytes, started,
                )  # fmt: skip
        except TimeoutError as exc:
            raise FetchTimeout(f"no complete answer within {total} s", url=url) from exc

    async def _request(
        self,
        method: str,
        url: str,
        extra_headers: Mapping[str, str] | None,
        content: bytes | None,
        json: Any,
        follow_redirects: bool,
        raise_for_status: bool,
        max_bytes: int,
        started: float,
    ) -> FetchResult:
        target = _parse_url(url)
        if not _TOKEN.fullmatch(method):
            raise ValueError(f"not an HTTP method: {method!r}")
        # lower-case name -> (name as given, value); Host and framing are the connection's
        headers = {"accept": ("Accept", "*/*"), "user-agent": ("User-Agent", self._user_agent)}
        if extra_headers:
            for name, value in extra_headers.items():
                if not _TOKEN.fullmatch(name) or _BAD_VALUE.search(value):
                    raise ConnectionFailed(f"invalid request header {name!r}", url=url)
                key = name.lower()
                if key not in _OWN_HEADERS:
                    headers[key] = (name, value.strip())
        headers["accept-encoding"] = ("Accept-Encoding", ACCEPT_ENCODING)  # what we can bound
        if json is not None:
            content = jsonlib.dumps(json, separators=(",", ":"), ensure_ascii=False).encode()
            headers.setdefault("content-type", ("Content-Type", "application/json"))
        redirects: list[str] = []
        while True:
            hop = await self._hop(method, target, headers, content, max_bytes, follow_redirects)
            location = hop.headers.get("location") if follow_redirects else None
            if hop.status not in REDIRECT_STATUSES or not location:
                break
            if len(redirects) == self._max_redirects:
                raise TooManyRedirects(f"more than {self._max_redirects} redirects", url=url)
            redirects.append(target.url)
            try:
                joined = target.parsed.join(location)
            except httpx.InvalidURL as exc:
                raise BadURL(f"redirect to an invalid URL: {location!r}", url=url) from exc
            next_target = _parse_url(str(joined))
            if next_target.origin != target.origin:
                for name in _DROP_ON_NEW_ORIGIN:
                    headers.pop(name, None)
            if (hop.status == 303 and method != "HEAD") or (
                hop.status in {301, 302} and method == "POST"
            ):
                method, content = "GET", None
                for name in _BODY_HEADERS:
                    headers.pop(name, None)
            target = next_target
        result = FetchResult(
            url=target.url,
            status=hop.status,
            headers=hop.headers,
            body=hop.body,
            elapsed=time.monotonic() - started,
            bytes_received=hop.received,
            redirects=tuple(redirects),
            address=hop.address,
        )
        if raise_for_status and not result.is_success:
            raise HTTPStatusError(f"{method} {result.url} answered {result.status}", result=result)
        return result

    async def _hop(
        self,
        method: str,
        target: _Target,
        headers: dict[str, tuple[str, str]],
        content: bytes | None,
        max_bytes: int,
        follow: bool,
    ) -> _Hop:
        """One request to one checked address; a redirect's body is not read."""
        addresses = await self._checked_addresses(target)
        request = _encode_request(method, target, headers, content)
        last = len(addresses) - 1
        for attempt, address in enumerate(addresses):
            try:
                response = await self._exchange(target, str(address), request, method,
                                                 max_bytes, follow)  # fmt: skip
            except NotConnected:
                # Not connected, so nothing was sent: the name's next checked address may answer.
                if attempt == last:
                    raise
                continue
            return _Hop(response.status, response.headers, response.body, response.received,
                        str(address))  # fmt: skip
        raise AssertionError("unreachable: addresses is never empty")

    async def _exchange(
        self,
        target: _Target,
        address: str,
        request: bytes,
        method: str,
        max_bytes: int,
        follow: bool,
    ) -> Response:
        # Pinning: the connection goes to the checked address; the name travels in Host
        # (in `request`) and, for https, in SNI and as the name the certificate must match.
        destination, connection = await self._pool.acquire(
            (target.scheme, target.host, address, target.port),
            pool_timeout=self._pool_timeout,
            url=target.url,
        )
        try:
            if connection is None:
                https = target.scheme == "https"
                connection = await open_connection(
                    address,
                    target.port,
                    tls=self._ssl_context() if https else None,
                    server_hostname=target.raw_host.removesuffix(".") if https else None,
                    connect_timeout=self._connect_timeout,
                    url=target.url,
                )
            return await connection.exchange(
                request,
                method=method,
                url=target.url,
                max_bytes=max_bytes,
                skip_redirect_body=follow,
                read_timeout=self._read_timeout,
                write_timeout=self._write_timeout,
            )
        finally:
            self._pool.release(destination, connection)

    async def _checked_addresses(self, target: _Target) -> list[IPAddress]:
        host, port = target.host, target.port
        literal = parse_ip_literal(host.removesuffix("."))
        if literal is not None:
            addresses = [literal]
        else:
            addresses = await self._resolver.resolve(target.raw_host, port)
        if self._allowed and self._allowed.allows(host, port):
            return addresses
        for address in addresses:
            reason = blocked_reason(address)
            if reason is not None:
                raise BlockedAddress(f"{host} is {address}: {reason}", url=target.url)
        return addresses

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            # Built once and shared: loading the CA bundle costs ~20 ms. Certifi's CAs,
            # nothing from the environment (SSL_CERT_FILE and the like).
            self._ssl = httpx.create_ssl_context(trust_env=False)
            self._ssl.set_alpn_protocols(["http/1.1"])
        return self._ssl


def _parse_url(raw: str) -> _Target:
    try:
        url = httpx.URL(raw)
    except (httpx.InvalidURL, TypeError) as exc:
        raise BadURL(f"not a valid URL: {exc}", url=str(raw)) from exc
    if url.scheme not in _DEFAULT_PORTS:
        raise BadURL("only http and https URLs may be fetched", url=raw)
    if not url.host:
        raise BadURL("the URL has no host", url=raw)
    if url.userinfo:
        raise BadURL("credentials in URLs are not allowed", url=raw)
    if url.port == 0:
        raise BadURL("port 0 is not a port", url=raw)
    if is_numeric_spelling(url.host):
        raise BadURL(f"{url.host!r} is an IP address in a non-canonical spelling", url=raw)
    return _Target(
        parsed=url,
        url=str(url),
        scheme=url.scheme,
        host=url.host,
        raw_host=url.raw_host.decode("ascii"),
        port=url.port or _DEFAULT_PORTS[url.scheme],
        netloc=url.netloc.decode("ascii"),
        path=url.raw_path.decode("ascii"),
    )


def _encode_request(
    method: str, target: _Target, headers: dict[str, tuple[str, str]], content: bytes | None
) -> bytes:
    """The request head (and body), with the original host[:port] in Host."""
    lines = [f"{method} {target.path} HTTP/1.1\r\nHost: {target.netloc}\r\n"]
    lines += [f"{name}: {value}\r\n" for name, value in headers.values()]
    if content is not None:
        lines.append(f"Content-Length: {len(content)}\r\n")
    elif method in _METHODS_WITH_BODY:
        lines.append("Content-Length: 0\r\n")
    lines.append("\r\n")
    head = "".join(lines).encode("utf-8")
    return head + content if content else head
