"""The one guarded outbound HTTP client: every request PriceAlert sends goes through it.

Product pages (scraper), webhooks and Slack (notifier) are user-supplied URLs,
so they are treated as hostile:

- only `http` and `https`; no credentials in the URL; IPv4 addresses only in
  dotted-quad form (`http://2130706433/`, `http://0x7f.1/`,
  `http://0177.0.0.1/`, `http://127.1/` are refused as `bad_url` before any lookup);
- names are resolved through aiohttp's resolver hook (`getaddrinfo` in a
  worker thread; answers cached 30 s), and a name is refused if *any* answer
  is private, loopback,
  link-local, carrier-grade NAT (100.64/10), unique-local (fc00::/7), multicast,
  reserved, unspecified, documentation/benchmark space, a cloud metadata address
  (169.254.169.254, 169.254.170.2, fd00:ec2::254), IPv4-mapped or -compatible
  IPv6 (`::ffff:127.0.0.1`), Teredo, or 6to4/NAT64 embedding a refused IPv4;
- the exact address each connection goes to is checked again as its socket is
  made (aiohttp's `socket_factory`): IP-literal URLs, every Happy Eyeballs
  attempt, and anything a resolver answered; aiohttp connects to the answers it
  was given with no second lookup, so a rebinding name cannot slip through (see
  *Pinning*); every redirect hop (at most 5, followed by the client itself) is
  checked the same way;
- hosts listed in `PriceAlertSettings.fetch_allowed_hosts` (`host` = any port,
  `host:port` = that port only, names or addresses; empty by default) skip the
  address check, so tests and the demo shop on 127.0.0.1 work while production
  stays closed;
- connect, read and total timeouts; the body is streamed and cut at a size
  cap (5 MB by default) counted on the wire and again after decoding, so a
  gzip, deflate or brotli bomb stops at the cap (the client asks only for
  those codings, which are decoded a bounded piece at a time);
- response heads are limited (8 190-byte status line, 16 KiB per field, 100
  fields); a `101 Switching Protocols` is a failure; a redirect naming two
  different `Location`s is a failure, one without `Location` is the answer;
- nothing is taken from the environment (no proxies, netrc or SSL_CERT_FILE;
  certificates are checked against certifi's CAs), no cookies are kept.

Pinning: the connection is opened to an address the policy checked (by the
resolver, and again by the socket factory as the socket is made), the original
`host[:port]` goes in the `Host` header, and for https the name is the
`server_hostname`, which sets both the TLS SNI and the name the certificate is
verified against.

Transport: aiohttp (`_guard` holds what it needs of us: the socket factory, a
connector and its protocol). Connections are kept alive per (scheme, name,
port), so one verified for one name is never reused for another; at most
`max_connections_per_host` per name and `max_connections` in all (more
requests wait, up to the connect timeout); idle ones expire after 30 s. A
pooled connection with anything waiting on it (a response nobody asked for)
is closed, never read as the next request's answer. A connection the server
dropped while idle is retried once for idempotent methods; a connect that fails
or times out on one address goes on to the name's next checked address.
Timeouts: connect (one attempt's TCP and TLS), pool (waiting for a free
connection), read (silence between bytes) and the total per request, named by
`FetchTimeout.phase`.

Failures, all `pricealert.errors.PriceAlertError` subclasses with a stable `code`:

    FetchError                  "fetch_error"   base of every outbound failure
    ├── BadURL                  "bad_url"            not http(s), credentials, numeric IP spelling
    ├── BlockedAddress          "blocked_address"    the name is or resolves to a refused address
    ├── DNSFailure              "dns_error"          the name did not resolve
    ├── FetchTimeout            "timeout"            `phase`: connect, read, pool or total
    ├── ConnectionFailed        "connection_error"   refused, reset, truncated, broken HTTP, 101
    ├── TLSFailure              "tls_error"          handshake or certificate failure
    ├── TooLarge                "too_large"          body past the cap (wire or decompressed)
    ├── TooManyRedirects        "too_many_redirects" more than `max_redirects` hops
    ├── DecodingFailed          "decoding_error"     corrupt compressed body, unrequested coding
    └── HTTPStatusError         "http_status"        non-2xx with `raise_for_status=True`

Use::

    async with GuardedClient.from_settings(settings) as client:
        result = await client.get(url, headers={"If-None-Match": etag})
        await client.post(hook, json=payload, follow_redirects=False, raise_for_status=True)
"""

from pricealert.http._addresses import (
    AllowedHosts,
    IPAddress,
    blocked_reason,
    is_numeric_spelling,
)
from pricealert.http._client import (
    DEFAULT_MAX_BYTES,
    DEFAULT_USER_AGENT,
    REDIRECT_STATUSES,
    GuardedClient,
)
from pricealert.http._errors import (
    BadURL,
    BlockedAddress,
    ConnectionFailed,
    DecodingFailed,
    DNSFailure,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    TLSFailure,
    TooLarge,
    TooManyRedirects,
)
from pricealert.http._precheck import refusal_reason as refusal_reason
from pricealert.http._resolver import Resolver, SystemResolver
from pricealert.http._result import FetchResult, Headers

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_USER_AGENT",
    "REDIRECT_STATUSES",
    "AllowedHosts",
    "BadURL",
    "BlockedAddress",
    "ConnectionFailed",
    "DNSFailure",
    "DecodingFailed",
    "FetchError",
    "FetchResult",
    "FetchTimeout",
    "GuardedClient",
    "HTTPStatusError",
    "Headers",
    "IPAddress",
    "Resolver",
    "SystemResolver",
    "TLSFailure",
    "TooLarge",
    "TooManyRedirects",
    "blocked_reason",
    "is_numeric_spelling",
]
