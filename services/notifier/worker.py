"""Notifier worker wiring: `arq services.notifier.worker.WorkerSettings`."""

from __future__ import annotations

from typing import Any

from pricealert.http import GuardedClient
from pricealert.queues import (
    NOTIFY_QUEUE,
    DeliverNotification,
    DeliverNotifications,
    SendOneTimeToken,
)
from pricealert.worker import JobContext, build_worker_settings, job, periodic
from services.notifier.channels import build_senders
from services.notifier.delivery import Notifier
from services.notifier.settings import NotifierSettings
from services.notifier.tasks import (
    deliver_notification,
    deliver_notifications,
    expire_held,
    purge_tokens,
    send_one_time_token,
    sweep_pending,
    sweep_unsent_tokens,
)
from services.notifier.tokens import TokenSender


def worker_settings(settings: NotifierSettings) -> dict[str, Any]:
    """The arq settings of a notifier worker run with `settings` (tests, the demo, benchmarks)."""

    async def startup(ctx: JobContext) -> None:
        client = GuardedClient.from_settings(settings, total_timeout=settings.http_timeout_seconds)
        ctx["http_client"] = client
        senders = build_senders(settings, client)
        ctx["notifier"] = Notifier(ctx["sessionmaker"], settings, senders)
        ctx["token_sender"] = TokenSender(ctx["sessionmaker"], settings, senders)

    async def shutdown(ctx: JobContext) -> None:
        if "http_client" in ctx:
            await ctx["http_client"].aclose()

    timeout = settings.job_timeout_seconds
    return build_worker_settings(
        service="notifier",
        queue=NOTIFY_QUEUE,
        settings=settings,
        functions=[
            job(
                NOTIFY_QUEUE,
                DeliverNotification,
                deliver_notification,
                timeout=settings.job_timeout_seconds,
            ),
            job(
                NOTIFY_QUEUE,
                DeliverNotifications,
                deliver_notifications,
                timeout=settings.job_timeout_seconds,
            ),
            job(
                NOTIFY_QUEUE,
                SendOneTimeToken,
                send_one_time_token,
                timeout=settings.job_timeout_seconds,
            ),
        ],
        cron_jobs=[
            *(
                periodic(fn, seconds=settings.sweep_interval_seconds, timeout=timeout)
                for fn in (sweep_pending, sweep_unsent_tokens, expire_held)
            ),
            periodic(purge_tokens, seconds=3600, timeout=timeout),
        ],
        max_jobs=settings.worker_concurrency,
        job_timeout=settings.job_timeout_seconds,
        on_startup=startup,
        on_shutdown=shutdown,
    )


WorkerSettings = worker_settings(NotifierSettings())
