"""One HTTP/1.1 client connection: an `asyncio.Protocol` with llhttp (`httptools`) parsing.

The whole response is handled in the protocol's callbacks (parse, size cap,
decompression) and handed to the waiting request as one finished `Response`,
so a request costs one task wake-up however many reads its body takes.

A connection carries one request at a time. It is reusable afterwards only when
the response was read to its end, no error happened, the server did not ask to
close (`Connection: close`, HTTP/1.0) and nothing arrived after the response.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass
from typing import Final, cast

import httptools

from pricealert.http._body import CappedBody
from pricealert.http._errors import ConnectionFailed, FetchError, FetchTimeout, TLSFailure
from pricealert.http._headers import Headers

#: Most bytes a response head (status line and headers) may take.
MAX_HEAD_BYTES: Final = 100 * 1024


class NotConnected(ConnectionFailed):
    """The TCP connection could not be opened: nothing was sent, another address may be tried."""


@dataclass(frozen=True, slots=True)
class Response:
    """A complete response: status, headers and the decoded body."""

    status: int
    headers: Headers
    body: bytes
    received: int  #: body bytes on the wire


async def open_connection(
    address: str,
    port: int,
    *,
    tls: ssl.SSLContext | None,
    server_hostname: str | None,
    connect_timeout: float,
    url: str,
) -> Connection:
    """Connect to exactly `address` (an IP literal: no name lookup), TLS-verified for the name."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(connect_timeout):
            _transport, connection = await loop.create_connection(
                lambda: Connection(loop),
                host=address,
                port=port,
                flags=socket.AI_NUMERICHOST,  # an IP literal; a name would fail, not resolve
                ssl=tls,
                server_hostname=server_hostname if tls is not None else None,
                ssl_handshake_timeout=connect_timeout if tls is not None else None,
            )
    except TimeoutError as exc:
        raise FetchTimeout(
            f"connect timeout after {connect_timeout} s", url=url, phase="connect"
        ) from exc
    except (ssl.SSLError, ssl.CertificateError) as exc:
        raise TLSFailure(str(exc) or type(exc).__name__, url=url) from exc
    except OSError as exc:
        raise NotConnected(str(exc) or type(exc).__name__, url=url) from exc
    return connection


class Connection(asyncio.Protocol):
    """An open HTTP/1.1 connection; `exchange` sends one request and returns its response."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self.closed = False  #: lost, or closed by us
        self.reusable = False  #: the last exchange left the connection clean for another
        self.idle_since = 0.0
        self._write_paused = False
        self._drained: asyncio.Future[None] | None = None
        # the exchange in flight
        self._waiter: asyncio.Future[Response] | None = None
        self._method = "GET"
        self._url = ""
        self._max_bytes = 0
        self._skip_redirect_body = False
        self._raw_headers: list[tuple[bytes, bytes]] = []
        self._head_bytes = 0
        self._headers: Headers | None = None
        self._status = 0
        self._body: CappedBody | None = None
        self._until_eof = False
        self._informational = False
        self._read_timeout = 0.0
        self._last_read = 0.0
        self._timer: asyncio.TimerHandle | None = None

    # -- the request side ---------------------------------------------------------------

    async def exchange(
        self,
        request: bytes,
        *,
        method: str,
        url: str,
        max_bytes: int,
        skip_redirect_body: bool,
        read_timeout: float,
        write_timeout: float,
    ) -> Response:
        """Send `request` (head and body, already encoded) and wait for the whole response.

        With `skip_redirect_body`, a redirect's body is not read (the connection is
        then closed). On any failure or cancellation the connection is closed.
        """
        transport = self._transport
        if transport is None or self.closed:
            raise ConnectionFailed("the connection is closed", url=url)
        waiter: asyncio.Future[Response] = self._loop.create_future()
        self._waiter = waiter
        self.reusable = False
        self._method = method
        self._url = url
        self._max_bytes = max_bytes
        self._skip_redirect_body = skip_redirect_body
        self._raw_headers = []
        self._head_bytes = 0
        self._headers = None
        self._body = None
        self._until_eof = self._informational = False
        self._read_timeout = read_timeout
        try:
            transport.write(request)
            if self._write_paused:
                await self._drain(write_timeout)
            self._last_read = self._loop.time()
            self._timer = self._loop.call_at(self._last_read + read_timeout, self._check_read)
            response = await waiter
            if transport.get_write_buffer_size():
                self.close()  # answered before taking the whole request: never reuse
            return response
        except BaseException:
            self.close()
            raise
        finally:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            # an idle connection keeps nothing of the last response alive
            self._waiter = None
            self._body = None
            self._headers = None
            self._raw_headers = []

    async def _drain(self, write_timeout: float) -> None:
        self._drained = self._loop.create_future()
        try:
            async with asyncio.timeout(write_timeout):
                await self._drained
        except TimeoutError as exc:
            raise FetchTimeout(
                f"write timeout after {write_timeout} s", url=self._url, phase="write"
            ) from exc
        finally:
            self._drained = None

    def _check_read(self) -> None:
        self._timer = None
        if not self._active:
            return
        deadline = self._last_read + self._read_timeout
        if self._loop.time() >= deadline:
            self._fail(
                FetchTimeout(
                    f"read timeout: nothing for {self._read_timeout} s", url=self._url, phase="read"
                )
            )
        else:
            self._timer = self._loop.call_at(deadline, self._check_read)

    def close(self) -> None:
        """Close the connection (no reuse)."""
        self.reusable = False
        if not self.closed:
            self.closed = True
            if self._transport is not None:
                self._transport.abort()

    def _complete(self, body: bytes, received: int) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            assert self._headers is not None
            waiter.set_result(Response(self._status, self._headers, body, received))
        self._wake_writer()

    def _fail(self, exc: BaseException) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self._wake_writer()
        self.close()

    def _wake_writer(self) -> None:
        # An answer (or a failure) ends the wait for the request to drain.
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    @property
    def _active(self) -> bool:
        return self._waiter is not None and not self._waiter.done()

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if not self._active:
            self.close()  # bytes nobody asked for: the connection is out of step
            return
        self._last_read = self._loop.time()
        if self._headers is None:
            self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(ConnectionFailed("the server switched protocols", url=self._url))
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            if isinstance(cause, FetchError):
                self._fail(cause)
            elif self._active:
                self._fail(ConnectionFailed(f"invalid HTTP response: {exc}", url=self._url))
            else:
                self.close()  # garbage after a complete response
            return
        if self._headers is None and self._head_bytes > MAX_HEAD_BYTES and self._active:
            self._fail(ConnectionFailed("response head too large", url=self._url))

    def eof_received(self) -> bool:
        return False  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        self._wake_writer()
        if not self._active:
            return
        if exc is None and self._body is not None and self._until_eof:
            try:
                self._complete(self._body.finish(), self._body.received)
            except FetchError as failure:
                self._fail(failure)
            return
        detail = "the server closed the connection before the response was complete"
        if exc is not None:
            detail = f"{detail}: {exc}"
        self._fail(ConnectionFailed(detail, url=self._url))

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_writer()

    # -- httptools callbacks (raising stops the parser; data_received fails the exchange) ------

    def on_message_begin(self) -> None:
        if not self._active:
            self.close()  # a response nobody asked for, in the same read as ours
        self._raw_headers = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self._raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        if not self._active:
            return
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            if status == 101:
                raise ConnectionFailed("the server switched protocols", url=self._url)
            self._informational = True  # 1xx: the real answer follows
            return
        self._status = status
        headers = self._headers = Headers(self._raw_headers)
        if self._method == "HEAD" or (self._skip_redirect_body and status in _REDIRECTS):
            # No body to read (HEAD), or none wanted; llhttp cannot be told to skip a
            # body, so the connection is not reused.
            self._complete(b"", 0)
            self.close()
            return
        if status in {204, 304}:
            return  # no body, whatever the headers say; llhttp completes the message next
        self._body = CappedBody(headers, max_bytes=self._max_bytes, url=self._url,
                                method=self._method)  # fmt: skip
        transfer = headers.get("transfer-encoding")
        chunked = transfer is not None and transfer.rsplit(",", 1)[-1].strip().lower() == "chunked"
        self._until_eof = not chunked and (transfer is not None or "content-length" not in headers)

    def on_body(self, body: bytes) -> None:
        if self._body is not None and self._active:
            self._body.feed(body)

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        if not self._active:
            return
        keep_alive = self._parser.should_keep_alive()
        if self._body is None:  # 204 and 304 have no body
            self._complete(b"", 0)
        else:
            self._complete(self._body.finish(), self._body.received)
        self.reusable = keep_alive and not self.closed


_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
