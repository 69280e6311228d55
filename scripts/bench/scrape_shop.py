"""The benchmark's shop: realistic product pages on many loopback addresses, in its own process.

Runs apart from the scraper so that its CPU is not counted as the scraper's. Each
address is one shop "domain" (so per-domain politeness applies as it does in real
life); product `i` lives at `/p/<i>` on address `i % hosts`, and is page shape
`i % len(SHAPES)` from `bench_extract.build_page`. Responses are prebuilt bytes
(status line, headers, body) written in one call, over keep-alive connections, so
the shop costs as little CPU as it can; `/robots.txt` and unknown paths get 404.

    python scripts/bench/scrape_shop.py --hosts 16

prints one JSON line `{"origins": [...], "shapes": [...]}` on stdout when it
listens, then serves until stdin closes (the parent went away) or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import threading
from typing import Any

from pricealert.extract.encoding import detect_encoding
from scripts.bench.bench_extract import SHAPES, build_page

#: The shapes a watched product's page has (a listing page is not a product).
PRODUCT_SHAPES = [name for name in SHAPES if name != "listing_none"]
NOT_FOUND = (
    b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nContent-Type: text/plain\r\n\r\nnot found"
)


def build_responses() -> list[bytes]:
    """One prebuilt 200 response per product shape."""
    responses = []
    for name in PRODUCT_SHAPES:
        corpus_file, _url, _selector, size_kb = SHAPES[name]
        body = build_page(corpus_file, size_kb)
        codec, _ = detect_encoding(body)
        head = (
            "HTTP/1.1 200 OK\r\n"
            f"Content-Type: text/html; charset={codec}\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Cache-Control: private, max-age=0\r\n\r\n"
        )
        responses.append(head.encode("ascii") + body)
    return responses


class ShopProtocol(asyncio.Protocol):
    """HTTP/1.1 keep-alive GETs without bodies: enough for a scraper, and cheap."""

    def __init__(self, responses: list[bytes]) -> None:
        self.responses = responses
        self.buffer = b""
        self.transport: Any = None  # uvloop's transports are not asyncio.Transport subclasses

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            target = head.split(b" ", 2)[1]
            path = target.split(b"?", 1)[0]
            self.transport.write(self._answer(path))

    def _answer(self, path: bytes) -> bytes:
        if path.startswith(b"/p/") and path[3:].isdigit():
            return self.responses[int(path[3:]) % len(self.responses)]
        return NOT_FOUND


async def serve(hosts: int) -> None:
    loop = asyncio.get_running_loop()
    responses = build_responses()
    servers = []
    origins = []
    for index in range(hosts):
        host = f"127.0.0.{2 + index}"
        server = await loop.create_server(lambda: ShopProtocol(responses), host, 0, backlog=512)
        servers.append(server)
        origins.append(f"http://{host}:{server.sockets[0].getsockname()[1]}")
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    def watch_parent() -> None:
        sys.stdin.buffer.read()  # returns when the parent closes the pipe (or dies)
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch_parent, daemon=True).start()
    print(json.dumps({"origins": origins, "shapes": PRODUCT_SHAPES}), flush=True)
    await stop.wait()
    for server in servers:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=16)
    args = parser.parse_args()
    try:
        import uvloop  # the shop is not what is measured: make it as cheap as possible

        uvloop.run(serve(args.hosts))
    except ImportError:
        asyncio.run(serve(args.hosts))
    sys.stdout.flush()
    os._exit(0)  # not via interpreter shutdown: the stdin watcher thread is still reading


if __name__ == "__main__":
    main()
