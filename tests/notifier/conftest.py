"""Notifier fixtures: settings that may reach 127.0.0.1, a notifier, a signed-webhook receiver."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pricealert.http import GuardedClient
from pricealert_ops.devtools.receiver import Receiver
from services.notifier.channels import build_senders
from services.notifier.delivery import Notifier
from services.notifier.settings import NotifierSettings
from tests.support.aws import moto_aws
from tests.support.smtp import SmtpServer

AWS_REGION = "us-east-1"


def notifier_settings(**overrides: Any) -> NotifierSettings:
    """Fast retries, short timeouts, loopback allowed (tests only)."""
    values: dict[str, Any] = {
        "fetch_allowed_hosts": ["127.0.0.1"],
        "retry_base_seconds": 0.01,
        "http_timeout_seconds": 1.0,
        "aws_region": AWS_REGION,
        "public_base_url": "https://api.pricealert.test",
    }
    values.update(overrides)
    return NotifierSettings(**values)


def make_notifier(
    sm: async_sessionmaker[AsyncSession], settings: NotifierSettings
) -> tuple[Notifier, GuardedClient]:
    client = GuardedClient.from_settings(settings, total_timeout=settings.http_timeout_seconds)
    return Notifier(sm, settings, build_senders(settings, client), random.Random(7)), client


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Moto's AWS with throwaway credentials: nothing real is ever reached."""
    with moto_aws(monkeypatch, AWS_REGION):
        yield


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as hook:
        await hook.start()
        yield hook


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    async with SmtpServer() as server:
        yield server


@pytest.fixture
async def notifier(
    sessionmaker: async_sessionmaker[AsyncSession], smtp: SmtpServer
) -> AsyncIterator[Notifier]:
    settings = notifier_settings(smtp_host=smtp.host, smtp_port=smtp.port)
    built, client = make_notifier(sessionmaker, settings)
    yield built
    await client.aclose()
