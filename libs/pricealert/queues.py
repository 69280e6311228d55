"""Queue contracts: the only way services meet.

Each queue has one job function name and one pydantic payload. Payloads travel
as JSON (see `serializer`/`deserializer`), never pickle. Job ids are
deterministic where duplicates must collapse: arq refuses a second job with the
id of one still queued or running.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Final

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from arq.connections import ArqRedis
    from sqlalchemy.ext.asyncio import AsyncSession

SCRAPE_QUEUE: Final = "pricealert:scrape"
EVALUATE_QUEUE: Final = "pricealert:evaluate"
NOTIFY_QUEUE: Final = "pricealert:notify"
ALL_QUEUES: Final = (SCRAPE_QUEUE, EVALUATE_QUEUE, NOTIFY_QUEUE)

CHECK_PRODUCT: Final = "check_product"
CHECK_BATCH: Final = "check_batch"
EVALUATE_CHANGE: Final = "evaluate_change"
DELIVER_NOTIFICATION: Final = "deliver_notification"


class JobPayload(BaseModel):
    """A job's arguments; the class names its function and queue, the values its id."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    function: ClassVar[str]
    queue: ClassVar[str]

    def job_id(self) -> str:
        raise NotImplementedError


class CheckProduct(JobPayload):
    """Fetch one product now. `lease_token` proves the claim the job acts on."""

    function: ClassVar[str] = CHECK_PRODUCT
    queue: ClassVar[str] = SCRAPE_QUEUE
    product_id: int
    lease_token: str | None = None

    def job_id(self) -> str:
        # One queued check per product at a time.
        return f"check:{self.product_id}"


class CheckBatch(JobPayload):
    """Check the products of one scheduler claim, together.

    The scheduler's unit of work: products leased under one `lease_token`, checked
    concurrently by one job whose database writes are shared (one statement records all
    the unchanged checks). A product is in at most one batch at a time because its lease
    is; the id names the claim and its first product, so re-queuing a batch collapses.
    """

    function: ClassVar[str] = CHECK_BATCH
    queue: ClassVar[str] = SCRAPE_QUEUE
    lease_token: str
    product_ids: Annotated[tuple[int, ...], Field(min_length=1)]

    def job_id(self) -> str:
        return f"checks:{self.lease_token}:{self.product_ids[0]}"


class EvaluateChange(JobPayload):
    """Evaluate the rules of a product against one recorded change (history row)."""

    function: ClassVar[str] = EVALUATE_CHANGE
    queue: ClassVar[str] = EVALUATE_QUEUE
    product_id: int
    history_id: int

    def job_id(self) -> str:
        return f"evaluate:{self.history_id}"


class DeliverNotification(JobPayload):
    """Deliver one notification through its channel."""

    function: ClassVar[str] = DELIVER_NOTIFICATION
    queue: ClassVar[str] = NOTIFY_QUEUE
    notification_id: str

    def job_id(self) -> str:
        return f"deliver:{self.notification_id}"


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
