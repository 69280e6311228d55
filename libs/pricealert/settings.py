"""Settings: one base class, one subclass per service, env prefix `PRICEALERT_`.

Defaults work on a developer machine with local PostgreSQL and Redis. Outside
`development`/`test`, the base refuses the default secret.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from pricealert.logging import use_json

DEFAULT_SECRET = "dev-only-secret-change-me"  # noqa: S105 - refused outside development


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _fits_a_cron(value: int) -> int:
    if not (0 < value < 60 and 60 % value == 0) and not (value % 60 == 0 and 3600 % value == 0):
        raise ValueError("must divide 60, or be a whole number of minutes dividing 60")
    return value


#: Seconds between a worker's cron runs (arq cron fields): a divisor of a minute, or whole
#: minutes dividing an hour, so the runs fall at the same seconds every hour.
CronSeconds = Annotated[int, AfterValidator(_fits_a_cron)]


class PriceAlertSettings(BaseSettings):
    """What every service shares: where the data lives, how it logs."""

    model_config = SettingsConfigDict(env_prefix="PRICEALERT_", extra="ignore")

    environment: Literal["development", "test", "staging", "production"] = "development"
    service_name: str = "pricealert"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/pricealert"
    #: Connections a process keeps, and the most it opens: 20, none beyond. SQLAlchemy's
    #: overflow connections are closed on return whenever the pool is full, so a process
    #: past its pool opens and closes connections over and over (a backend fork and a new
    #: asyncpg session each): the API at 500 list pages/s served 370-430/s with 10 + 10
    #: overflow and 495-499/s with 20 + 0, the same peak of 20 (README "Benchmarks").
    #: Past 20 busy at once, a request waits in the pool's queue instead.
    database_pool_size: int = 20
    database_max_overflow: int = 0
    #: How long a unit of work waits for a connection when all are busy before it fails
    #: (SQLAlchemy's `TimeoutError`; the API answers 503 `database_busy`, retry).
    database_pool_timeout_seconds: float = Field(default=30.0, gt=0)
    #: A pooled connection idle longer than this is pinged before use (see `pricealert.db`).
    database_ping_after_idle_seconds: float = Field(default=10.0, ge=0)
    redis_url: str = "redis://127.0.0.1:6379/0"
    #: Where the API listens (the supervisor needs it too, so it lives here).
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    #: Where the web UI listens (`pricealert run` binds it on `api_host`).
    web_port: int = 8080
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    #: `json` (production's contract), `console` (for people), `auto`: console on a terminal
    #: in development/test, JSON otherwise (see `pricealert.logging`).
    log_format: Literal["auto", "json", "console"] = "auto"
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET)
    #: Hosts the guarded HTTP client may reach even though they resolve to private
    #: or loopback addresses: `host` or `host:port`, comma-separated. Empty in production.
    fetch_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: Port of the worker's own /metrics endpoint (0: none). The API serves /metrics itself.
    metrics_port: int = 0
    #: glibc's malloc thresholds, fixed when a service starts (`pricealert.allocator`: large
    #: page buffers reused instead of mapped and faulted in afresh); 0: glibc's own.
    malloc_mmap_threshold_bytes: int = Field(default=4 * 2**20, ge=0, le=32 * 2**20)
    malloc_trim_threshold_bytes: int = Field(default=32 * 2**20, ge=0, le=2**31 - 1)
    #: The cyclic collector's first threshold, set when a service starts (`pricealert.allocator`:
    #: many requests in flight keep more young objects alive than Python's 700); 0: Python's own.
    gc_gen0_threshold: int = Field(default=5000, ge=0, le=1_000_000)

    @model_validator(mode="before")
    @classmethod
    def _split_lists(cls, data: object) -> object:
        if isinstance(data, dict):
            for key, value in list(data.items()):
                if key in {"fetch_allowed_hosts", "cors_origins"}:
                    data[key] = _split_csv(value)
        return data

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> PriceAlertSettings:
        if self.environment in {"staging", "production"} and (
            self.secret_key.get_secret_value() == DEFAULT_SECRET
        ):
            raise ValueError("PRICEALERT_SECRET_KEY must be set outside development")
        return self

    @property
    def log_json(self) -> bool:
        """Whether this process logs JSON (`log_format`, resolved against stdout)."""
        return use_json(self.log_format, environment=self.environment)

    @property
    def sync_database_url(self) -> str:
        """The same database for tools that speak libpq (pg_dump, psql)."""
        return self.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


@lru_cache
def get_settings() -> PriceAlertSettings:
    """The base settings of this process (services use their own subclass)."""
    return PriceAlertSettings()
