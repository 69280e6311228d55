"""Settings of the notifier service (env prefix `PRICEALERT_`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from pricealert.settings import CronSeconds, PriceAlertSettings


class NotifierSettings(PriceAlertSettings):
    service_name: str = "notifier"
    #: Deliveries one worker runs at once (arq `max_jobs`); most of their time is waiting.
    worker_concurrency: int = Field(default=50, ge=1)
    #: Longest one delivery job may take before arq cancels it.
    job_timeout_seconds: float = Field(default=60.0, gt=0)
    #: A claim holds a notification this long: longer than a job may run, so a
    #: notification is never delivered by two live workers at once; a killed
    #: worker's notification is delivered again after it (at-least-once).
    delivery_lease_seconds: float = Field(default=120.0, gt=0)
    #: Transient failures retry after base × 2^(attempt−1), at most `retry_max_delay_seconds`,
    #: with equal jitter (half fixed, half random), until `retry_window_seconds` after the
    #: notification was created; then it fails with the last reason.
    retry_base_seconds: float = Field(default=10.0, gt=0)
    retry_max_delay_seconds: float = Field(default=3600.0, gt=0)
    retry_window_seconds: float = Field(default=24 * 3600.0, gt=0)
    #: The first retries are arq `Retry`s of the same job (precise timing); after this many
    #: tries the job ends and the sweeper re-enqueues the notification when it is due.
    job_retries: int = Field(default=4, ge=0)
    #: How often the sweeper looks for pending notifications whose job vanished
    #: (divides 60, or whole minutes dividing 60: it runs as an arq cron).
    sweep_interval_seconds: CronSeconds = 30
    #: A due notification is re-enqueued once it has been due (and unleased) this long.
    sweep_grace_seconds: float = Field(default=30.0, ge=0)
    sweep_batch_size: int = Field(default=1000, ge=1)
    #: Total time allowed for one Slack or webhook request.
    http_timeout_seconds: float = Field(default=10.0, gt=0)
    #: Public base URL of the API, for links in messages (`{url}/v1/products/{id}/prices`).
    public_base_url: str = "http://127.0.0.1:8000"
    #: Public base URL of the web UI, for sign-in links (`{url}/sign-in/confirm?token=...`).
    #: Configuration, never a request's say: a link must not lead anywhere else.
    web_base_url: str = "http://127.0.0.1:8080"

    # --- email ------------------------------------------------------------------------
    email_backend: Literal["smtp", "ses"] = "smtp"
    email_from: str = "PriceAlert <alerts@pricealert.example>"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    #: STARTTLS after connecting (port 587), or TLS from the first byte (port 465).
    smtp_starttls: bool = False
    smtp_tls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = Field(default=20.0, gt=0)

    # --- AWS (SES for email when `email_backend=ses`, SNS for SMS) ---------------------
    aws_region: str = "ap-northeast-1"
    #: Endpoint overrides (moto, LocalStack); unset in production.
    ses_endpoint_url: str | None = None
    sns_endpoint_url: str | None = None

    @model_validator(mode="after")
    def _one_tls_mode(self) -> NotifierSettings:
        if self.smtp_starttls and self.smtp_tls:
            raise ValueError("PRICEALERT_SMTP_STARTTLS and PRICEALERT_SMTP_TLS exclude each other")
        if self.delivery_lease_seconds <= self.job_timeout_seconds:
            raise ValueError(
                "PRICEALERT_DELIVERY_LEASE_SECONDS must exceed PRICEALERT_JOB_TIMEOUT_SECONDS"
            )
        return self
