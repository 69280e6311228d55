"""The guarded client's behaviour against a real local shop: bodies, limits, redirects, errors."""

from __future__ import annotations

import asyncio
import gzip
import socket
import zlib
from collections.abc import Iterator

import brotli
import pytest

from pricealert.http import (
    ConnectionFailed,
    DecodingFailed,
    FetchTimeout,
    GuardedClient,
    HTTPStatusError,
    TooLarge,
    TooManyRedirects,
)
from pricealert_ops.devtools.shop import Page, Shop
from tests.http.conftest import unanswered_port


async def test_page_body_status_and_headers_come_back(client: GuardedClient, shop: Shop) -> None:
    shop.serve("/p", Page.html("<p>¥1,280</p>", headers={"X-Shop": "yes"}))
    result = await client.get(shop.url("/p"))
    assert result.status == 200
    assert result.is_success
    assert result.body == "<p>¥1,280</p>".encode()
    assert result.headers["x-shop"] == "yes"
    assert result.redirects == ()
    assert result.bytes_received == len(result.body)
    assert result.elapsed > 0


async def test_requests_carry_an_honest_user_agent_and_only_bounded_encodings(
    client: GuardedClient, shop: Shop
) -> None:
    shop.serve("/p", Page.html("ok"))
    await client.get(shop.url("/p"), headers={"Accept-Encoding": "br", "Host": "evil.example"})
    sent = shop.requests[0].headers
    assert sent["user-agent"].startswith("PriceAlert/")
    assert sent["accept-encoding"] == "gzip, deflate, br"
    assert sent["host"] == shop.netloc()


async def test_gzip_deflate_and_brotli_bodies_are_decoded(
    client: GuardedClient, shop: Shop
) -> None:
    text = "<html>" + "price " * 500 + "</html>"
    shop.serve("/gz", Page.gzipped(text))
    shop.serve(
        "/x-gz", Page(body=gzip.compress(text.encode()), headers={"Content-Encoding": "x-gzip"})
    )
    shop.serve(
        "/zlib", Page(body=zlib.compress(text.encode()), headers={"Content-Encoding": "deflate"})
    )
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    shop.serve("/raw", Page(body=raw.compress(text.encode()) + raw.flush(),
                            headers={"Content-Encoding": "deflate"}))  # fmt: skip
    shop.serve("/br", Page(body=brotli.compress(text.encode()), headers={"Content-Encoding": "br"}))
    for path in ("/gz", "/x-gz", "/zlib", "/raw", "/br"):
        result = await client.get(shop.url(path))
        assert result.body == text.encode(), path
        assert result.bytes_received < len(text)


async def test_a_gzip_body_of_several_members_is_read_whole(
    client: GuardedClient, shop: Shop
) -> None:
    members = gzip.compress(b"<p>first half, ") + gzip.compress(b"second half</p>")
    shop.serve("/two", Page(body=members, headers={"Content-Encoding": "gzip"}))
    assert (await client.get(shop.url("/two"))).body == b"<p>first half, second half</p>"


async def test_declared_length_over_the_cap_is_refused_before_reading(
    client: GuardedClient, shop: Shop
) -> None:
    shop.serve("/big", Page.huge(2_000, declare_length=True))
    with pytest.raises(TooLarge, match="Content-Length 2000"):
        await client.get(shop.url("/big"), max_bytes=1_000)


async def test_streamed_body_over_the_cap_stops_on_the_wire(
    client: GuardedClient, shop: Shop
) -> None:
    shop.serve("/big", Page.huge(50_000_000))
    with pytest.raises(TooLarge, match="on the wire") as failed:
        await client.get(shop.url("/big"), max_bytes=100_000)
    assert failed.value.code == "too_large"


async def test_body_exactly_at_the_cap_is_accepted(client: GuardedClient, shop: Shop) -> None:
    shop.serve("/big", Page.huge(100_000))
    assert len((await client.get(shop.url("/big"), max_bytes=100_000)).body) == 100_000


async def test_gzip_bomb_stops_at_the_cap_after_decompression(
    client: GuardedClient, shop: Shop
) -> None:
    shop.serve("/bomb", Page.gzip_bomb(200_000_000))
    with pytest.raises(TooLarge, match="after decompression"):
        await client.get(shop.url("/bomb"))  # default cap: 5 MB


async def test_brotli_bomb_stops_at_the_cap_after_decompression(
    client: GuardedClient, shop: Shop
) -> None:
    bomb = brotli.compress(bytes(50_000_000), quality=1)
    assert len(bomb) < 100_000
    shop.serve("/bomb", Page(body=bomb, headers={"Content-Encoding": "br"}))
    with pytest.raises(TooLarge, match="after decompression"):
        await client.get(shop.url("/bomb"), max_bytes=1_000_000)


@pytest.mark.parametrize(
    ("body", "coding"),
    [
        (b"\x1f\x8b\x08\x00garbage", "gzip"),
        (gzip.compress(b"<p>a whole page</p>" * 50)[:-12], "gzip"),  # the stream stops short
        (brotli.compress(b"<p>a whole page</p>" * 500)[:-8], "br"),
        (b"not brotli at all", "br"),
    ],
)
async def test_corrupt_or_truncated_compressed_body_is_a_decoding_error(
    client: GuardedClient, shop: Shop, body: bytes, coding: str
) -> None:
    shop.serve("/bad", Page(body=body, headers={"Content-Encoding": coding}))
    with pytest.raises(DecodingFailed):
        await client.get(shop.url("/bad"))


async def test_unrequested_content_coding_is_a_decoding_error(
    client: GuardedClient, shop: Shop
) -> None:
    shop.serve("/z", Page(body=b"(\xb5/\xfd", headers={"Content-Encoding": "zstd"}))
    shop.serve("/two", Page(body=b"xx", headers={"Content-Encoding": "gzip, br"}))
    for path, coding in (("/z", "zstd"), ("/two", "gzip, br")):
        with pytest.raises(DecodingFailed, match=coding):
            await client.get(shop.url(path))


async def test_truncated_body_is_a_connection_error(client: GuardedClient, shop: Shop) -> None:
    shop.serve("/cut", Page.truncated(b"x" * 500, declared_length=1_000))
    with pytest.raises(ConnectionFailed) as failed:
        await client.get(shop.url("/cut"))
    assert failed.value.code == "connection_error"


async def test_closed_port_is_a_connection_error(shop: Shop) -> None:
    async with GuardedClient(allowed_hosts=["127.0.0.1"]) as client:
        with socket.socket() as probe:  # bound and never listening: connections are refused
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
            with pytest.raises(ConnectionFailed):
                await client.get(f"http://127.0.0.1:{port}/")


async def test_slow_headers_hit_the_read_timeout(shop: Shop) -> None:
    shop.serve("/slow", Page.html("late", delay=3.0))
    async with GuardedClient(allowed_hosts=[shop.netloc()], read_timeout=0.2) as client:
        with pytest.raises(FetchTimeout) as failed:
            await client.get(shop.url("/slow"))
    assert (failed.value.code, failed.value.phase) == ("timeout", "read")


async def test_trickling_body_hits_the_total_timeout(shop: Shop) -> None:
    # every chunk arrives well within the read timeout; the whole never arrives in time
    shop.serve("/drip", Page.html("x" * 400, chunk_size=10, chunk_delay=0.05, chunked=True))
    async with GuardedClient(
        allowed_hosts=[shop.netloc()], read_timeout=1.0, total_timeout=0.4
    ) as client:
        with pytest.raises(FetchTimeout) as failed:
            await client.get(shop.url("/drip"))
    assert failed.value.phase == "total"


@pytest.fixture
def full_backlog() -> Iterator[int]:
    with unanswered_port() as port:
        yield port


async def test_unanswered_connect_hits_the_connect_timeout(full_backlog: int) -> None:
    async with GuardedClient(allowed_hosts=["127.0.0.1"], connect_timeout=0.2) as client:
        with pytest.raises(FetchTimeout) as failed:
            await client.get(f"http://127.0.0.1:{full_backlog}/")
    assert failed.value.phase == "connect"


async def test_redirects_are_followed_and_reported(client: GuardedClient, shop: Shop) -> None:
    shop.serve("/a", Page.redirect("/b", status=301))
    shop.serve("/b", Page.redirect(shop.url("/c?x=1"), status=308))
    shop.serve("/c", Page.html("here"))
    result = await client.get(shop.url("/a"))
    assert result.url == shop.url("/c?x=1")
    assert result.redirects == (shop.url("/a"), shop.url("/b"))
    assert result.body == b"here"


async def test_five_redirects_are_fine_and_a_sixth_is_too_many(
    client: GuardedClient, shop: Shop
) -> None:
    for hop in range(7):
        shop.serve(f"/r{hop}", Page.redirect(f"/r{hop + 1}"))
    shop.serve("/r7", Page.html("end"))
    assert (await client.get(shop.url("/r2"))).body == b"end"  # r2 → r7: five redirects
    with pytest.raises(TooManyRedirects):
        await client.get(shop.url("/r1"))  # six


async def test_redirect_loop_is_too_many_redirects(client: GuardedClient, shop: Shop) -> None:
    shop.serve("/loop", Page.redirect("/loop"))
    with pytest.raises(TooManyRedirects) as failed:
        await client.get(shop.url("/loop"))
    assert failed.value.code == "too_many_redirects"
    assert len(shop.requests) == 6


async def test_redirect_is_returned_not_followed_when_asked(
    client: GuardedClient, shop: Shop
) -> None:
    shop.serve("/hook", Page.redirect("/elsewhere"))
    result = await client.post(shop.url("/hook"), json={"a": 1}, follow_redirects=False)
    assert (result.status, result.headers["location"]) == (302, "/elsewhere")
    assert [r.path for r in shop.requests] == ["/hook"]
    with pytest.raises(HTTPStatusError):
        await client.post(shop.url("/hook"), json={}, follow_redirects=False, raise_for_status=True)


async def test_json_body_is_posted_and_303_turns_it_into_a_get(
    client: GuardedClient, shop: Shop
) -> None:
    shop.serve("/hook", Page.redirect("/done", status=303))
    shop.serve("/done", Page.html("thanks"))
    await client.post(shop.url("/hook"), json={"price": "1280", "名前": "靴"})
    posted, followed = shop.requests
    assert posted.method == "POST"
    assert posted.headers["content-type"] == "application/json"
    assert posted.body == '{"price":"1280","名前":"靴"}'.encode()
    assert (followed.method, followed.body) == ("GET", b"")
    assert "content-type" not in followed.headers


async def test_307_keeps_method_and_body(client: GuardedClient, shop: Shop) -> None:
    shop.serve("/hook", Page.redirect("/moved", status=307))
    shop.serve("/moved", Page.html("ok"))
    await client.post(shop.url("/hook"), content=b"payload")
    assert [(r.method, r.body) for r in shop.requests] == [
        ("POST", b"payload"),
        ("POST", b"payload"),
    ]


async def test_error_status_is_a_result_unless_raise_for_status(
    client: GuardedClient, shop: Shop
) -> None:
    shop.serve("/gone", Page(status=404, body=b"nope"))
    assert (await client.get(shop.url("/gone"))).status == 404
    with pytest.raises(HTTPStatusError) as failed:
        await client.get(shop.url("/gone"), raise_for_status=True)
    assert (failed.value.code, failed.value.result.status) == ("http_status", 404)


async def test_not_modified_comes_back_with_an_empty_body(
    client: GuardedClient, shop: Shop
) -> None:
    shop.serve("/p", Page.html("body", etag='"v1"'))
    result = await client.get(shop.url("/p"), headers={"If-None-Match": '"v1"'})
    assert (result.status, result.body) == (304, b"")


async def test_connections_are_reused_between_requests(client: GuardedClient, shop: Shop) -> None:
    shop.serve("/p", Page.html("ok"))
    for _ in range(5):
        await client.get(shop.url("/p"))
    assert [r.connection for r in shop.requests] == [1] * 5


async def test_concurrent_requests_to_many_hosts_all_complete() -> None:
    async with Shop() as shop:
        for last in range(2, 6):
            await shop.listen(f"127.0.0.{last}")
        shop.serve("/p", Page.html("ok"))
        async with GuardedClient(allowed_hosts=[f"127.0.0.{n}" for n in range(2, 6)],
                                 max_connections=3) as client:  # fmt: skip
            results = await asyncio.gather(
                *(client.get(shop.url("/p", origin=n % 4)) for n in range(40))
            )
        assert {r.body for r in results} == {b"ok"}
        assert len({r.server for r in shop.requests}) == 4
