"""Reading a response body under a size cap, on the wire and after decompression.

The client asks only for `gzip` and `deflate` and decodes them itself, with
zlib's `max_length`, so that a gzip bomb never inflates past the cap in memory
(httpx's own decoders inflate a whole network chunk at once, ~1000x its size).
"""

from __future__ import annotations

import zlib
from typing import Final

import httpx

from pricealert.http._errors import DecodingFailed, TooLarge

#: What the client sends as Accept-Encoding: exactly the codings it can bound.
ACCEPT_ENCODING: Final = "gzip, deflate"


class _Inflater:
    """zlib decompression that never produces more than `room + 1` bytes."""

    def __init__(self, coding: str, url: str) -> None:
        # deflate is zlib-wrapped per the RFC but raw in some servers: sniff on first byte
        self._coding = coding
        self._url = url
        self._decoder: zlib._Decompress | None = (
            zlib.decompressobj(zlib.MAX_WBITS | 16) if coding == "gzip" else None
        )

    def feed(self, data: bytes, room: int) -> bytes:
        if self._decoder is None:
            wbits = zlib.MAX_WBITS if data[:1] and (data[0] & 0x0F) == 8 else -zlib.MAX_WBITS
            self._decoder = zlib.decompressobj(wbits)
        out = bytearray()
        pending = data
        try:
            while pending:
                piece = self._decoder.decompress(pending, room - len(out) + 1)
                out += piece
                if len(out) > room or self._decoder.eof:
                    break
                pending = self._decoder.unconsumed_tail
        except zlib.error as exc:
            raise DecodingFailed(f"{self._coding} body is corrupt: {exc}", url=self._url) from exc
        return bytes(out)

    def finish(self) -> None:
        if self._decoder is not None and not self._decoder.eof:
            raise DecodingFailed(f"{self._coding} body is truncated", url=self._url)


async def read_capped(
    response: httpx.Response, *, max_bytes: int, url: str, method: str
) -> tuple[bytes, int]:
    """The decoded body and the number of bytes received; `TooLarge` past `max_bytes`."""
    declared = response.headers.get("content-length", "")
    if method != "HEAD" and declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(f"Content-Length {declared} exceeds {max_bytes} bytes", url=url)
    coding = response.headers.get("content-encoding", "identity").strip().lower()
    inflater: _Inflater | None = None
    if coding in {"gzip", "x-gzip", "deflate"}:
        inflater = _Inflater("deflate" if coding == "deflate" else "gzip", url)
    elif coding not in {"", "identity"}:
        raise DecodingFailed(f"unrequested content coding {coding!r}", url=url)

    chunks: list[bytes] = []
    size = received = 0
    async for chunk in response.aiter_raw():
        received += len(chunk)
        if received > max_bytes:
            raise TooLarge(f"body exceeds {max_bytes} bytes on the wire", url=url)
        piece = inflater.feed(chunk, max_bytes - size) if inflater else chunk
        size += len(piece)
        if size > max_bytes:
            raise TooLarge(f"body exceeds {max_bytes} bytes after decompression", url=url)
        chunks.append(piece)
    if inflater is not None and received:
        inflater.finish()
    return b"".join(chunks), received
