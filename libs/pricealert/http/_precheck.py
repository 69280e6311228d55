"""The guard's static check: what it can tell about a URL without a network.

`refusal_reason(url, allowed_hosts)` says why the guarded client would refuse `url`
whatever the name resolves to, or None when only the fetch itself can tell. It looks up
no name: a host name is resolved and its addresses checked at fetch time, every time.
It is what the API applies when a product, webhook or Slack URL is created, so a URL
that can never be fetched is refused then with the reason, instead of being accepted
and failing later; it is the same policy as the client's (`_addresses`), applied to
what the URL spells:

- only http and https, no credentials, a host, a port in 1-65535;
- no IPv4 address in a non-canonical spelling (`http://2130706433/`, `http://0x7f.1/`);
- an IP literal is refused when the client would refuse to connect to it (private,
  loopback, link-local, metadata, IPv4-mapped or -compatible IPv6, ...);
- `localhost` and `*.localhost` always mean loopback (RFC 6761);
- a port of a well-known non-HTTP service (`_addresses.BLOCKED_PORTS`, which the client
  refuses on every hop too).

Hosts in `allowed_hosts` (PRICEALERT_FETCH_ALLOWED_HOSTS: `host` or `host:port`) skip
the address, name and port checks, as they do at fetch time.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

from pricealert.http._addresses import (
    AllowedHosts,
    blocked_port_reason,
    blocked_reason,
    is_numeric_spelling,
    parse_ip_literal,
)

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def refusal_reason(url: str, allowed_hosts: Iterable[str] = ()) -> str | None:
    """Why the guarded client would refuse `url` whatever DNS says, or None. No lookups."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        return f"not a valid URL: {exc}"
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        return "only http and https URLs may be fetched"
    if parts.username is not None or parts.password is not None:
        return "credentials in URLs are not allowed"
    host = (parts.hostname or "").removesuffix(".")
    if not host:
        return "the URL has no host"
    if port == 0:
        return "port 0 is not a port"
    if is_numeric_spelling(host):
        return f"{host!r} is an IP address in a non-canonical spelling"
    port = port or _DEFAULT_PORTS[scheme]
    allowed = AllowedHosts(allowed_hosts)
    if allowed and allowed.allows(host, port):
        return None
    address = parse_ip_literal(host)
    if address is None:
        if ":" in host or "%" in host:
            return f"{host!r} is not a valid host"
        if host == "localhost" or host.endswith(".localhost"):
            return f"{host} always means this machine (loopback)"
    elif (reason := blocked_reason(address)) is not None:
        return f"{host} is not a public address ({reason})"
    return blocked_port_reason(port)
