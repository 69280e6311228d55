"""`GuardedClient`: check the URL, resolve, check the addresses, connect to the checked one."""

from __future__ import annotations

import asyncio
import json as jsonlib
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
from pricealert.http._body import ACCEPT_ENCODING, read_capped
from pricealert.http._errors import (
    BadURL,
    BlockedAddress,
    ConnectionFailed,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    TLSFailure,
    TooManyRedirects,
)
from pricealert.http._resolver import CachingResolver, Resolver
from pricealert.http._shards import Shard, ShardPool
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


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One completed exchange (after redirects): what the server answered, and what it cost."""

    url: str  #: final URL, after redirects
    status: int
    headers: httpx.Headers
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
class _Hop:
    status: int
    headers: httpx.Headers
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
        self._timeouts = httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout
        ).as_dict()
        self._total_timeout = total_timeout
        self._max_bytes = max_bytes
        self._max_redirects = max_redirects
        self._resolver: Resolver = resolver or CachingResolver()
        self._ssl = ssl_context
        self._shards = ShardPool(
            ssl_context=self._ssl_context,
            max_shards=max_hosts,
            max_connections=max_connections_per_host,
        )

    @classmethod
    def from_settings(cls, settings: PriceAlertSettings, **options: Any) -> GuardedClient:
        """A client whose exemptions are `settings.fetch_allowed_hosts`."""
        return cls(allowed_hosts=settings.fetch_allowed_hosts, **options)

    async def __aenter__(self) -> GuardedClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._shards.aclose()

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
        headers = httpx.Headers({"accept": "*/*", "user-agent": self._user_agent})
        if extra_headers:
            headers.update(extra_headers)
        headers["accept-encoding"] = ACCEPT_ENCODING  # only what read_capped can bound
        headers.pop("host", None)
        if json is not None:
            content = jsonlib.dumps(json, separators=(",", ":"), ensure_ascii=False).encode()
            headers.setdefault("content-type", "application/json")
        redirects: list[str] = []
        while True:
            hop = await self._hop(method, target, headers, content, max_bytes, follow_redirects)
            location = hop.headers.get("location") if follow_redirects else None
            if hop.status not in REDIRECT_STATUSES or not location:
                break
            if len(redirects) == self._max_redirects:
                raise TooManyRedirects(f"more than {self._max_redirects} redirects", url=url)
            redirects.append(str(target))
            try:
                next_target = target.join(location)
            except httpx.InvalidURL as exc:
                raise BadURL(f"redirect to an invalid URL: {location!r}", url=url) from exc
            next_target = _parse_url(str(next_target))
            if _origin(next_target) != _origin(target):
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
            url=str(target),
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
        url: httpx.URL,
        headers: httpx.Headers,
        content: bytes | None,
        max_bytes: int,
        follow: bool,
    ) -> _Hop:
        """One request to one checked address; a redirect's body is not read."""
        addresses = await self._checked_addresses(url)
        for attempt, address in enumerate(addresses):
            shard = self._shards.acquire((url.scheme, url.host, str(address), _port(url)))
            try:
                return await self._exchange(shard, method, url, address, headers, content,
                                            max_bytes, follow)  # fmt: skip
            except ConnectionFailed as exc:
                # Not connected, so nothing was sent: the name's next checked address may answer.
                if (
                    not isinstance(exc.__cause__, httpx.ConnectError)
                    or attempt == len(addresses) - 1
                ):
                    raise
            finally:
                await self._shards.release(shard)
        raise AssertionError("unreachable: addresses is never empty")

    async def _exchange(
        self,
        shard: Shard,
        method: str,
        url: httpx.URL,
        address: IPAddress,
        headers: httpx.Headers,
        content: bytes | None,
        max_bytes: int,
        follow: bool,
    ) -> _Hop:
        extensions: dict[str, Any] = {"timeout": self._timeouts}
        pinned = url
        send_headers = headers
        if url.host != str(address):
            # Pinning: connect to the checked IP; the name travels in Host and in TLS SNI,
            # and the certificate is verified against the name (sni_hostname).
            pinned = url.copy_with(host=str(address))
            send_headers = headers.copy()
            send_headers["host"] = url.netloc.decode("ascii")
            if url.scheme == "https":
                extensions["sni_hostname"] = url.raw_host.decode("ascii")
        request = httpx.Request(
            method, pinned, headers=send_headers, content=content, extensions=extensions
        )
        try:
            response = await shard.transport.handle_async_request(request)
        except httpx.TransportError as exc:
            raise _transport_error(exc, str(url), connecting=True) from exc
        try:
            if follow and response.status_code in REDIRECT_STATUSES:
                body, received = b"", 0
            else:
                body, received = await read_capped(
                    response, max_bytes=max_bytes, url=str(url), method=method
                )
        except httpx.TransportError as exc:
            raise _transport_error(exc, str(url), connecting=False) from exc
        finally:
            await response.aclose()
        return _Hop(response.status_code, response.headers, body, received, str(address))

    async def _checked_addresses(self, url: httpx.URL) -> list[IPAddress]:
        host, port = url.host, _port(url)
        literal = parse_ip_literal(host.removesuffix("."))
        if literal is not None:
            addresses = [literal]
        else:
            addresses = await self._resolver.resolve(url.raw_host.decode("ascii"), port)
        if self._allowed and self._allowed.allows(host, port):
            return addresses
        for address in addresses:
            reason = blocked_reason(address)
            if reason is not None:
                raise BlockedAddress(f"{host} is {address}: {reason}", url=str(url))
        return addresses

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            # Built once and shared: loading the CA bundle costs ~20 ms.
            self._ssl = httpx.create_ssl_context(trust_env=False)
        return self._ssl


def _parse_url(raw: str) -> httpx.URL:
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
    return url


def _port(url: httpx.URL) -> int:
    return url.port or _DEFAULT_PORTS[url.scheme]


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    return url.scheme, url.host, _port(url)


def _transport_error(exc: httpx.TransportError, url: str, *, connecting: bool) -> FetchError:
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        phase = {
            httpx.ConnectTimeout: "connect",
            httpx.ReadTimeout: "read",
            httpx.WriteTimeout: "write",
            httpx.PoolTimeout: "pool",
        }.get(type(exc), "read")
        return FetchTimeout(f"{phase} timeout: {detail}", url=url, phase=phase)
    if isinstance(exc, httpx.UnsupportedProtocol):
        return BadURL(detail, url=url)
    if connecting and _caused_by_ssl(exc):
        return TLSFailure(detail, url=url)
    return ConnectionFailed(detail, url=url)


def _caused_by_ssl(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError | ssl.CertificateError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
