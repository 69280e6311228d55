"""The address policy as pure functions: which addresses and spellings are refused."""

from __future__ import annotations

import ipaddress

import pytest

from pricealert.http import AllowedHosts, blocked_reason, is_numeric_spelling

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("::1", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.0.1", "private"),
    ("169.254.1.1", "link-local"),
    ("fe80::1", "link-local"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.254", "carrier-grade NAT"),
    ("fc00::1", "unique-local"),
    ("fd12:3456::1", "unique-local"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("::", "unspecified"),
    ("169.254.169.254", "cloud metadata"),
    ("169.254.170.2", "cloud metadata"),
    ("fd00:ec2::254", "cloud metadata"),
    ("192.0.0.192", "IETF protocol assignment"),
    ("192.0.2.1", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("::ffff:127.0.0.1", "IPv4-mapped"),
    ("::ffff:8.8.8.8", "IPv4-mapped"),
    ("::127.0.0.1", "IPv4-compatible"),
    ("2002:7f00:1::", "loopback (embedded in IPv6)"),
    ("2002:a9fe:a9fe::1", "cloud metadata (embedded in IPv6)"),
    ("64:ff9b::7f00:1", "loopback (embedded in IPv6)"),
    ("64:ff9b::a00:1", "private (embedded in IPv6)"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "IETF protocol assignment"),  # Teredo
    ("2001:db8::1", "documentation"),
    ("fec0::1", "site-local"),
]

PUBLIC = [
    "93.184.216.34",
    "8.8.8.8",
    "1.1.1.1",
    "2606:4700::1111",
    "2002:5db8:d822::",
    "64:ff9b::808:808",
]


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_refused_address_is_named_with_its_reason(address: str, reason: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", PUBLIC)
def test_public_address_is_allowed(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "host", ["2130706433", "0x7f.1", "0x7f000001", "0177.0.0.1", "127.1", "127.0.1", "017700000001",
             "0x7F.0.0.1", "8.8.2056", "1.2.3.4.5", "foo.123", "127.0.0.1.1"],
)  # fmt: skip
def test_numeric_ip_spellings_are_recognised(host: str) -> None:
    assert is_numeric_spelling(host)


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.0.0.1.", "8.8.8.8", "shop.example", "123.example", "0x7f.example", "::1"],
)
def test_names_and_canonical_addresses_are_not_numeric_spellings(host: str) -> None:
    assert not is_numeric_spelling(host)


def test_allowed_host_without_port_allows_every_port() -> None:
    allowed = AllowedHosts(["Shop.Test", "127.0.0.1"])
    assert allowed.allows("shop.test", 80)
    assert allowed.allows("SHOP.test.", 8443)
    assert allowed.allows("127.0.0.1", 1234)
    assert not allowed.allows("other.test", 80)


def test_allowed_host_with_port_allows_only_that_port() -> None:
    allowed = AllowedHosts(["127.0.0.1:8080", "[::1]:9000", " "])
    assert allowed.allows("127.0.0.1", 8080)
    assert not allowed.allows("127.0.0.1", 8081)
    assert allowed.allows("::1", 9000)
    assert not allowed.allows("::1", 80)


def test_empty_allow_list_allows_nothing() -> None:
    allowed = AllowedHosts([])
    assert not allowed
    assert not allowed.allows("127.0.0.1", 80)


def test_allowed_host_with_a_bad_port_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="port must be 1-65535"):
        AllowedHosts(["shop.test:http"])
