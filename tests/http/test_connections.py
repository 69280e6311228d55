"""The client's own HTTP/1.1 layer: pooling, reuse rules, odd responses, timeouts by phase."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from pricealert.http import (
    ConnectionFailed,
    FetchTimeout,
    GuardedClient,
    Headers,
    TooLarge,
)
from pricealert.http._connection import open_connection
from pricealert.http._pool import ConnectionPool
from tests.support.shop import Page, Shop


class RawServer:
    """Answers each request head with the next scripted bytes (the last repeats)."""

    def __init__(
        self,
        *answers: bytes,
        close_after: bool = False,
        read: bool = True,
        answer_unread: bool = False,
    ) -> None:
        self.answers = list(answers)
        self.close_after = close_after
        self.read = read
        self.answer_unread = answer_unread  # with read=False: answer at once, read nothing
        self.connections = 0
        self.requests: list[tuple[int, bytes]] = []  # (connection, request head)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"127.0.0.1:{port}"

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
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests.append((number, head))
                answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
                writer.write(answer)
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


async def raw(*answers: bytes, **options: bool) -> AsyncIterator[tuple[RawServer, GuardedClient]]:
    server = RawServer(*answers, **options)
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


async def test_connections_per_destination_are_capped(shop: Shop) -> None:
    shop.serve("/p", Page.html("ok", delay=0.05))
    async with GuardedClient(allowed_hosts=[shop.netloc()], max_connections_per_host=2) as client:
        results = await asyncio.gather(*(client.get(shop.url("/p")) for _ in range(8)))
    assert {r.status for r in results} == {200}
    assert {r.connection for r in shop.requests} == {1, 2}


async def test_waiting_for_a_free_connection_hits_the_pool_timeout(shop: Shop) -> None:
    shop.serve("/slow", Page.html("late", delay=0.6))
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


async def test_skipped_redirect_body_and_head_close_the_connection(
    client: GuardedClient, shop: Shop
) -> None:
    shop.serve("/go", Page.redirect("/p"))
    shop.serve("/p", Page.html("the page"))
    assert (await client.get(shop.url("/go"))).body == b"the page"
    head = await client.request("HEAD", shop.url("/p"))
    assert (head.status, head.body, head.headers["content-length"]) == (200, b"", "8")
    assert (await client.get(shop.url("/p"))).body == b"the page"
    assert [r.connection for r in shop.requests] == [1, 2, 2, 3]


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


async def test_bytes_after_a_complete_response_stop_reuse() -> None:
    async for server, client in raw(OK + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nextra"):
        for _ in range(2):
            result = await client.get(url(server))
            assert (result.body, result.headers["content-length"]) == (b"ok", "2")
        assert server.connections == 2


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


async def test_an_endless_response_head_is_a_connection_error() -> None:
    flood = b"".join(b"X-Filler-%d: %s\r\n" % (n, b"y" * 1000) for n in range(200))
    async for server, client in raw(b"HTTP/1.1 200 OK\r\n" + flood + b"\r\n"):
        with pytest.raises(ConnectionFailed, match="head too large"):
            await client.get(url(server))


async def test_chunked_body_is_reassembled(client: GuardedClient, shop: Shop) -> None:
    text = "チャンク " * 300
    shop.serve("/c", Page.html(text, chunked=True, chunk_size=7))
    result = await client.get(shop.url("/c"))
    assert result.body == text.encode()
    assert result.bytes_received == len(text.encode())


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


async def test_a_body_the_server_does_not_take_hits_the_write_timeout() -> None:
    async for server, _client in raw(OK, read=False):
        async with GuardedClient(allowed_hosts=["127.0.0.1"], read_timeout=0.3) as client:
            with pytest.raises(FetchTimeout) as failed:
                await client.post(url(server), content=b"x" * 64_000_000)
        assert failed.value.phase == "write"


async def test_evicted_destinations_close_their_connections() -> None:
    async with Shop() as shop:
        for last in (2, 3):
            await shop.listen(f"127.0.0.{last}")
        shop.serve("/p", Page.html("ok"))
        async with GuardedClient(allowed_hosts=["127.0.0.2", "127.0.0.3"], max_hosts=1) as client:
            for n in range(4):
                await client.get(shop.url("/p", origin=n % 2))
            assert len(client._pool) == 1
        assert [r.connection for r in shop.requests] == [1, 2, 3, 4]


async def test_idle_connections_expire(shop: Shop) -> None:
    shop.serve("/p", Page.html("ok"))
    host, port = shop.netloc().split(":")
    pool = ConnectionPool(max_hosts=4, max_connections=2, keepalive_expiry=0.1)
    key = ("http", host, host, int(port))
    destination, lease = await pool.acquire(key, pool_timeout=1.0, url="")
    assert lease is None  # nothing pooled yet: a slot to open one
    connection = await open_connection(
        host, int(port), tls=None, server_hostname=None, connect_timeout=1.0, url=""
    )
    request = f"GET /p HTTP/1.1\r\nHost: {shop.netloc()}\r\n\r\n".encode()
    response = await connection.exchange(request, method="GET", url="", max_bytes=100,
                                         skip_redirect_body=False, read_timeout=1.0,
                                         write_timeout=1.0)  # fmt: skip
    assert response.body == b"ok"
    pool.release(destination, connection)
    assert (await pool.acquire(key, pool_timeout=1.0, url=""))[1] is connection
    pool.release(destination, connection)
    await asyncio.sleep(0.15)
    assert (await pool.acquire(key, pool_timeout=1.0, url=""))[1] is None
    assert connection.closed
    pool.close()


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


async def test_an_early_answer_to_an_unread_body_is_returned_and_not_reused() -> None:
    too_big = b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 4\r\n\r\nnope"
    async for server, _client in raw(too_big, read=False, answer_unread=True):
        async with GuardedClient(allowed_hosts=["127.0.0.1"], read_timeout=2.0) as client:
            result = await client.post(url(server), content=b"x" * 64_000_000)
            assert (result.status, result.body) == (413, b"nope")
            assert len(client._pool) == 1
            assert client._pool._destinations.popitem()[1].idle == []
