"""Reading a response body under a size cap, counted on the wire and after decoding.

aiohttp frames the body (Content-Length, chunked, until close) and hands it over
raw; the codings are undone here, because here the cap is known: each piece is
inflated only as far as the room left under the cap (plus one byte, to know it
was passed), so a gzip, deflate or brotli bomb costs at most the cap, never a
whole network read inflated ~1000x at once. Decoding here also means one place
for every coding: a content coding, a transfer coding before `chunked`
(`Transfer-Encoding: gzip, chunked`, RFC 9112 section 7), `x-gzip` (RFC 9110
asks recipients to read it as gzip), gzip bodies of several members read whole,
and a compressed body that stops short is a `DecodingFailed`, not a shorter page.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Final, Protocol

import aiohttp
import brotli
from aiohttp.streams import EmptyStreamReader

from pricealert.http._errors import DecodingFailed, TooLarge

#: What the client sends as Accept-Encoding: exactly the codings it decodes, bounded.
ACCEPT_ENCODING: Final = "gzip, deflate, br"
_CODINGS: Final = frozenset({"gzip", "x-gzip", "deflate", "br"})
_IDENTITY: Final = frozenset({"", "identity"})
#: A body of countless empty gzip members is an attack, not a page (aiohttp's limit too).
_MAX_MEMBERS: Final = 1024


def read_arrived(
    response: aiohttp.ClientResponse, *, max_bytes: int, url: str
) -> tuple[bytes, int] | None:
    """The body as `read_capped` gives it when all of it has arrived already, else None.

    No waiting, so no coroutine: a page read with its head (most are) costs no
    more task switches than the head did.
    """
    content = response.content
    if isinstance(content, EmptyStreamReader):  # HEAD, 204, 304: no body, whatever the head says
        return b"", 0
    if not content.is_eof():
        return None
    received = content.total_bytes
    if received <= max_bytes:
        # Most pages: nothing to decode and within the cap on the wire, so within it
        # decoded too; taken as it is, without a `_Body` (the same checks, in short).
        headers = response.headers
        transfer = headers.get("Transfer-Encoding")
        if headers.get("Content-Encoding") is None and (transfer is None or transfer == "chunked"):
            declared = response.content_length
            if declared is None or declared <= max_bytes:
                return content.read_nowait(), received
    body = _Body(response, max_bytes, url)
    body.add(content.read_nowait(), received)
    return body.finish(received)


async def read_capped(
    response: aiohttp.ClientResponse, *, max_bytes: int, url: str
) -> tuple[bytes, int]:
    """The decoded body and its size on the wire; `TooLarge` past `max_bytes` either way."""
    arrived = read_arrived(response, max_bytes=max_bytes, url=url)
    if arrived is not None:
        return arrived
    content = response.content
    body = _Body(response, max_bytes, url)
    while chunk := await content.readany():
        body.add(chunk, content.total_bytes)
    return body.finish(content.total_bytes)


class _Body:
    """A body as it arrives: decoded, counted on the wire and after decoding, capped."""

    __slots__ = ("_chunks", "_decoder", "_max_bytes", "_size", "_url")

    def __init__(self, response: aiohttp.ClientResponse, max_bytes: int, url: str) -> None:
        declared = response.content_length
        if declared is not None and declared > max_bytes:
            raise TooLarge(f"Content-Length {declared} exceeds {max_bytes} bytes", url=url)
        self._decoder = _decoder_for(response.headers, url)
        self._max_bytes = max_bytes
        self._url = url
        self._chunks: list[bytes] = []
        self._size = 0

    def add(self, chunk: bytes, received: int) -> None:
        """The next piece, and how many body bytes have come off the wire so far."""
        # received: aiohttp's count with the framing removed (it decodes nothing here)
        if received > self._max_bytes:
            raise TooLarge(f"body exceeds {self._max_bytes} bytes on the wire", url=self._url)
        if self._decoder is not None:
            chunk = self._decoder.feed(chunk, self._max_bytes - self._size)
        self._size += len(chunk)
        if self._size > self._max_bytes:
            raise TooLarge(
                f"body exceeds {self._max_bytes} bytes after decompression", url=self._url
            )
        self._chunks.append(chunk)

    def finish(self, received: int) -> tuple[bytes, int]:
        """The whole decoded body and its size on the wire."""
        if self._decoder is not None and received:
            self._decoder.finish()
        chunks = self._chunks
        return (chunks[0] if len(chunks) == 1 else b"".join(chunks)), received


class _Decoder(Protocol):
    def feed(self, data: bytes, room: int) -> bytes:
        """Decode `data`, producing at most about `room + 1` bytes (more means: over the cap)."""
        ...

    def finish(self) -> None:
        """`DecodingFailed` if the compressed stream stopped short."""
        ...


def _decoder_for(headers: Mapping[str, str], url: str) -> _Decoder | None:
    """The decoder the body's codings need; `DecodingFailed` for one the client did not ask for."""
    transfer = headers.get("Transfer-Encoding")
    content = headers.get("Content-Encoding")
    if content is None and (transfer is None or transfer == "chunked"):
        return None  # most pages
    codings = [c.strip().lower() for c in (transfer or "").split(",")]
    codings = [c for c in codings if c not in _IDENTITY and c != "chunked"]
    content = (content or "").strip().lower()
    if content not in _IDENTITY:
        codings.append(content)
    if not codings:
        return None
    if len(codings) > 1 or codings[0] not in _CODINGS:
        raise DecodingFailed(f"unrequested content coding {', '.join(codings)!r}", url=url)
    if codings[0] == "br":
        return _Unbrotli(url)
    return _Inflater("deflate" if codings[0] == "deflate" else "gzip", url)


class _Inflater:
    """gzip (every member, one after another) or deflate (zlib-wrapped or raw), bounded."""

    __slots__ = ("_coding", "_decoder", "_gzip", "_members", "_url")

    def __init__(self, coding: str, url: str) -> None:
        self._coding = coding
        self._gzip = coding != "deflate"
        self._decoder: zlib._Decompress | None = None
        self._members = 0
        self._url = url

    def feed(self, data: bytes, room: int) -> bytes:
        """Decode `data`, producing at most `room + 1` bytes (one more means: over the cap)."""
        out = bytearray()
        try:
            while data:
                decoder = self._decoder
                if decoder is None or (decoder.eof and self._gzip):
                    decoder = self._decoder = self._next_member(data)
                elif decoder.eof:
                    break  # bytes after the end of a deflate stream: not part of the body
                out += decoder.decompress(data, room - len(out) + 1)
                if len(out) > room:
                    break
                data = decoder.unused_data if decoder.eof else decoder.unconsumed_tail
        except zlib.error as exc:
            raise DecodingFailed(f"{self._coding} body is corrupt: {exc}", url=self._url) from exc
        return bytes(out)

    def _next_member(self, data: bytes) -> zlib._Decompress:
        self._members += 1
        if self._members > _MAX_MEMBERS:
            raise DecodingFailed(f"more than {_MAX_MEMBERS} gzip members", url=self._url)
        if self._gzip:
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        # deflate is zlib-wrapped per the RFC but raw from some servers: the first byte tells
        return zlib.decompressobj(zlib.MAX_WBITS if data[0] & 0x0F == 8 else -zlib.MAX_WBITS)

    def finish(self) -> None:
        """`DecodingFailed` if the stream stopped inside a member."""
        if self._decoder is not None and not self._decoder.eof:
            raise DecodingFailed(f"{self._coding} body is truncated", url=self._url)


class _Unbrotli:
    """brotli, never producing much more than asked for."""

    __slots__ = ("_decoder", "_url")

    def __init__(self, url: str) -> None:
        self._decoder = brotli.Decompressor()
        self._url = url

    def feed(self, data: bytes, room: int) -> bytes:
        """Decode `data`; stops once past `room` (the rest would only be thrown away)."""
        decoder = self._decoder
        try:
            out = decoder.process(data, output_buffer_limit=room + 1)
            # Output held back by the limit comes out with empty input, piece by piece.
            while len(out) <= room and not decoder.can_accept_more_data():
                more = decoder.process(b"", output_buffer_limit=room + 1 - len(out))
                if not more:
                    break
                out += more
        except brotli.error as exc:
            raise DecodingFailed(f"br body is corrupt: {exc}", url=self._url) from exc
        return bytes(out)

    def finish(self) -> None:
        """`DecodingFailed` if the stream stopped short."""
        if not self._decoder.is_finished():
            raise DecodingFailed("br body is truncated", url=self._url)
