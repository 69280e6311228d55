"""Fixtures for the guarded client tests: a real shop on loopback and clients around it."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import pytest

from pricealert.http import GuardedClient
from pricealert_ops.devtools.shop import Shop, running_shop


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    async for running in running_shop("127.0.0.1"):
        yield running


@pytest.fixture
async def client(shop: Shop) -> AsyncIterator[GuardedClient]:
    """A client that may reach exactly the shop's host:port, with short timeouts."""
    async with GuardedClient(
        allowed_hosts=[shop.netloc()], connect_timeout=1.0, read_timeout=1.0, total_timeout=5.0
    ) as guarded:
        yield guarded


@pytest.fixture
async def closed_client() -> AsyncIterator[GuardedClient]:
    """A client with no exemptions, as in production."""
    async with GuardedClient(connect_timeout=0.5, read_timeout=0.5, total_timeout=2.0) as guarded:
        yield guarded


@contextmanager
def unanswered_port(host: str = "127.0.0.1", port: int = 0) -> Iterator[int]:
    """A listening port whose accept queue is full, so new connections hang in SYN."""
    listener = socket.socket()
    listener.bind((host, port))
    listener.listen(0)
    fillers: list[socket.socket] = []
    try:
        for _ in range(16):
            filler = socket.socket()
            filler.settimeout(0.2)
            fillers.append(filler)
            try:
                filler.connect(listener.getsockname())
            except TimeoutError:
                break
        else:
            pytest.skip("this kernel never fills a listen backlog")
        yield listener.getsockname()[1]
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
