"""The guard's static check agrees with the guard: what it refuses, the client refuses too."""

from __future__ import annotations

import pytest

from pricealert.http import BadURL, BlockedAddress, GuardedClient, refusal_reason
from pricealert.http._addresses import BLOCKED_PORTS
from tests.http.test_ssrf import BAD_URLS, REFUSED_URLS


@pytest.mark.parametrize("url", REFUSED_URLS + BAD_URLS)
async def test_every_url_the_client_refuses_unresolved_is_refused_statically(
    closed_client: GuardedClient, url: str
) -> None:
    reason = refusal_reason(url)
    assert reason is not None, url
    with pytest.raises((BadURL, BlockedAddress)):
        await closed_client.get(url)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/", "169.254.169.254 is not a public address (cloud metadata)"),
        ("http://10.0.0.1/", "10.0.0.1 is not a public address (private)"),
        ("http://2130706433/", "'2130706433' is an IP address in a non-canonical spelling"),
        ("http://0x7f.1/", "'0x7f.1' is an IP address in a non-canonical spelling"),
        ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1 is not a public address (IPv4-mapped)"),
        ("http://localhost:8080/x", "localhost always means this machine (loopback)"),
        ("http://api.localhost/", "api.localhost always means this machine (loopback)"),
        ("http://shop.example:6379/", "port 6379 is Redis, not a web server"),
        ("https://shop.example:25/", "port 25 is SMTP, not a web server"),
        ("http://shop.example:99999/", "not a valid URL: Port out of range 0-65535"),
    ],
)
def test_the_reason_names_what_is_wrong(url: str, reason: str) -> None:
    assert refusal_reason(url) == reason


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example.jp/item/123",
        "http://shop.example:8080/p?id=1",
        "https://8.8.8.8/",
        "https://[2606:4700::1111]/",
        "https://internal.example/",  # a name: resolved and checked at fetch time, not here
    ],
)
def test_public_literals_and_any_name_pass_without_a_lookup(url: str) -> None:
    assert refusal_reason(url) is None


def test_allowed_hosts_exempt_addresses_names_and_ports_as_at_fetch_time() -> None:
    assert refusal_reason("http://127.0.0.1:8000/", ["127.0.0.1"]) is None
    assert refusal_reason("http://127.0.0.1:8000/", ["127.0.0.1:8000"]) is None
    assert refusal_reason("http://127.0.0.1:9000/", ["127.0.0.1:8000"]) is not None
    assert refusal_reason("http://localhost:6379/", ["localhost:6379"]) is None
    # The exemption is for the host as written: never for another spelling of it.
    assert refusal_reason("http://2130706433/", ["2130706433"]) is not None


def test_the_port_list_keeps_the_web_ports_open() -> None:
    assert not {80, 443, 8000, 8080, 8443} & BLOCKED_PORTS.keys()
