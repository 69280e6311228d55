"""What every arq worker shares: wiring, job context, job metrics, schema check.

A service's `worker.py` calls `build_worker_settings(...)` with its job functions;
each job is `async def job(ctx: JobContext, payload: SomePayload) -> None`, where
the payload is the pydantic model of its queue contract. The wrapper:

- validates the JSON payload (an invalid one is logged and dropped, not retried);
- binds `job_id`, `job_try`, `queue` to every log line of the job;
- records `pricealert_jobs_total{outcome}`, `pricealert_job_duration_seconds` and
  `pricealert_jobs_in_progress`.

Only `arq.Retry` re-queues a job (arq's semantics); jobs raise it for transient
failures and record permanent ones in PostgreSQL themselves.

A worker that cannot start for a reason a person must fix (the schema is not
migrated, its metrics port is taken) logs one `worker.cannot_start` line naming
the error and exits with `EXIT_CANNOT_START` (78, sysexits' EX_CONFIG): the supervisor does
not restart it, since a restart would fail the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn, TypeVar

from arq import Retry
from arq.connections import RedisSettings
from arq.cron import CronJob, cron
from arq.typing import WorkerCoroutine
from arq.worker import Function, func
from prometheus_client import start_http_server
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pricealert import metrics, queues
from pricealert.allocator import tune_for
from pricealert.db import create_engine, create_sessionmaker
from pricealert.db.migrate import current_heads
from pricealert.logging import (
    bind_context,
    clear_context,
    configure_logging,
    get_logger,
    set_service,
)
from pricealert.queues import JobPayload
from pricealert.settings import PriceAlertSettings
from pricealert.supervised import EXIT_CANNOT_START, notify_ready

P = TypeVar("P", bound=JobPayload)
JobContext = dict[str, Any]
JobFunction = Callable[[JobContext, P], Awaitable[Any]]
Hook = Callable[[JobContext], Awaitable[None]]

_log = get_logger(__name__)
QUEUE_LENGTH_INTERVAL_SECONDS = 5.0
#: arq keeps a job "in progress" for its timeout + 10 s; a job whose worker was killed is
#: re-run by arq only then, and a new job with its id collapses into it until then.
ARQ_IN_PROGRESS_MARGIN_SECONDS = 10.0


class SchemaOutdated(RuntimeError):
    """The database is not at the migrations' head: run `pricealert migrate` first."""


def cannot_start(service: str, error: str, detail: str) -> NoReturn:
    """Log the named reason in one line and exit with `EXIT_CANNOT_START` (no traceback)."""
    _log.error("worker.cannot_start", service=service, error=error, detail=detail)
    raise SystemExit(EXIT_CANNOT_START)


def serve_metrics(service: str, port: int) -> None:
    """The worker's /metrics on `port`, or a named exit when the port is taken."""
    try:
        start_http_server(port, addr="0.0.0.0")  # noqa: S104 - scraped by Prometheus
    except OSError as exc:
        cannot_start(
            service,
            "metrics_port_in_use",
            f"cannot serve /metrics on port {port}: {exc.strerror} (PRICEALERT_METRICS_PORT; "
            "`pricealert run --metrics-port-base` picks the workers' ports)",
        )


def job(queue: str, payload_model: type[P], fn: JobFunction[P], *, timeout: float) -> Function:
    """An arq function running `fn` with a validated payload, log context and metrics."""
    name = payload_model.function

    @functools.wraps(fn)
    async def run(ctx: JobContext, raw: dict[str, Any]) -> Any:
        clear_context()
        bind_context(job_id=ctx.get("job_id"), job_try=ctx.get("job_try"), queue=queue)
        in_progress = metrics.JOBS_IN_PROGRESS.labels(queue, name)
        in_progress.inc()
        started = time.perf_counter()
        outcome = "failure"
        try:
            try:
                payload = payload_model.model_validate(raw)
            except ValidationError as exc:
                _log.error("job.invalid_payload", function=name, errors=exc.errors())
                outcome = "invalid"
                return None
            result = await fn(ctx, payload)
            outcome = "success"
            return result
        except Retry:
            outcome = "retry"
            raise
        except Exception:
            _log.exception("job.failed", function=name)
            raise
        finally:
            in_progress.dec()
            metrics.JOBS.labels(queue, name, outcome).inc()
            metrics.JOB_DURATION.labels(queue, name).observe(time.perf_counter() - started)
            clear_context()

    return func(run, name=name, timeout=timeout, keep_result=0, max_tries=5)


async def check_schema(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Refuse to start on a database whose schema is not the code's."""
    async with sessionmaker() as session:
        try:
            rows = await session.execute(text("SELECT version_num FROM alembic_version"))
        except Exception as exc:
            raise SchemaOutdated("the database has no schema: run `pricealert migrate`") from exc
        found = {row[0] for row in rows}
    expected = current_heads()
    if found != expected:
        raise SchemaOutdated(
            f"database schema {sorted(found)} is not {sorted(expected)}: run `pricealert migrate`"
        )


async def _report_queue_lengths(ctx: JobContext) -> None:
    redis = ctx["redis"]
    while True:
        with contextlib.suppress(Exception):  # Redis away: the gauge keeps its last value
            for queue in queues.ALL_QUEUES:
                metrics.QUEUE_LENGTH.labels(queue).set(await queues.queue_length(redis, queue))
        await asyncio.sleep(QUEUE_LENGTH_INTERVAL_SECONDS)


def every(seconds: int) -> dict[str, Any]:
    """arq cron times for a period that divides a minute or an hour."""
    if seconds < 60:
        return {"second": set(range(0, 60, seconds))}
    return {"minute": set(range(0, 60, seconds // 60)), "second": 0}


def periodic(fn: WorkerCoroutine, *, seconds: int, timeout: float) -> CronJob:
    """A cron job run every `seconds` (see `every`), one run at a time across workers.

    Keep `timeout` short: arq re-runs a killed cron job only after its timeout + 10 s.
    """
    return cron(fn, name=fn.__qualname__, unique=True, timeout=timeout, **every(seconds))


def build_worker_settings(
    *,
    service: str,
    queue: str,
    settings: PriceAlertSettings,
    functions: Sequence[Function],
    cron_jobs: Sequence[CronJob] = (),
    max_jobs: int = 10,
    job_timeout: float = 120,
    on_startup: Hook | None = None,
    on_shutdown: Hook | None = None,
    poll_delay: float = 0.1,
    drain_seconds: int = 20,
) -> dict[str, Any]:
    """The `WorkerSettings` arq's CLI reads: see `pricealert.supervised.service_command`."""
    set_service(service)  # arq logs its first lines before on_startup runs

    async def startup(ctx: JobContext) -> None:
        configure_logging(service, level=settings.log_level, json_output=settings.log_json)
        engine = create_engine(settings)
        ctx["settings"] = settings
        ctx["engine"] = engine
        ctx["sessionmaker"] = create_sessionmaker(engine)
        try:
            await check_schema(ctx["sessionmaker"])
        except SchemaOutdated as exc:
            cannot_start(service, "schema_outdated", str(exc))
        if settings.metrics_port:
            serve_metrics(service, settings.metrics_port)
        ctx["queue_length_task"] = asyncio.create_task(_report_queue_lengths(ctx))
        if on_startup is not None:
            await on_startup(ctx)
        # What startup loaded lives as long as the worker: frozen, out of the cyclic
        # collector's walks (~70 ms a full collection for the evaluator's heap, once per
        # ~4 000 changes, every job in flight waiting); the collector's and glibc's
        # thresholds set for many jobs in flight (pricealert.allocator). As in the API.
        tune_for(settings)
        _log.info("worker.started", service=service, queue=queue)
        notify_ready()  # the supervisor's "… running" line waits for every worker

    async def shutdown(ctx: JobContext) -> None:
        if on_shutdown is not None:
            await on_shutdown(ctx)
        task = ctx.get("queue_length_task")
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if "engine" in ctx:
            await ctx["engine"].dispose()
        _log.info("worker.stopped", service=service)

    return {
        "functions": list(functions),
        "cron_jobs": list(cron_jobs),
        "queue_name": queue,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "on_startup": startup,
        "on_shutdown": shutdown,
        "job_serializer": queues.serializer,
        "job_deserializer": queues.deserializer,
        "keep_result": 0,  # a finished job's id is free again at once (deterministic ids)
        "max_jobs": max_jobs,
        "job_timeout": job_timeout,
        "poll_delay": poll_delay,
        "health_check_interval": 30,
        "job_completion_wait": drain_seconds,  # SIGTERM: finish running jobs first
        "max_tries": 5,
    }
