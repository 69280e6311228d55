"""The guarded client refuses every way of reaching an internal address, on every hop."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import pytest

from pricealert.http import (
    BadURL,
    BlockedAddress,
    DNSFailure,
    FetchError,
    GuardedClient,
    IPAddress,
    _guard,
    _resolver,
    blocked_reason,
)
from pricealert.http._guard import CURRENT_HOP, AddressRefused, Hop, guarded_socket
from pricealert_ops.devtools.shop import Page, Shop, StaticResolver

REFUSED_URLS = [
    "http://127.0.0.1/",
    "http://127.0.0.2:8080/",
    "http://127.0.0.1./",
    "http://[::1]/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://169.254.1.1/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.170.2/v2/credentials",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "https://169.254.169.254/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::127.0.0.1]/",
    "http://[2002:7f00:1::]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
    "http://192.0.0.192/",
]

BAD_URLS = [
    "http://2130706433/",
    "http://0x7f.1/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://0x7f.0.0.1:8080/",
    "http://017700000001/",
    "ftp://shop.example/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_INFO",
    "http://user:secret@shop.example/",
    "http://:secret@shop.example/",
    "/relative/path",
    "http:///no-host",
    "not a url at all",
    "http://shop.example:0/",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
async def test_internal_address_is_refused_before_connecting(
    closed_client: GuardedClient, url: str
) -> None:
    with pytest.raises(BlockedAddress) as refused:
        await closed_client.get(url)
    assert refused.value.code == "blocked_address"


@pytest.mark.parametrize("url", BAD_URLS)
async def test_numeric_spellings_other_schemes_and_credentials_are_bad_urls(
    closed_client: GuardedClient, url: str
) -> None:
    with pytest.raises(BadURL) as refused:
        await closed_client.get(url)
    assert refused.value.code == "bad_url"


async def test_running_local_shop_is_refused_without_an_exemption(
    closed_client: GuardedClient, shop: Shop
) -> None:
    shop.serve("/p", Page.html("secret"))
    with pytest.raises(BlockedAddress):
        await closed_client.get(shop.url("/p"))
    assert shop.requests == []


async def test_localhost_name_is_refused_because_it_resolves_to_loopback(
    closed_client: GuardedClient, shop: Shop
) -> None:
    port = shop.netloc().rsplit(":", 1)[1]
    with pytest.raises(BlockedAddress, match="loopback"):
        await closed_client.get(f"http://localhost:{port}/p")
    assert shop.requests == []


async def test_localhost_is_reachable_once_named_in_the_allowed_hosts(shop: Shop) -> None:
    port = shop.netloc().rsplit(":", 1)[1]
    shop.serve("/p", Page.html("ok"))
    async with GuardedClient(allowed_hosts=[f"localhost:{port}"]) as client:
        result = await client.get(f"http://localhost:{port}/p")
        with pytest.raises(BlockedAddress):  # the exemption is for the name, not the address
            await client.get(shop.url("/p"))
    assert result.body == b"ok"
    assert shop.requests[0].headers["host"] == f"localhost:{port}"


async def test_allowed_host_with_port_does_not_open_other_ports(shop: Shop) -> None:
    async with Shop() as other:
        await other.listen("127.0.0.1")
        other.serve("/p", Page.html("other"))
        async with GuardedClient(allowed_hosts=[shop.netloc()]) as client:
            with pytest.raises(BlockedAddress):
                await client.get(other.url("/p"))
        async with GuardedClient(allowed_hosts=["127.0.0.1"]) as client:
            assert (await client.get(other.url("/p"))).body == b"other"
        assert len(other.requests) == 1


@pytest.mark.parametrize(
    ("location", "error"),
    [
        ("http://169.254.169.254/latest/meta-data/", BlockedAddress),
        ("http://[::ffff:169.254.169.254]/", BlockedAddress),
        ("http://10.0.0.1/admin", BlockedAddress),
        ("http://localhost/", BlockedAddress),
        ("http://2130706433/", BadURL),
        ("file:///etc/passwd", BadURL),
        ("http://admin:pw@example.com/", BadURL),
    ],
)
async def test_redirect_from_an_allowed_host_to_a_refused_one_is_refused(
    client: GuardedClient, shop: Shop, location: str, error: type[FetchError]
) -> None:
    shop.serve("/go", Page.redirect(location))
    with pytest.raises(error):
        await client.get(shop.url("/go"))
    assert [r.path for r in shop.requests] == ["/go"]


async def test_redirect_to_another_port_of_an_allowed_host_is_refused(
    client: GuardedClient, shop: Shop
) -> None:
    async with Shop() as other:
        await other.listen("127.0.0.1")
        shop.serve("/go", Page.redirect(other.url("/inside")))
        with pytest.raises(BlockedAddress):
            await client.get(shop.url("/go"))
        assert other.requests == []


async def test_name_with_any_refused_answer_is_refused() -> None:
    resolver = StaticResolver({"mixed.test": ["93.184.216.34", "127.0.0.1"]})
    async with GuardedClient(resolver=resolver) as client:
        with pytest.raises(BlockedAddress, match=r"mixed\.test is 127\.0\.0\.1: loopback"):
            await client.get("http://mixed.test/")


async def test_request_goes_to_the_checked_address_with_the_name_in_the_host_header() -> None:
    resolver = StaticResolver({"shop.test": ["127.0.0.2"]})
    async with Shop() as shop:
        origin = await shop.listen("127.0.0.2")
        port = origin.rsplit(":", 1)[1]
        shop.serve("/p", Page.html("pinned"))
        async with GuardedClient(allowed_hosts=["shop.test"], resolver=resolver) as client:
            result = await client.get(f"http://shop.test:{port}/p")
        assert result.body == b"pinned"
        assert result.address == "127.0.0.2"
        assert result.url == f"http://shop.test:{port}/p"
        assert shop.requests[0].headers["host"] == f"shop.test:{port}"
        assert shop.requests[0].server == f"127.0.0.2:{port}"
        assert resolver.lookups == {"shop.test": 1}


async def test_next_checked_address_is_tried_when_the_first_refuses_connections() -> None:
    async with Shop() as shop:
        origin = await shop.listen("127.0.0.2")
        port = origin.rsplit(":", 1)[1]
        shop.serve("/p", Page.html("second"))
        resolver = StaticResolver({"shop.test": ["127.0.0.3", "127.0.0.2"]})
        async with GuardedClient(allowed_hosts=["shop.test"], resolver=resolver) as client:
            result = await client.get(f"http://shop.test:{port}/p")
        assert (result.address, result.body) == ("127.0.0.2", b"second")


async def test_unknown_name_is_a_dns_error(closed_client: GuardedClient) -> None:
    # A label over 63 characters fails in the IDNA encoder, before any query is sent.
    with pytest.raises(DNSFailure) as failed:
        await closed_client.get(f"http://{'a' * 64}.example/")
    assert failed.value.code == "dns_error"


class RebindingResolver:
    """A name whose first answer is one address and every later answer another."""

    def __init__(self, first: str, then: str) -> None:
        self.answers = [ipaddress.ip_address(first), ipaddress.ip_address(then)]
        self.lookups = 0

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        self.lookups += 1
        return [self.answers[min(self.lookups, 2) - 1]]


async def test_a_rebinding_name_is_connected_to_the_answer_that_was_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Nothing public may be connected to from a test, so 127.0.0.2 plays the public
    # address the name first answers, and 127.0.0.3 the internal one it turns to.
    def policy(address: IPAddress) -> str | None:
        return None if str(address) == "127.0.0.2" else blocked_reason(address)

    monkeypatch.setattr(_resolver, "blocked_reason", policy)
    monkeypatch.setattr(_guard, "blocked_reason", policy)
    reached_internal: list[str] = []

    async def internal(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reached_internal.append("connection")
        writer.close()

    async with Shop() as public:
        port = int((await public.listen("127.0.0.2")).rsplit(":", 1)[1])
        public.serve("/p", Page.html("public"))
        internal_server = await asyncio.start_server(internal, "127.0.0.3", port)
        try:
            resolver = RebindingResolver("127.0.0.2", then="127.0.0.3")
            async with GuardedClient(resolver=resolver) as client:
                results = [await client.get(f"http://rebind.test:{port}/p") for _ in range(3)]
            # One lookup, checked; aiohttp connected to its answer and never asked again.
            assert [(r.body, r.address) for r in results] == [(b"public", "127.0.0.2")] * 3
            assert resolver.lookups == 1
            # A fresh lookup that turns internal is refused before any connection.
            async with GuardedClient(resolver=resolver) as client:
                with pytest.raises(BlockedAddress, match=r"127\.0\.0\.3: loopback"):
                    await client.get(f"http://rebind.test:{port}/p")
        finally:
            internal_server.close()
            await internal_server.wait_closed()
    assert reached_internal == []


def _addr_info(host: str, port: int = 80) -> tuple[int, int, int, str, tuple[object, ...]]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockaddr: tuple[object, ...] = (host, port, 0, 0) if ":" in host else (host, port)
    return family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::ffff:7f00:1"])
def test_the_socket_factory_refuses_a_blocked_address_whatever_resolved_it(address: str) -> None:
    hop = Hop(exempt=False)
    token = CURRENT_HOP.set(hop)
    try:
        with pytest.raises(AddressRefused):
            guarded_socket(_addr_info(address))
    finally:
        CURRENT_HOP.reset(token)
    assert hop.refused is not None
    assert address in hop.refused
    with pytest.raises(AddressRefused):  # outside any request: no exemption either
        guarded_socket(_addr_info(address))


def test_the_socket_factory_makes_sockets_for_public_and_exempt_addresses() -> None:
    with guarded_socket(_addr_info("93.184.216.34")) as made:  # made, never connected
        assert made.family == socket.AF_INET
    token = CURRENT_HOP.set(Hop(exempt=True))
    try:
        with guarded_socket(_addr_info("127.0.0.1")) as made:
            assert made.type == socket.SOCK_STREAM
    finally:
        CURRENT_HOP.reset(token)


async def test_an_allowed_address_is_reachable_by_its_literal_only(shop: Shop) -> None:
    port = shop.netloc().rsplit(":", 1)[1]
    shop.serve("/p", Page.html("ok"))
    async with GuardedClient(allowed_hosts=["127.0.0.1"]) as client:
        assert (await client.get(f"http://127.0.0.1:{port}/p")).address == "127.0.0.1"
        with pytest.raises(BlockedAddress):  # the name resolving to it is not exempt
            await client.get(f"http://localhost:{port}/p")


@pytest.mark.parametrize(("port", "service"), [(6379, "Redis"), (22, "SSH"), (5432, "PostgreSQL")])
async def test_a_port_of_a_non_http_service_is_refused_before_any_lookup(
    port: int, service: str
) -> None:
    resolver = StaticResolver({"public.test": ["93.184.216.34"]})
    async with GuardedClient(resolver=resolver) as client:
        with pytest.raises(BlockedAddress, match=f"port {port} is {service}"):
            await client.get(f"http://public.test:{port}/")
    assert resolver.lookups == {}


async def test_a_redirect_to_a_non_http_port_is_refused_on_that_hop() -> None:
    async with Shop() as shop:
        await shop.listen()
        shop.serve("/go", Page(status=302, headers={"Location": "http://mail.test:25/"}))
        resolver = StaticResolver({"mail.test": ["93.184.216.34"]})
        async with GuardedClient(allowed_hosts=[shop.netloc()], resolver=resolver) as client:
            with pytest.raises(BlockedAddress, match="port 25 is SMTP"):
                await client.get(shop.url("/go"))
        assert resolver.lookups == {}
        assert len(shop.requests_to("/go")) == 1


async def test_an_allowlisted_host_may_use_any_port() -> None:
    resolver = StaticResolver({"redis.test": ["127.0.0.1"]})
    async with GuardedClient(allowed_hosts=["redis.test:6379"], resolver=resolver) as client:
        with pytest.raises(FetchError) as caught:
            await client.get("http://redis.test:6379/")  # Redis is no web server, but tried
    assert not isinstance(caught.value, BlockedAddress)
    assert resolver.lookups == {"redis.test": 1}
