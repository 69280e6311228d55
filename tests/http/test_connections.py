"""The transport under the guard: pooling and reuse, odd and hostile responses, timeouts by phase.

Raw servers here answer with scripted bytes, to say what no HTTP framework would.
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator

import pytest

from pricealert.http import (
    ConnectionFailed,
    FetchTimeout,
    GuardedClient,
    Headers,
    TooLarge,
)
from pricealert_ops.devtools.shop import Page, Shop, StaticResolver
from tests.http.conftest import unanswered_port


class RawServer:
    """Answers each request head with the next scripted bytes (the last repeats)."""

    def __init__(
        self,
        *answers: bytes,
        close_after: bool = False,
        read: bool = True,
        answer_unread: bool = False,
        unsolicited: bytes = b"",
        answers_per_connection: int | None = None,
    ) -> None:
        self.answers = list(answers)
        self.close_after = close_after
        self.read = read
        self.answer_unread = answer_unread  # with read=False: answer at once, read nothing
        self.unsolicited = unsolicited  # sent a moment after each answer, unasked
        # hang up on the request after this many, without answering it (a keep-alive timeout
        # that struck just as the client reused the connection)
        self.answers_per_connection = answers_per_connection
        self.connections = 0
        self.requests: list[tuple[int, bytes]] = []  # (connection, request head)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._server = await asyncio.start_server(self._serve, host, port)
        return f"{host}:{self._server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        number = self.connections
        try:
            if not self.read:
                if self.answer_unread:
                    writer.write(self.answers[0])
                await asyncio.sleep(30)
            answered = 0
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests.append((number, head))
                if answered == self.answers_per_connection:
                    break
                answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
                writer.write(answer)
                await writer.drain()
                answered += 1
                if self.unsolicited:
                    await asyncio.sleep(0.05)
                    writer.write(self.unsolicited)
                    await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


async def raw(
    *answers: bytes, **options: bool | bytes | int
) -> AsyncIterator[tuple[RawServer, GuardedClient]]:
    server = RawServer(*answers, **options)  # type: ignore[arg-type]
    netloc = await server.start()
    try:
        async with GuardedClient(
            allowed_hosts=[netloc], connect_timeout=1.0, read_timeout=1.0, total_timeout=5.0
        ) as client:
            yield server, client
    finally:
        await server.close()


def url(server: RawServer) -> str:
    assert server._server is not None
    return f"http://127.0.0.1:{server._server.sockets[0].getsockname()[1]}/p"


def chunked(body: bytes) -> bytes:
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


# -- pooling and reuse ------------------------------------------------------------------


async def test_connections_per_destination_are_capped(shop: Shop) -> None:
    shop.serve("/p", Page.html("ok", delay=0.05))
    async with GuardedClient(allowed_hosts=[shop.netloc()], max_connections_per_host=2) as client:
        results = await asyncio.gather(*(client.get(shop.url("/p")) for _ in range(8)))
    assert {r.status for r in results} == {200}
    assert {r.connection for r in shop.requests} == {1, 2}


async def test_waiting_for_a_free_connection_hits_the_pool_timeout(shop: Shop) -> None:
    shop.serve("/slow", Page.html("late", delay=0.8))
    async with GuardedClient(
        allowed_hosts=[shop.netloc()], max_connections_per_host=1, connect_timeout=0.2
    ) as client:
        first, second = await asyncio.gather(
            client.get(shop.url("/slow")), client.get(shop.url("/slow")), return_exceptions=True
        )
    assert not isinstance(first, BaseException)
    assert first.body == b"late"
    assert isinstance(second, FetchTimeout)
    assert second.phase == "pool"


async def test_connections_are_reused_after_redirects_heads_and_not_modified(
    client: GuardedClient, shop: Shop
) -> None:
    shop.serve("/go", Page.redirect("/p"))
    shop.serve("/p", Page.html("the page", etag='"v1"'))
    assert (await client.get(shop.url("/go"))).body == b"the page"
    head = await client.request("HEAD", shop.url("/p"))
    assert (head.status, head.body, head.headers["content-length"]) == (200, b"", "8")
    assert (await client.get(shop.url("/p"), headers={"If-None-Match": '"v1"'})).status == 304
    assert (await client.get(shop.url("/p"))).body == b"the page"
    assert [r.connection for r in shop.requests] == [1] * 5


async def test_a_connection_cut_at_the_cap_is_not_reused(client: GuardedClient, shop: Shop) -> None:
    shop.serve("/big", Page.huge(1_000_000))
    shop.serve("/p", Page.html("ok"))
    with pytest.raises(TooLarge):
        await client.get(shop.url("/big"), max_bytes=10_000)
    assert (await client.get(shop.url("/p"))).body == b"ok"
    assert [r.connection for r in shop.requests] == [1, 2]


async def test_a_connection_left_by_a_total_timeout_is_not_reused(shop: Shop) -> None:
    shop.serve("/drip", Page.html("x" * 400, chunk_size=10, chunk_delay=0.05, chunked=True))
    shop.serve("/p", Page.html("ok"))
    async with GuardedClient(allowed_hosts=[shop.netloc()], total_timeout=0.3) as client:
        with pytest.raises(FetchTimeout):
            await client.get(shop.url("/drip"))
        assert (await client.get(shop.url("/p"))).body == b"ok"
    assert [r.connection for r in shop.requests] == [1, 2]


async def test_connection_close_is_honoured_even_if_the_server_keeps_it_open() -> None:
    async for server, client in raw(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    ):
        for _ in range(2):
            assert (await client.get(url(server))).body == b"ok"
        assert [number for number, _ in server.requests] == [1, 2]


async def test_a_keep_alive_connection_the_server_closed_is_not_used() -> None:
    async for server, client in raw(OK, close_after=True):
        assert (await client.get(url(server))).body == b"ok"
        await asyncio.sleep(0.05)  # the server's FIN arrives while the connection is idle
        assert (await client.get(url(server))).body == b"ok"
        assert server.connections == 2


async def test_a_get_on_a_connection_the_server_dropped_as_it_was_reused_is_retried_once() -> None:
    async for server, client in raw(OK, answers_per_connection=1):
        assert (await client.get(url(server))).body == b"ok"
        # The server takes the next request on the kept-alive connection and hangs up.
        assert (await client.get(url(server))).body == b"ok"
        assert [number for number, _ in server.requests] == [1, 1, 2]


async def test_a_post_on_a_connection_the_server_dropped_is_not_retried() -> None:
    async for server, client in raw(OK, answers_per_connection=1):
        assert (await client.post(url(server), content=b"1")).body == b"ok"
        with pytest.raises(ConnectionFailed):
            await client.post(url(server), content=b"2")  # it may have been acted on
        assert [number for number, _ in server.requests] == [1, 1]


async def test_a_response_that_arrives_on_an_idle_connection_is_never_served() -> None:
    planted = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nplant!"
    async for server, client in raw(OK, unsolicited=planted):
        assert (await client.get(url(server))).body == b"ok"
        await asyncio.sleep(0.2)  # the unasked response lands on the pooled connection
        assert (await client.get(url(server))).body == b"ok"
        assert server.connections == 2  # the poisoned connection was closed, not reused


async def test_bytes_after_a_complete_response_stop_reuse() -> None:
    async for server, client in raw(OK + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nextra"):
        for _ in range(2):
            result = await client.get(url(server))
            assert (result.body, result.headers["content-length"]) == (b"ok", "2")
        assert server.connections == 2


async def test_the_read_timeout_holds_on_a_reused_connection(shop: Shop) -> None:
    shop.serve("/fast", Page.html("ok"))
    shop.serve("/slow", Page.html("late", delay=2.0))
    async with GuardedClient(allowed_hosts=[shop.netloc()], read_timeout=0.3) as client:
        assert (await client.get(shop.url("/fast"))).body == b"ok"
        started = time.monotonic()
        with pytest.raises(FetchTimeout) as failed:
            await client.get(shop.url("/slow"))
    assert failed.value.phase == "read"
    assert time.monotonic() - started < 1.0
    assert [r.connection for r in shop.requests] == [1, 1]


async def test_a_slow_but_steady_body_is_not_a_read_timeout(shop: Shop) -> None:
    shop.serve("/drip", Page.html("x" * 40, chunk_size=4, chunk_delay=0.1, chunked=True))
    async with GuardedClient(allowed_hosts=[shop.netloc()], read_timeout=0.3) as client:
        for _ in range(2):  # the second time on the pooled connection
            assert (await client.get(shop.url("/drip"))).body == b"x" * 40


# -- connecting -------------------------------------------------------------------------


async def test_a_connect_timeout_on_one_address_goes_on_to_the_next() -> None:
    async with Shop() as shop:
        origin = await shop.listen("127.0.0.2")
        port = int(origin.rsplit(":", 1)[1])
        shop.serve("/p", Page.html("second"))
        with unanswered_port("127.0.0.3", port):
            resolver = StaticResolver({"shop.test": ["127.0.0.3", "127.0.0.2"]})
            async with GuardedClient(
                allowed_hosts=["shop.test"], resolver=resolver, connect_timeout=0.5
            ) as client:
                result = await client.get(f"http://shop.test:{port}/p")
    assert (result.address, result.body) == ("127.0.0.2", b"second")


# -- what the server says ---------------------------------------------------------------


async def test_informational_responses_are_skipped() -> None:
    async for server, client in raw(
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n" + OK
    ):
        result = await client.get(url(server))
        assert (result.status, result.body) == (200, b"ok")
        assert "link" not in result.headers


async def test_switching_protocols_is_a_connection_error() -> None:
    async for server, client in raw(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"
    ):
        with pytest.raises(ConnectionFailed, match="switched protocols"):
            await client.get(url(server))


async def test_bare_lf_line_ends_and_folded_headers_are_read() -> None:
    async for server, client in raw(
        b"HTTP/1.1 200 OK\nContent-Length: 2\nX-Folded: first\r\n  second\n\nok"
    ):
        result = await client.get(url(server))
        assert (result.status, result.body) == (200, b"ok")
        assert result.headers["x-folded"].split() == ["first", "second"]


async def test_gzip_as_a_transfer_coding_is_decoded() -> None:
    page = b"<p>price: 1,280 yen</p>" * 40
    async for server, client in raw(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
        + chunked(gzip.compress(page))
    ):
        assert (await client.get(url(server))).body == page


async def test_a_redirect_without_location_is_the_answer_with_its_body() -> None:
    async for server, client in raw(b"HTTP/1.1 302 Found\r\nContent-Length: 9\r\n\r\nno target"):
        result = await client.get(url(server))
        assert (result.status, result.body, result.redirects) == (302, b"no target", ())


async def test_a_redirect_with_two_different_locations_is_refused() -> None:
    async for server, client in raw(
        b"HTTP/1.1 302 Found\r\nLocation: /a\r\nLocation: /b\r\nContent-Length: 0\r\n\r\n"
    ):
        with pytest.raises(ConnectionFailed, match="two different Locations"):
            await client.get(url(server))
        assert len(server.requests) == 1


async def test_a_redirect_repeating_one_location_is_followed() -> None:
    async for server, client in raw(
        b"HTTP/1.1 302 Found\r\nLocation: /a\r\nLocation: /a\r\nContent-Length: 0\r\n\r\n", OK
    ):
        result = await client.get(url(server))
        assert (result.body, result.url.rsplit("/", 1)[1]) == (b"ok", "a")


async def test_a_hundred_headers_are_read_and_more_are_refused() -> None:
    fields = b"".join(b"X-Field-%d: y\r\n" % n for n in range(99))  # + Content-Length = 100
    async for server, client in raw(
        b"HTTP/1.1 200 OK\r\n" + fields + b"Content-Length: 2\r\n\r\nok"
    ):
        assert len((await client.get(url(server))).headers) == 100
    async for server, client in raw(
        b"HTTP/1.1 200 OK\r\n" + fields + b"X-One-More: y\r\nContent-Length: 2\r\n\r\nok"
    ):
        with pytest.raises(ConnectionFailed, match="invalid HTTP response"):
            await client.get(url(server))


async def test_an_oversized_header_field_is_refused() -> None:
    async for server, client in raw(
        b"HTTP/1.1 200 OK\r\nX-Huge: " + b"y" * 20_000 + b"\r\nContent-Length: 2\r\n\r\nok"
    ):
        with pytest.raises(ConnectionFailed, match="invalid HTTP response"):
            await client.get(url(server))


async def test_body_without_length_runs_to_the_close() -> None:
    async for server, client in raw(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", close_after=True
    ):
        result = await client.get(url(server))
        assert (result.body, result.bytes_received) == (b"until the end", 13)


async def test_body_without_length_is_capped() -> None:
    async for server, client in raw(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 50_000, close_after=True):
        with pytest.raises(TooLarge, match="on the wire"):
            await client.get(url(server), max_bytes=10_000)


async def test_broken_http_is_a_connection_error() -> None:
    async for server, client in raw(b"SMTP ready\r\n\r\n"):
        with pytest.raises(ConnectionFailed, match="invalid HTTP response"):
            await client.get(url(server))


async def test_conflicting_length_and_chunking_is_a_connection_error() -> None:
    async for server, client in raw(
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n"
    ):
        with pytest.raises(ConnectionFailed):
            await client.get(url(server))


async def test_chunked_body_is_reassembled(client: GuardedClient, shop: Shop) -> None:
    text = "チャンク " * 300
    shop.serve("/c", Page.html(text, chunked=True, chunk_size=7))
    result = await client.get(shop.url("/c"))
    assert result.body == text.encode()
    assert result.bytes_received == len(text.encode())


async def test_cookies_are_never_kept(client: GuardedClient, shop: Shop) -> None:
    shop.serve("/p", Page.html("ok", headers={"Set-Cookie": "session=abc; Path=/"}))
    for _ in range(2):
        await client.get(shop.url("/p"))
    assert [r.headers.get("cookie") for r in shop.requests] == [None, None]


async def test_proxies_in_the_environment_are_ignored(
    client: GuardedClient, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # discard: nothing would answer
    shop.serve("/p", Page.html("direct"))
    assert (await client.get(shop.url("/p"))).body == b"direct"


# -- what we send -----------------------------------------------------------------------


async def test_header_injection_is_refused_before_sending(
    client: GuardedClient, shop: Shop
) -> None:
    shop.serve("/p", Page.html("ok"))
    for headers in ({"X-A": "1\r\nX-Evil: 2"}, {"X-A\r\nX-Evil": "2"}, {"X A": "1"}):
        with pytest.raises(ConnectionFailed, match="invalid request header"):
            await client.get(shop.url("/p"), headers=headers)
    assert shop.requests == []


async def test_posts_carry_their_length_and_framing_headers_are_ours(
    client: GuardedClient, shop: Shop
) -> None:
    shop.serve("/hook", Page.html("ok"))
    await client.post(shop.url("/hook"))
    await client.post(
        shop.url("/hook"),
        content=b"12345",
        headers={"Content-Length": "999", "Transfer-Encoding": "chunked", "X-Sig": "v1"},
    )
    empty, posted = shop.requests
    assert (empty.headers["content-length"], empty.body) == ("0", b"")
    assert (posted.headers["content-length"], posted.body) == ("5", b"12345")
    assert "transfer-encoding" not in posted.headers
    assert posted.headers["x-sig"] == "v1"


async def test_a_body_the_server_does_not_take_ends_in_a_timeout() -> None:
    async for server, _client in raw(OK, read=False):
        async with GuardedClient(
            allowed_hosts=["127.0.0.1"], read_timeout=0.3, total_timeout=1.0
        ) as client:
            with pytest.raises(FetchTimeout):
                await client.post(url(server), content=b"x" * 64_000_000)


async def test_an_early_answer_to_an_unread_body_is_returned_and_not_reused() -> None:
    too_big = b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 4\r\n\r\nnope"
    async for server, _client in raw(too_big, read=False, answer_unread=True):
        async with GuardedClient(allowed_hosts=["127.0.0.1"], read_timeout=2.0) as client:
            result = await client.post(url(server), content=b"x" * 64_000_000)
            assert (result.status, result.body) == (413, b"nope")
            again = await client.post(url(server), content=b"x" * 64_000_000)
            assert again.status == 413
        assert server.connections == 2  # the half-sent body left the first one unusable


def test_headers_are_a_case_insensitive_mapping() -> None:
    headers = Headers(
        [(b"ETag", b'"v1"'), (b"Cache-Control", b"no-cache"), (b"cache-control", b"private"),
         (b"X-Name", "名前".encode()), (b"X-Latin", b"caf\xe9")]
    )  # fmt: skip
    assert headers["etag"] == headers.get("ETAG") == '"v1"'
    assert headers["Cache-Control"] == "no-cache, private"
    assert (headers["x-name"], headers["x-latin"]) == ("名前", "café")
    assert "ETag" in headers
    assert list(headers) == ["etag", "cache-control", "x-name", "x-latin"]
    assert headers.get("retry-after") is None
    assert dict(Headers.of({"Retry-After": "5"})) == {"retry-after": "5"}
