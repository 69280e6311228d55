"""Settings of the API service."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import Field
from pydantic_settings import NoDecode

from pricealert.settings import PriceAlertSettings


class ApiSettings(PriceAlertSettings):
    service_name: str = "api"
    #: Origins of the web frontend allowed by CORS (comma-separated in the environment).
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: Requests per minute per API key.
    rate_limit_per_minute: int = 600
    #: Sign-ups per hour per client address.
    signup_limit_per_hour: int = 20
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


@lru_cache
def get_api_settings() -> ApiSettings:
    return ApiSettings()
