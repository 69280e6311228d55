"""`GuardedClient`: check the URL, let aiohttp speak HTTP under the guard, follow redirects."""

from __future__ import annotations

import io
import json as jsonlib
import re
import ssl
import time
from collections.abc import Awaitable, Iterable, Mapping
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final, NamedTuple

import aiohttp
import certifi
from yarl import URL

from pricealert.http._addresses import (
    AllowedHosts,
    blocked_port_reason,
    is_numeric_spelling,
    parse_ip_literal,
)
from pricealert.http._capped import ACCEPT_ENCODING, read_arrived, read_capped
from pricealert.http._errors import (
    BadURL,
    BlockedAddress,
    ConnectionFailed,
    DNSFailure,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    TLSFailure,
    TooManyRedirects,
)
from pricealert.http._guard import (
    CURRENT_HOP,
    GuardedConnector,
    Hop,
    guarded_socket,
)
from pricealert.http._resolver import GuardedResolver, Resolver, SystemResolver
from pricealert.http._result import FetchResult, Headers
from pricealert.settings import PriceAlertSettings

try:
    _VERSION = version("pricealert")
except PackageNotFoundError:  # running from a checkout that was never installed
    _VERSION = "0"

#: Honest by default: who we are and where to read about it.
DEFAULT_USER_AGENT: Final = f"PriceAlert/{_VERSION} (+https://pricealert.example/bot)"
DEFAULT_MAX_BYTES: Final = 5 * 1024 * 1024
REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
_SCHEMES: Final = frozenset({"http", "https"})
_DROP_ON_NEW_ORIGIN: Final = ("authorization", "cookie", "proxy-authorization")
_BODY_HEADERS: Final = ("content-type", "content-length", "transfer-encoding")
#: Headers the connection layer owns: never taken from the caller.
_OWN_HEADERS: Final = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "te",
     "trailer", "upgrade", "proxy-connection", "accept-encoding"}
)  # fmt: skip
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE: Final = re.compile(r"[\r\n\0]")
#: Response head limits: the status line, one header field, and how many fields.
MAX_LINE_SIZE: Final = 8190
MAX_FIELD_SIZE: Final = 16 * 1024
MAX_HEADERS: Final = 100
#: A redirect's body is read (so the connection is kept) only when it is declared this small.
_SMALL_REDIRECT_BODY: Final = 64 * 1024
_IDLE_EXPIRY: Final = 30.0
_LARGE_BODY: Final = 1024 * 1024
#: A page up to 2 x this is buffered without pausing the socket (each pause is 2 syscalls).
_READ_BUFSIZE: Final = 2**18
_DNS_TTL: Final = 30
#: Origins whose exemption is remembered (the allow list never changes for a client).
_MEMO_SIZE: Final = 4096


class _Target(NamedTuple):
    """A checked URL, parsed once (by yarl, aiohttp's own parser).

    A named tuple, not a frozen dataclass: as immutable, and made for a fraction of
    the cost (a frozen dataclass sets each field through `object.__setattr__`).
    """

    url: URL
    text: str  #: normalised, as reported in results
    host: str  #: ASCII (IDNA encoded), lower-case, IPv6 without brackets
    port: int
    https: bool

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.url.scheme, self.host, self.port


class _Hop(NamedTuple):
    status: int
    headers: Headers
    body: bytes
    received: int
    address: str
    location: str | None  #: where a redirect points, when it is to be followed


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
        max_connections: int = 1024,
    ) -> None:
        self._allowed = AllowedHosts(allowed_hosts)
        self._any_allowed = bool(self._allowed)
        self._exempt_memo: dict[tuple[str, int], bool] = {}
        self._user_agent = user_agent
        self._total_timeout = total_timeout
        self._max_bytes = max_bytes
        self._max_redirects = max_redirects
        self._lookup: Resolver = resolver or SystemResolver()
        self._ssl = ssl_context
        self._per_host = max_connections_per_host
        self._max_connections = max_connections
        # total: aiohttp's, per hop, set to what is left of ours; connect: the pool wait and
        # the connection together; sock_connect: the TCP and TLS handshakes of one attempt
        # (Happy Eyeballs starts the next address after 0.25 s); sock_read: silence.
        self._timeout = aiohttp.ClientTimeout(
            total=total_timeout,
            connect=connect_timeout * 2,
            sock_connect=connect_timeout,
            sock_read=read_timeout,
        )
        self._session: aiohttp.ClientSession | None = None

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
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _open_session(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running loop that will use it.
        connector = GuardedConnector(
            resolver=GuardedResolver(self._lookup, self._allowed),
            socket_factory=guarded_socket,
            limit=self._max_connections,
            limit_per_host=self._per_host,
            keepalive_timeout=_IDLE_EXPIRY,
            ttl_dns_cache=_DNS_TTL,
            dns_cache_max_size=4096,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers={
                "Accept": "*/*",
                "User-Agent": self._user_agent,
                "Accept-Encoding": ACCEPT_ENCODING,  # exactly what read_capped can bound
            },
            cookie_jar=aiohttp.DummyCookieJar(),  # no cookies kept between requests
            trust_env=False,  # no proxies, netrc or certificates from the environment
            timeout=self._timeout,
            auto_decompress=False,  # decoded by read_capped, under the cap
            read_bufsize=_READ_BUFSIZE,
            max_line_size=MAX_LINE_SIZE,
            max_field_size=MAX_FIELD_SIZE,
            max_headers=MAX_HEADERS,
            raise_for_status=False,
        )
        return self._session

    # get/post hand back request()'s coroutine: one coroutine per request, not two.
    def get(self, url: str, **options: Any) -> Awaitable[FetchResult]:
        """`request("GET", url, ...)`."""
        return self.request("GET", url, **options)

    def post(self, url: str, **options: Any) -> Awaitable[FetchResult]:
        """`request("POST", url, ...)`."""
        return self.request("POST", url, **options)

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
        started = time.monotonic()
        total = self._total_timeout if total_timeout is None else total_timeout
        cap = self._max_bytes if max_bytes is None else max_bytes
        target = _parse_url(url)
        if (method := method.upper()) not in _METHODS and not _TOKEN.fullmatch(method):
            raise ValueError(f"not an HTTP method: {method!r}")
        # lower-case name -> (name as given, value): the caller's, over the session's
        # defaults (Accept, User-Agent); Host, framing and Accept-Encoding are ours alone.
        extra: dict[str, tuple[str, str]] = {}
        if headers:
            for name, value in headers.items():
                if not _TOKEN.fullmatch(name) or _BAD_VALUE.search(value):
                    raise ConnectionFailed(f"invalid request header {name!r}", url=url)
                key = name.lower()
                if key not in _OWN_HEADERS:
                    extra[key] = (name, value.strip())
        if json is not None:
            content = jsonlib.dumps(json, separators=(",", ":"), ensure_ascii=False).encode()
            extra.setdefault("content-type", ("Content-Type", "application/json"))
        redirects: list[str] = []
        while True:
            # aiohttp's total timeout, per hop: what is left of ours
            timeouts = self._timeout
            if redirects or total != timeouts.total:
                left = total - (time.monotonic() - started)
                if left <= 0:
                    raise FetchTimeout(f"no complete answer within {total} s", url=url)
                timeouts = aiohttp.ClientTimeout(
                    total=left, connect=timeouts.connect, sock_connect=timeouts.sock_connect,
                    sock_read=timeouts.sock_read,
                )  # fmt: skip
            hop = await self._hop(method, target, extra, content, cap, follow_redirects, timeouts)
            if hop.location is None:
                break
            if len(redirects) == self._max_redirects:
                raise TooManyRedirects(f"more than {self._max_redirects} redirects", url=url)
            redirects.append(target.text)
            try:
                joined = target.url.join(URL(hop.location))
            except ValueError as exc:
                raise BadURL(f"redirect to an invalid URL: {hop.location!r}", url=url) from exc
            next_target = _parse_url(str(joined))
            if next_target.origin != target.origin:
                for name in _DROP_ON_NEW_ORIGIN:
                    extra.pop(name, None)
            if (hop.status == 303 and method != "HEAD") or (
                hop.status in {301, 302} and method == "POST"
            ):
                method, content = "GET", None
                for name in _BODY_HEADERS:
                    extra.pop(name, None)
            target = next_target
        # positional: a frozen dataclass's __init__ costs less so, once per request
        result = FetchResult(
            target.text,  # url
            hop.status,
            hop.headers,
            hop.body,
            time.monotonic() - started,  # elapsed
            hop.received,  # bytes_received
            tuple(redirects),
            hop.address,
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
        timeouts: aiohttp.ClientTimeout,
    ) -> _Hop:
        """One request to one URL, under the hop's guard; a followed redirect's body is skipped."""
        hop = Hop(self._any_allowed and self._exempt(target))  # exempt
        if not hop.exempt and (reason := blocked_port_reason(target.port)) is not None:
            raise BlockedAddress(f"refused by policy: {reason}", url=target.text)
        token = CURRENT_HOP.set(hop)
        try:
            response = await (self._session or self._open_session()).request(
                method,
                target.url,
                headers=list(headers.values()) if headers else None,
                timeout=timeouts,
                # aiohttp streams a large body from a file object (and warns about raw bytes)
                data=io.BytesIO(content) if content and len(content) > _LARGE_BODY else content,
                allow_redirects=False,
                ssl=self._ssl_context() if target.https else True,
            )
            try:
                status = response.status
                if status == 101:
                    raise ConnectionFailed("the server switched protocols", url=target.text)
                location = None
                if follow and status in REDIRECT_STATUSES and "Location" in response.headers:
                    location = _location(response, target.text)
                    await _skip_body(response, target.text)
                    body, received = b"", 0
                else:
                    arrived = read_arrived(response, max_bytes=max_bytes, url=target.text)
                    if arrived is None:
                        arrived = await read_capped(response, max_bytes=max_bytes, url=target.text)
                    body, received = arrived
            except BaseException:
                response.close()  # a response not read to its end: the connection goes
                raise
            headers_read = Headers.of_multidict(response.headers)
            # the connection this response came on (aiohttp keeps it after releasing it)
            address = getattr(response._protocol, "peer_address", "")
            return _Hop(status, headers_read, body, received, address, location)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _failure(exc, hop, target.text, timeouts) from exc
        except (BlockedAddress, DNSFailure) as exc:
            if exc.url:
                raise
            raise type(exc)(exc.detail, url=target.text) from exc  # from the resolver
        finally:
            CURRENT_HOP.reset(token)

    def _exempt(self, target: _Target) -> bool:
        """Whether the allow list exempts `target`'s host and port (remembered per origin)."""
        key = (target.host, target.port)
        exempt = self._exempt_memo.get(key)
        if exempt is None:
            if len(self._exempt_memo) >= _MEMO_SIZE:
                self._exempt_memo.clear()
            exempt = self._exempt_memo[key] = self._allowed.allows(*key)
        return exempt

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            # Built once and shared: loading the CA bundle costs ~20 ms. Certifi's CAs,
            # nothing from the environment (SSL_CERT_FILE and the like).
            self._ssl = ssl.create_default_context(cafile=certifi.where())
            self._ssl.set_alpn_protocols(["http/1.1"])
        return self._ssl


def _location(response: aiohttp.ClientResponse, url: str) -> str:
    """Where a redirect points; two different answers are an error, not a guess."""
    locations = set(response.headers.getall("Location"))
    if len(locations) > 1:
        raise ConnectionFailed("a redirect with two different Locations", url=url)
    return locations.pop()


async def _skip_body(response: aiohttp.ClientResponse, url: str) -> None:
    """Read a small redirect body so that its connection is kept; close on a large or bad one."""
    declared = response.content_length
    if declared is not None and declared <= _SMALL_REDIRECT_BODY:
        try:
            await read_capped(response, max_bytes=_SMALL_REDIRECT_BODY, url=url)
            return
        except (FetchError, aiohttp.ClientError):
            pass  # its body does not matter: the redirect is followed all the same
    response.close()


def _failure(exc: BaseException, hop: Hop, url: str, timeouts: aiohttp.ClientTimeout) -> FetchError:
    """The named failure for what aiohttp (or the socket factory) raised."""
    if hop.refused is not None:
        return BlockedAddress(f"connection refused by policy: {hop.refused}", url=url)
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        phase = "connect" if hop.connecting else "pool"
        return FetchTimeout(f"{phase} timeout: {detail}", url=url, phase=phase)
    if isinstance(exc, aiohttp.ServerTimeoutError):
        detail = f"read timeout: nothing for {timeouts.sock_read} s"
        return FetchTimeout(detail, url=url, phase="read")
    if isinstance(exc, TimeoutError):  # aiohttp's total: what was left of ours
        detail = f"no complete answer within {timeouts.total:.3g} s"
        return FetchTimeout(detail, url=url, phase="total")
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        return TLSFailure(detail, url=url)
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return DNSFailure(detail, url=url)
    if isinstance(exc, aiohttp.InvalidURL):
        return BadURL(detail, url=url)
    if isinstance(exc, aiohttp.ClientResponseError):  # the parser refused the response head
        return ConnectionFailed(f"invalid HTTP response: {exc.message}", url=url)
    return ConnectionFailed(detail, url=url)


@lru_cache(maxsize=4096)
def _parse_url(raw: str) -> _Target:
    """The URL checked and normalised (cached: the scraper asks for the same pages again)."""
    try:
        url = URL(raw)
    except (ValueError, TypeError) as exc:
        raise BadURL(f"not a valid URL: {exc}", url=str(raw)) from exc
    if url.scheme not in _SCHEMES:
        raise BadURL("only http and https URLs may be fetched", url=raw)
    host = url.raw_host
    if not host:
        raise BadURL("the URL has no host", url=raw)
    if url.raw_user or url.raw_password:
        raise BadURL("credentials in URLs are not allowed", url=raw)
    if url.explicit_port == 0:
        raise BadURL("port 0 is not a port", url=raw)
    if is_numeric_spelling(host):
        raise BadURL(f"{host!r} is an IP address in a non-canonical spelling", url=raw)
    url = url.with_fragment(None)
    if host.endswith(".") and parse_ip_literal(host[:-1]) is not None:
        host = host[:-1]  # `127.0.0.1.` is an address, not a name
        url = url.with_host(host)
    return _Target(url, str(url), host, url.port or 0, url.scheme == "https")
