"""Settings of the web UI service (env prefix `PRICEALERT_`)."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from pricealert.settings import PriceAlertSettings


class WebSettings(PriceAlertSettings):
    service_name: str = "web"
    #: The API the web UI is a client of: its /v1 is the only way to the data.
    api_url: str = "http://127.0.0.1:8000"
    #: Total time one API call may take before the page says the service is unavailable.
    api_timeout_seconds: float = Field(default=10.0, gt=0)
    #: Cookies are `Secure` (sent over HTTPS only). Unset: on in staging and production, off
    #: in development and test (http://127.0.0.1).
    cookie_secure: bool | None = None
    #: Proxies whose X-Forwarded-For is believed (the ALB's subnets), as for the API.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: Largest form body accepted, in bytes.
    max_form_bytes: int = Field(default=64 * 1024, ge=1024)
    #: How long after a page was served its load-time beacon is still counted.
    beacon_max_age_seconds: int = Field(default=600, ge=10)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def secure_cookies(self) -> bool:
        """Whether cookies carry `Secure`."""
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.environment in {"staging", "production"}


@lru_cache
def get_web_settings() -> WebSettings:
    return WebSettings()
