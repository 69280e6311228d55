"""Fixtures for infra tests: moto for every AWS API, Redis db 12 for queue lengths."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

from tests.support.aws import moto_aws

REDIS_URL = os.environ.get(
    "PRICEALERT_TEST_INFRA_REDIS_URL",
    os.environ.get("PRICEALERT_TEST_REDIS", "redis://127.0.0.1:6379") + "/12",
)
REGION = "ap-northeast-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every boto3 call inside the test goes to moto, with throwaway credentials."""
    with moto_aws(monkeypatch, REGION):
        yield


@pytest.fixture
def redis_db12() -> Iterator[redis.Redis]:
    """Redis db 12, empty at the start and emptied again at the end."""
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    try:
        yield client
    finally:
        client.flushdb()
        client.close()
