"""Fixtures for infra tests: moto for every AWS API, a Redis client for queue lengths."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.support.aws import moto_aws

REGION = "ap-northeast-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every boto3 call inside the test goes to moto, with throwaway credentials."""
    with moto_aws(monkeypatch, REGION):
        yield


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A synchronous client (as the publisher uses) on the root conftest's `redis_url`."""
    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.close()
