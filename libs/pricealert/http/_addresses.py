"""Which addresses the guarded client may connect to, and which hosts are exempt.

The policy is an explicit table (IANA special-purpose registries plus the cloud
metadata endpoints) rather than `ipaddress.is_global` alone, because what
`is_global` says differs between Python releases (3.11 calls 192.0.0.192,
multicast, 6to4 and NAT64 addresses "global"). `not is_global` is still
checked as a catch-all.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Final, TypeVar

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Cloud metadata endpoints (AWS/GCP/Azure, ECS task metadata, AWS over IPv6).
METADATA_ADDRESSES: Final = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254")
)

_Network = TypeVar("_Network", ipaddress.IPv4Network, ipaddress.IPv6Network)


def _refused(
    network: Callable[[str], _Network], table: Iterable[tuple[str, str]]
) -> tuple[tuple[_Network, str], ...]:
    """A table of refused networks, each with the reason given for it."""
    return tuple((network(net), reason) for net, reason in table)


_V4_BLOCKED: Final = _refused(
    ipaddress.IPv4Network,
    (
        ("0.0.0.0/8", "unspecified"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "carrier-grade NAT"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "IETF protocol assignment"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "6to4 relay"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
    ),
)

_V6_BLOCKED: Final = _refused(
    ipaddress.IPv6Network,
    (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        # IPv4-compatible (::a.b.c.d, also :: and ::1) and IPv4-mapped (::ffff:a.b.c.d):
        # never a legitimate answer for a shop, and a classic way to spell 127.0.0.1.
        ("::/96", "IPv4-compatible"),
        ("::ffff:0:0/96", "IPv4-mapped"),
        ("64:ff9b:1::/48", "local NAT64"),
        ("100::/64", "discard"),
        # Teredo (2001::/32) lives here: its embedded client address is obfuscated, refuse all.
        ("2001::/23", "IETF protocol assignment"),
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation"),
        ("5f00::/16", "segment routing"),
        ("fc00::/7", "unique-local"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    ),
)

_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
_NUMERIC_LABEL: Final = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")


@lru_cache(maxsize=8192)
def blocked_reason(address: IPAddress) -> str | None:
    """Why `address` must not be connected to, or None when it is a public address."""
    if address in METADATA_ADDRESSES:
        return "cloud metadata"
    if isinstance(address, ipaddress.IPv4Address):
        for network, reason in _V4_BLOCKED:
            if address in network:
                return reason
    else:
        for network6, reason in _V6_BLOCKED:
            if address in network6:
                return reason
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            inner = blocked_reason(embedded)
            if inner is not None:
                return f"{inner} (embedded in IPv6)"
    if not address.is_global:
        return "not globally routable"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    # 6to4 and NAT64 carry a real IPv4 destination; check it like any other.
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


@lru_cache(maxsize=8192)
def parse_ip_literal(host: str) -> IPAddress | None:
    """The address when `host` is a canonical IP literal, else None (then it is a name)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_numeric_spelling(host: str) -> bool:
    """True when `host` looks like an IPv4 address in a non-canonical spelling.

    URL parsers and `inet_aton` read `2130706433`, `0x7f.1`, `0177.0.0.1` and
    `127.1` as 127.0.0.1; the WHATWG URL standard treats any host whose last
    label is numeric as IPv4. Shops never use such hosts, so they are refused
    whatever they would point to.
    """
    labels = host.lower().removesuffix(".").split(".")
    if not labels or not _NUMERIC_LABEL.match(labels[-1]):
        return False
    return parse_ip_literal(host.removesuffix(".")) is None


class AllowedHosts:
    """The exemption list: entries `host` (any port) or `host:port` (that port only)."""

    __slots__ = ("_any_port", "_with_port")

    def __init__(self, entries: Iterable[str]) -> None:
        self._any_port: set[str] = set()
        self._with_port: set[tuple[str, int]] = set()
        for raw in entries:
            host, port = _split_entry(raw.strip())
            if not host:
                continue
            if port is None:
                self._any_port.add(host)
            else:
                self._with_port.add((host, port))

    def __bool__(self) -> bool:
        return bool(self._any_port or self._with_port)

    def allows(self, host: str, port: int) -> bool:
        """Whether `host` on `port` is exempt from the address policy."""
        host = normalise_host(host)
        return host in self._any_port or (host, port) in self._with_port


def normalise_host(host: str) -> str:
    """Lower-case, without a trailing dot or IPv6 brackets."""
    return host.strip().lower().removesuffix(".").removeprefix("[").removesuffix("]")


def _split_entry(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):  # [v6] or [v6]:port
        host, _, rest = entry[1:].partition("]")
        port = rest.removeprefix(":")
        return normalise_host(host), _port(entry, port) if port else None
    if entry.count(":") == 1:
        host, port = entry.split(":")
        return normalise_host(host), _port(entry, port)
    return normalise_host(entry), None  # a name, an IPv4 address or a bare IPv6 address


def _port(entry: str, text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"allowed host entry {entry!r}: port must be 1-65535")
    return int(text)


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


def blocked_port_reason(port: int) -> str | None:
    """Why `port` is never fetched (a non-HTTP service's), or None."""
    service = BLOCKED_PORTS.get(port)
    return None if service is None else f"port {port} is {service}, not a web server"
