"""Settings of the API service."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from pricealert.settings import PriceAlertSettings


class ApiSettings(PriceAlertSettings):
    service_name: str = "api"
    #: Origins of the web frontend allowed by CORS (comma-separated in the environment).
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: Requests per minute per API key.
    rate_limit_per_minute: int = Field(default=600, ge=1)
    #: Requests with a missing or bad key per minute per client address; past it, every
    #: request from the address is 429 until the minute ends.
    bad_key_limit_per_minute: int = Field(default=30, ge=1)
    #: Sign-ups per hour per client address.
    signup_limit_per_hour: int = Field(default=20, ge=1)
    #: Key recovery requests per hour per client address, and per email address asked for.
    recovery_limit_per_hour: int = Field(default=10, ge=1)
    recovery_limit_per_email_per_hour: int = Field(default=3, ge=1)
    #: Sign-in links asked for, per hour per client address and per email address.
    sign_in_limit_per_hour: int = Field(default=20, ge=1)
    sign_in_limit_per_email_per_hour: int = Field(default=5, ge=1)
    #: How long the key a sign-in link makes (one browser's session) works.
    session_key_ttl_hours: int = Field(default=14 * 24, ge=1, le=90 * 24)
    #: Verification codes (email and SMS) sent per hour per user, and the wait between two
    #: codes for one channel.
    verification_messages_per_hour: int = Field(default=10, ge=1)
    #: SMS codes per user per day, within those (SMS costs money, and "SMS pumping" to
    #: premium numbers is how such endpoints are abused).
    verification_sms_per_day: int = Field(default=5, ge=1)
    verification_resend_interval_seconds: int = Field(default=60, ge=1)
    #: Email and SMS channels a user may have waiting for their code at once.
    max_unverified_channels: int = Field(default=5, ge=1)
    #: Proxies whose X-Forwarded-For is believed (addresses or CIDRs, comma-separated: the
    #: ALB's subnets); empty: the TCP peer is the client.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: How long an API process remembers a live key's principal (seconds; 0: never). A
    #: revocation is broadcast and forgotten at once; this bounds it when the broadcast is
    #: lost, so "a revoked key stops working within a second" needs it at 1 or less.
    key_cache_seconds: float = Field(default=1.0, ge=0)
    #: How long a request waits for a database connection when all are busy: 5 s is ten
    #: times the latency objective already, and a 503 `database_busy` lets the client retry
    #: (the ALB picks a task again) instead of waiting out the workers' 30 s.
    database_pool_timeout_seconds: float = Field(default=5.0, gt=0)
    #: Largest request body accepted, in bytes.
    max_body_bytes: int = 64 * 1024
    default_check_interval_seconds: int = 3600
    min_check_interval_seconds: int = 60
    #: Page previews per minute per API key (each fetches a shop page), within the key's limit.
    preview_limit_per_minute: int = 30
    #: A preview's whole fetch, redirects included, in seconds.
    preview_timeout_seconds: float = 15.0
    #: Largest page a preview reads (bytes, after decompression).
    preview_max_bytes: int = 5 * 1024 * 1024
    #: How often the business gauges are refreshed from PostgreSQL.
    business_metrics_interval_seconds: float = 30.0

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            for entry in value:
                if entry != "*":
                    ipaddress.ip_network(str(entry), strict=False)  # ValueError names it
        return value


@lru_cache
def get_api_settings() -> ApiSettings:
    return ApiSettings()
