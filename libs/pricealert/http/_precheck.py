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
- a port of a well-known non-HTTP service (`BLOCKED_PORTS`).

Hosts in `allowed_hosts` (PRICEALERT_FETCH_ALLOWED_HOSTS: `host` or `host:port`) skip
the address, name and port checks, as they do at fetch time.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

from pricealert.http._addresses import (
    AllowedHosts,
    blocked_reason,
    is_numeric_spelling,
    parse_ip_literal,
)

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}

#: Ports no web page or webhook is served on, where a request would speak HTTP to
#: another protocol (the cross-protocol requests the WHATWG Fetch standard's "bad port"
#: list refuses in browsers, for the same reason), and datastores and control planes
#: that answer without authentication.
BLOCKED_PORTS: Final = {
    # The Fetch standard's bad ports (https://fetch.spec.whatwg.org/#port-blocking).
    1: "tcpmux", 7: "echo", 9: "discard", 11: "systat", 13: "daytime", 15: "netstat",
    17: "qotd", 19: "chargen", 20: "FTP data", 21: "FTP", 22: "SSH", 23: "telnet",
    25: "SMTP", 37: "time", 42: "name", 43: "whois", 53: "DNS", 69: "TFTP", 77: "RJE",
    79: "finger", 87: "ttylink", 95: "supdup", 101: "hostname", 102: "ISO-TSAP",
    103: "gppitnp", 104: "ACR-NEMA", 109: "POP2", 110: "POP3", 111: "sunrpc",
    113: "ident", 115: "SFTP", 117: "UUCP path", 119: "NNTP", 123: "NTP",
    135: "RPC endpoint mapper", 137: "NetBIOS name", 139: "NetBIOS session", 143: "IMAP",
    161: "SNMP", 179: "BGP", 389: "LDAP", 427: "SLP", 465: "SMTP submission (TLS)",
    512: "rexec", 513: "rlogin", 514: "rsh", 515: "LPD", 526: "tempo", 530: "courier",
    531: "chat", 532: "netnews", 540: "UUCP", 548: "AFP", 554: "RTSP", 556: "remotefs",
    563: "NNTP (TLS)", 587: "SMTP submission", 601: "syslog", 636: "LDAP (TLS)",
    989: "FTP data (TLS)", 990: "FTP (TLS)", 993: "IMAP (TLS)", 995: "POP3 (TLS)",
    1719: "H.323 RAS", 1720: "H.323", 1723: "PPTP", 2049: "NFS", 3659: "Apple SASL",
    4045: "lockd", 4190: "ManageSieve", 5060: "SIP", 5061: "SIP (TLS)", 6000: "X11",
    6566: "SANE", 6665: "IRC", 6666: "IRC", 6667: "IRC", 6668: "IRC", 6669: "IRC",
    6679: "IRC (TLS)", 6697: "IRC (TLS)", 10080: "Amanda",
    # Datastores and control planes.
    2375: "Docker API", 2376: "Docker API (TLS)", 2379: "etcd", 2380: "etcd peer",
    3306: "MySQL", 5432: "PostgreSQL", 6379: "Redis", 9200: "Elasticsearch",
    10250: "kubelet", 11211: "memcached", 27017: "MongoDB",
}  # fmt: skip


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
    if address is not None:
        reason = blocked_reason(address)
        if reason is not None:
            return f"{host} is not a public address ({reason})"
    elif ":" in host or "%" in host:
        return f"{host!r} is not a valid host"
    elif host == "localhost" or host.endswith(".localhost"):
        return f"{host} always means this machine (loopback)"
    if port in BLOCKED_PORTS:
        return f"port {port} is {BLOCKED_PORTS[port]}, not a web server"
    return None
