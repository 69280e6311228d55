"""The one guarded outbound HTTP client: every request PriceAlert sends goes through it.

Product pages (scraper), webhooks and Slack (notifier) are user-supplied URLs,
so they are treated as hostile:

- only `http` and `https`; no credentials in the URL; IPv4 addresses only in
  dotted-quad form (`http://2130706433/`, `http://0x7f.1/`,
  `http://0177.0.0.1/`, `http://127.1/` are refused as `bad_url` before any lookup);
- the client resolves the name itself (`getaddrinfo` in a worker thread, answers
  cached 30 s) and refuses the request if *any* answer is private, loopback,
  link-local, carrier-grade NAT (100.64/10), unique-local (fc00::/7), multicast,
  reserved, unspecified, documentation/benchmark space, a cloud metadata address
  (169.254.169.254, 169.254.170.2, fd00:ec2::254), IPv4-mapped or -compatible
  IPv6 (`::ffff:127.0.0.1`), Teredo, or 6to4/NAT64 embedding a refused IPv4;
- it then connects to exactly the address it checked, never looking the name
  up again (see *Pinning*); every redirect hop (at most 5, followed by the
  client itself) is checked the same way;
- hosts listed in `PriceAlertSettings.fetch_allowed_hosts` (`host` = any port,
  `host:port` = that port only; empty by default) skip the address check, so
  tests and the demo shop on 127.0.0.1 work while production stays closed;
- connect, read and total timeouts; the body is streamed and cut at a size
  cap (5 MB by default) counted on the wire and again after decompression, so
  a gzip bomb stops at the cap (the client asks only for gzip/deflate and
  inflates them itself, bounded);
- nothing is taken from the environment (no proxies, netrc or SSL_CERT_FILE;
  certificates are checked against certifi's CAs), no cookies are kept.

Pinning: the connection is opened to exactly the checked IP
(`loop.create_connection` with an IP literal: no second lookup), the original
`host[:port]` goes in the `Host` header, and for https the name is the
`server_hostname`, which sets both the TLS SNI and the name the certificate is
verified against.

Transport: a small HTTP/1.1 client of our own (`_connection`, `_pool`): an
`asyncio.Protocol` per connection with `httptools` (llhttp, C) parsing the
response, the size cap and decompression applied in the protocol's callbacks.
Connections are kept alive per (scheme, name, address, port), so one verified
for one name is never reused for another; at most `max_connections_per_host`
per destination (more requests wait, up to the pool timeout), idle ones expire
after 30 s, at most `max_hosts` destinations (least recently used go first).
A connection is reused only after a response read to its end with no error, no
`Connection: close` and nothing after it; HEAD responses and redirects whose
body is skipped close it. 1xx answers are skipped; a 101 is a failure.
Timeouts: connect (TCP and TLS), pool (waiting for a free connection), write
(a request body the server does not take), read (silence between bytes) and the
total per request, named by `FetchTimeout.phase`.

Failures, all `pricealert.errors.PriceAlertError` subclasses with a stable `code`:

    FetchError                  "fetch_error"   base of every outbound failure
    ├── BadURL                  "bad_url"            not http(s), credentials, numeric IP spelling
    ├── BlockedAddress          "blocked_address"    the name is or resolves to a refused address
    ├── DNSFailure              "dns_error"          the name did not resolve
    ├── FetchTimeout            "timeout"            `phase`: connect, read, write, pool or total
    ├── ConnectionFailed        "connection_error"   refused, reset, truncated, broken HTTP
    ├── TLSFailure              "tls_error"          handshake or certificate failure
    ├── TooLarge                "too_large"          body past the cap (wire or decompressed)
    ├── TooManyRedirects        "too_many_redirects" more than `max_redirects` hops
    ├── DecodingFailed          "decoding_error"     corrupt/truncated gzip, unrequested coding
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
    FetchResult,
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
from pricealert.http._headers import Headers
from pricealert.http._precheck import refusal_reason as refusal_reason
from pricealert.http._resolver import CachingResolver, Resolver

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_USER_AGENT",
    "REDIRECT_STATUSES",
    "AllowedHosts",
    "BadURL",
    "BlockedAddress",
    "CachingResolver",
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
    "TLSFailure",
    "TooLarge",
    "TooManyRedirects",
    "blocked_reason",
    "is_numeric_spelling",
]
