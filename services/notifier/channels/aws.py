"""Amazon SES and SNS through boto3: clients, and which of their errors are worth a retry."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from services.notifier.channels import PermanentFailure, TransientFailure

if TYPE_CHECKING:
    from mypy_boto3_ses import SESClient
    from mypy_boto3_sns import SNSClient

T = TypeVar("T")

#: Error codes that say the message or its target is wrong: retrying cannot help.
PERMANENT_CODES: Final = frozenset(
    {
        "InvalidParameter",  # SNS: not a valid E.164 number, message too long
        "InvalidParameterValue",
        "MessageRejected",  # SES: the message itself (virus, bad address)
        "EndpointDisabled",
        "OptedOut",
    }
)


def _config() -> Config:
    # Bounded timeouts; botocore's own retries absorb short throttling bursts.
    return Config(
        connect_timeout=5, read_timeout=15, retries={"max_attempts": 3, "mode": "standard"}
    )


def ses_client(*, region: str, endpoint_url: str | None) -> SESClient:
    """An Amazon SES client."""
    return boto3.client("ses", region_name=region, endpoint_url=endpoint_url, config=_config())


def sns_client(*, region: str, endpoint_url: str | None) -> SNSClient:
    """An Amazon SNS client."""
    return boto3.client("sns", region_name=region, endpoint_url=endpoint_url, config=_config())


async def call(fn: Callable[..., T], **kwargs: Any) -> T:
    """Run a blocking boto3 call in a thread; translate its errors into delivery failures."""
    try:
        return await asyncio.to_thread(fn, **kwargs)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "ClientError"))
        reason = f"{code}: {error.get('Message', '')}".strip(": ")
        if code in PERMANENT_CODES:
            raise PermanentFailure(reason) from exc
        # Throttling, 5xx, and our own configuration (identity not verified, access
        # denied): an operator can fix those within the retry window.
        raise TransientFailure(reason) from exc
    except BotoCoreError as exc:  # endpoint unreachable, timeouts
        raise TransientFailure(f"{type(exc).__name__}: {exc}") from exc
