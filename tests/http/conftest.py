"""Fixtures for the guarded client tests: a real shop on loopback and clients around it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pricealert.http import GuardedClient
from tests.support.shop import Shop, running_shop


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
