"""Reading a response body under a size cap, on the wire and after decompression.

The client asks only for `gzip` and `deflate` and decodes them itself, with
zlib's `max_length`, so that a gzip bomb never inflates past the cap in memory
(a decoder that inflates a whole network chunk at once can make ~1000x its size).
"""

from __future__ import annotations

import zlib
from typing import Final

from pricealert.http._errors import DecodingFailed, TooLarge
from pricealert.http._headers import Headers

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


class CappedBody:
    """One response body, fed as it arrives: `TooLarge` past `max_bytes`, decoded on the way.

    Built once the head is in: refuses a declared Content-Length over the cap and
    a content coding the client did not ask for before any body byte is read.
    """

    __slots__ = ("_chunks", "_inflater", "_max_bytes", "_url", "received", "size")

    def __init__(self, headers: Headers, *, max_bytes: int, url: str, method: str) -> None:
        declared = headers.get("content-length", "")
        if method != "HEAD" and declared.isdigit() and int(declared) > max_bytes:
            raise TooLarge(f"Content-Length {declared} exceeds {max_bytes} bytes", url=url)
        coding = headers.get("content-encoding", "identity").strip().lower()
        self._inflater: _Inflater | None = None
        if coding in {"gzip", "x-gzip", "deflate"}:
            self._inflater = _Inflater("deflate" if coding == "deflate" else "gzip", url)
        elif coding not in {"", "identity"}:
            raise DecodingFailed(f"unrequested content coding {coding!r}", url=url)
        self._max_bytes = max_bytes
        self._url = url
        self._chunks: list[bytes] = []
        self.received = 0  #: body bytes on the wire
        self.size = 0  #: body bytes after decoding

    def feed(self, chunk: bytes) -> None:
        """Take the next piece of the body as it came off the wire."""
        self.received += len(chunk)
        if self.received > self._max_bytes:
            raise TooLarge(f"body exceeds {self._max_bytes} bytes on the wire", url=self._url)
        if self._inflater is not None:
            chunk = self._inflater.feed(chunk, self._max_bytes - self.size)
        self.size += len(chunk)
        if self.size > self._max_bytes:
            raise TooLarge(
                f"body exceeds {self._max_bytes} bytes after decompression", url=self._url
            )
        self._chunks.append(chunk)

    def finish(self) -> bytes:
        """The whole decoded body; `DecodingFailed` if a compressed stream stopped short."""
        if self._inflater is not None and self.received:
            self._inflater.finish()
        chunks = self._chunks
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
