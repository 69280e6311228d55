"""Queue contracts: the only way services meet.

Each queue has one job function name and one pydantic payload. Payloads travel
as JSON (see `serializer`/`deserializer`), never pickle. Job ids are
deterministic where duplicates must collapse: arq refuses a second job with the
id of one still queued or running.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Final

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from arq.connections import ArqRedis
    from sqlalchemy.ext.asyncio import AsyncSession

SCRAPE_QUEUE: Final = "pricealert:scrape"
EVALUATE_QUEUE: Final = "pricealert:evaluate"
NOTIFY_QUEUE: Final = "pricealert:notify"
ALL_QUEUES: Final = (SCRAPE_QUEUE, EVALUATE_QUEUE, NOTIFY_QUEUE)

#: Jobs whose ids start so are batches (of checks, of evaluations); the size is the id's
#: last part, so queue lengths can count the work, not the jobs.
BATCH_JOB_PREFIX: Final = "checks:"
EVALUATIONS_JOB_PREFIX: Final = "evaluations:"
DELIVERIES_JOB_PREFIX: Final = "deliveries:"

CHECK_PRODUCT: Final = "check_product"
CHECK_BATCH: Final = "check_batch"
EVALUATE_CHANGE: Final = "evaluate_change"
EVALUATE_CHANGES: Final = "evaluate_changes"
DELIVER_NOTIFICATION: Final = "deliver_notification"
DELIVER_NOTIFICATIONS: Final = "deliver_notifications"
SEND_ONE_TIME_TOKEN: Final = "send_one_time_token"  # noqa: S105 - a job name, not a secret


class JobPayload(BaseModel):
    """A job's arguments; the class names its function and queue, the values its id."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    function: ClassVar[str]
    queue: ClassVar[str]

    def __init_subclass__(cls, *, function: str, queue: str, **kwargs: Any) -> None:
        # Each payload names its job on its class line: `class X(JobPayload, function=, queue=)`.
        super().__init_subclass__(**kwargs)
        cls.function, cls.queue = function, queue

    def job_id(self) -> str:
        raise NotImplementedError


class CheckProduct(JobPayload, function=CHECK_PRODUCT, queue=SCRAPE_QUEUE):
    """Fetch one product now. `lease_token` proves the claim the job acts on."""

    product_id: int
    lease_token: str | None = None

    def job_id(self) -> str:
        # One queued check per product at a time.
        return f"check:{self.product_id}"


class CheckBatch(JobPayload, function=CHECK_BATCH, queue=SCRAPE_QUEUE):
    """Check the products of one scheduler claim, together.

    The scheduler's unit of work: products leased under one `lease_token`, checked
    concurrently by one job whose database writes are shared (one statement records all
    the unchanged checks). A product is in at most one batch at a time because its lease
    is; the id names the claim, its first product and its size, so re-queuing a batch
    collapses.
    """

    lease_token: str
    product_ids: Annotated[tuple[int, ...], Field(min_length=1)]

    def job_id(self) -> str:
        # The size is in the id so that queue lengths count checks (see `work_in_queue`).
        return f"{BATCH_JOB_PREFIX}{self.lease_token}:{self.product_ids[0]}:{len(self.product_ids)}"


class EvaluateChange(JobPayload, function=EVALUATE_CHANGE, queue=EVALUATE_QUEUE):
    """Evaluate the rules of a product against one recorded change (history row)."""

    product_id: int
    history_id: int

    def job_id(self) -> str:
        return f"evaluate:{self.history_id}"


class EvaluateChanges(JobPayload, function=EVALUATE_CHANGES, queue=EVALUATE_QUEUE):
    """Evaluate several recorded changes (of different products), each as `EvaluateChange`
    would: what one scraper batch found changed, handed on in one job."""

    changes: Annotated[tuple[EvaluateChange, ...], Field(min_length=1)]

    def job_id(self) -> str:
        return f"{EVALUATIONS_JOB_PREFIX}{self.changes[0].history_id}:{len(self.changes)}"


class DeliverNotification(JobPayload, function=DELIVER_NOTIFICATION, queue=NOTIFY_QUEUE):
    """Deliver one notification through its channel."""

    notification_id: str

    def job_id(self) -> str:
        return f"deliver:{self.notification_id}"


class DeliverNotifications(JobPayload, function=DELIVER_NOTIFICATIONS, queue=NOTIFY_QUEUE):
    """Deliver several notifications (what one evaluation job created), each as
    `DeliverNotification` would."""

    notification_ids: Annotated[tuple[str, ...], Field(min_length=1)]

    def job_id(self) -> str:
        return f"{DELIVERIES_JOB_PREFIX}{self.notification_ids[0]}:{len(self.notification_ids)}"


class SendOneTimeToken(JobPayload, function=SEND_ONE_TIME_TOKEN, queue=NOTIFY_QUEUE):
    """Send a one-time token's message (a verification code, a recovery token) to its
    address; the notifier derives the secret, the API never sees it."""

    token_id: str

    def job_id(self) -> str:
        return f"token:{self.token_id}"


def deliveries(notification_ids: Sequence[str]) -> list[JobPayload]:
    """The job(s) that deliver these notifications: one, a batch when there are several."""
    if len(notification_ids) == 1:
        return [DeliverNotification(notification_id=notification_ids[0])]
    return (
        [DeliverNotifications(notification_ids=tuple(notification_ids))] if notification_ids else []
    )


def work_in_queue(job_ids: Iterable[bytes | str]) -> int:
    """The units of work that queued jobs stand for: a batch counts its size.

    Queue lengths are reported in units of work (checks, evaluations, deliveries), so that
    "queue length" (the plan's backlog alert, the workers' scaling target) means the same
    whether work travels alone or in batches.
    """
    total = 0
    for raw in job_ids:
        job_id = raw.decode() if isinstance(raw, bytes) else raw
        size = job_id.rsplit(":", 1)[-1] if job_id.startswith(_BATCH_PREFIXES) else ""
        total += int(size) if size.isdigit() else 1
    return total


#: Each queue's batch job prefix: ZSCAN picks out its batches, so a long queue of single
#: jobs (a notifier backlog of deferred retries) is counted by ZCARD, not read.
BATCH_PREFIX_OF_QUEUE: Final = {
    SCRAPE_QUEUE: BATCH_JOB_PREFIX,
    EVALUATE_QUEUE: EVALUATIONS_JOB_PREFIX,
    NOTIFY_QUEUE: DELIVERIES_JOB_PREFIX,
}
_BATCH_PREFIXES: Final = tuple(BATCH_PREFIX_OF_QUEUE.values())
_SCAN_COUNT: Final = 5000


async def queue_length(redis: ArqRedis, queue: str) -> int:
    """Work waiting or running in `queue`: its jobs, a batch counting its size."""
    total = int(await redis.zcard(queue))
    prefix = BATCH_PREFIX_OF_QUEUE.get(queue)
    if prefix is not None and total:
        async for member, _score in redis.zscan_iter(queue, match=prefix + "*", count=_SCAN_COUNT):
            total += work_in_queue((member,)) - 1
    return total


async def enqueue(redis: ArqRedis, job: JobPayload, *, defer_seconds: float | None = None) -> bool:
    """Queue a job under its deterministic id; False when that job is already queued."""
    queued = await redis.enqueue_job(
        job.function,
        job.model_dump(mode="json"),
        _job_id=job.job_id(),
        _queue_name=job.queue,
        _defer_by=defer_seconds,
    )
    return queued is not None


#: arq's enqueue (WATCH, EXISTS, MULTI, PSETEX, ZADD, EXEC: three round trips a job) for
#: many jobs in one round trip, each job as atomic as arq makes it. KEYS: the queue, then
#: each job's job key and result key; ARGV: score, expiry (ms), then each job's id and body.
_ENQUEUE_MANY = """
local queued = 0
for i = 1, (#KEYS - 1) / 2 do
    if redis.call('EXISTS', KEYS[2 * i], KEYS[2 * i + 1]) == 0 then
        redis.call('PSETEX', KEYS[2 * i], ARGV[2], ARGV[2 + 2 * i])
        redis.call('ZADD', KEYS[1], ARGV[1], ARGV[1 + 2 * i])
        queued = queued + 1
    end
end
return queued
"""


async def enqueue_many(redis: ArqRedis, jobs: Sequence[JobPayload]) -> int:
    """Queue jobs of one queue at once, as `enqueue` would each (same ids, bodies and
    expiry); a job already queued or running collapses. Returns how many were new."""
    from arq.constants import job_key_prefix, result_key_prefix
    from arq.jobs import serialize_job
    from arq.utils import timestamp_ms

    if not jobs:
        return 0
    queue = jobs[0].queue
    if any(job.queue != queue for job in jobs):
        raise ValueError("enqueue_many takes the jobs of one queue")
    enqueued_at = timestamp_ms()
    keys: list[str] = [queue]
    args: list[str | int | bytes] = [enqueued_at, redis.expires_extra_ms]
    for job in jobs:
        job_id = job.job_id()
        keys += [job_key_prefix + job_id, result_key_prefix + job_id]
        body = serialize_job(
            job.function, (job.model_dump(mode="json"),), {}, None, enqueued_at,
            serializer=serializer,
        )  # fmt: skip
        args += [job_id, body]
    # EVALSHA, loading the script on first use (and again after a Redis restart).
    queued = await redis.register_script(_ENQUEUE_MANY)(keys=keys, args=args)
    return int(queued)


def enqueue_after_commit(session: AsyncSession, redis: ArqRedis, job: JobPayload) -> None:
    """Queue `job` once the session's unit of work has committed (never before)."""
    from pricealert.db import after_commit

    async def _enqueue() -> None:
        await enqueue(redis, job)

    after_commit(session, _enqueue)


def queue_client(redis_url: str) -> ArqRedis:
    """A JSON-speaking arq client that connects lazily (a service starts even with Redis down)."""
    from arq.connections import ArqRedis
    from redis.asyncio import ConnectionPool

    return ArqRedis(
        ConnectionPool.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5),
        job_serializer=serializer,
        job_deserializer=deserializer,
        default_queue_name=SCRAPE_QUEUE,
    )


def serializer(obj: dict[str, Any]) -> bytes:
    """arq job serializer: JSON instead of pickle."""
    return json.dumps(obj, default=str, separators=(",", ":")).encode()


def deserializer(data: bytes) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(data)
    return result
