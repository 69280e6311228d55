"""The queue-length publisher: real arq queues in Redis db 12, CloudWatch in moto."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import boto3
import pytest
import redis
from arq import create_pool
from arq.connections import RedisSettings

from pricealert import queue_metrics_publisher as publisher
from pricealert.queues import (
    ALL_QUEUES,
    EVALUATE_QUEUE,
    NOTIFY_QUEUE,
    SCRAPE_QUEUE,
    CheckBatch,
    CheckProduct,
    enqueue,
    queue_client,
    queue_length,
)

# Nothing listens on port 1 of loopback: connecting is refused at once.
UNREACHABLE_REDIS_URL = "redis://127.0.0.1:1/12"


def _datapoints(queue: str) -> list[float]:
    cloudwatch = boto3.client("cloudwatch")
    now = datetime.now(UTC)
    result = cloudwatch.get_metric_statistics(
        Namespace="PriceAlert",
        MetricName="QueueLength",
        Dimensions=[{"Name": "Queue", "Value": queue}],
        StartTime=now - timedelta(minutes=10),
        EndTime=now + timedelta(minutes=10),
        Period=60,
        Statistics=["SampleCount", "Maximum"],
    )
    points = result["Datapoints"]
    return [p["Maximum"] for p in points for _ in range(int(p["SampleCount"]))]


async def test_queue_length_counts_every_job_arq_holds_in_the_queue(
    redis_client: redis.Redis, redis_url: str
) -> None:
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    try:
        for product_id in (1, 2, 3):
            await pool.enqueue_job("check_product", product_id, _queue_name=SCRAPE_QUEUE)
        # A deferred job waits in the same sorted set: it is backlog too.
        await pool.enqueue_job(
            "deliver_notification", "n-1", _queue_name=NOTIFY_QUEUE, _defer_by=3600
        )
    finally:
        await pool.aclose()

    lengths = publisher.read_queue_lengths(redis_client)

    assert lengths == {SCRAPE_QUEUE: 3, EVALUATE_QUEUE: 0, NOTIFY_QUEUE: 1}


async def test_the_scrape_queue_counts_the_checks_of_its_batches(
    redis_client: redis.Redis, redis_url: str
) -> None:
    client = queue_client(redis_url)
    try:
        await enqueue(client, CheckBatch(lease_token="t", product_ids=(1, 2, 3, 4)))
        await enqueue(client, CheckBatch(lease_token="t", product_ids=(5, 6)))
        await enqueue(client, CheckProduct(product_id=7))  # "check now": one check
        assert await queue_length(client, SCRAPE_QUEUE) == 7
    finally:
        await client.aclose(close_connection_pool=True)

    assert publisher.read_queue_lengths(redis_client)[SCRAPE_QUEUE] == 7
    assert redis_client.zcard(SCRAPE_QUEUE) == 3


@pytest.mark.usefixtures("aws")
def test_published_lengths_arrive_under_the_names_the_scaling_policies_read(
    redis_client: redis.Redis,
) -> None:
    redis_client.zadd(SCRAPE_QUEUE, {f"job-{n}": n for n in range(7)})
    redis_client.zadd(EVALUATE_QUEUE, {"job-a": 1})

    published = publisher.publish_once(redis_client, boto3.client("cloudwatch"))

    assert published == {SCRAPE_QUEUE: 7, EVALUATE_QUEUE: 1, NOTIFY_QUEUE: 0}
    metrics = boto3.client("cloudwatch").list_metrics(Namespace="PriceAlert")["Metrics"]
    assert {(m["MetricName"], d["Name"], d["Value"]) for m in metrics for d in m["Dimensions"]} == {
        ("QueueLength", "Queue", queue) for queue in ALL_QUEUES
    }
    assert _datapoints(SCRAPE_QUEUE) == [7.0]
    assert _datapoints(EVALUATE_QUEUE) == [1.0]
    assert _datapoints(NOTIFY_QUEUE) == [0.0]


@pytest.mark.usefixtures("aws")
def test_the_loop_publishes_one_datapoint_per_queue_each_round(redis_client: redis.Redis) -> None:
    redis_client.zadd(NOTIFY_QUEUE, {"job-1": 1, "job-2": 2})

    succeeded = publisher.run_publisher(
        redis_client,
        boto3.client("cloudwatch"),
        interval=0,
        stop=threading.Event(),
        max_rounds=3,
    )

    assert succeeded == 3
    assert _datapoints(NOTIFY_QUEUE) == [2.0, 2.0, 2.0]


@pytest.mark.usefixtures("aws")
def test_a_stop_requested_before_the_first_round_publishes_nothing(
    redis_client: redis.Redis,
) -> None:
    stop = threading.Event()
    stop.set()

    succeeded = publisher.run_publisher(
        redis_client, boto3.client("cloudwatch"), interval=60, stop=stop
    )

    assert succeeded == 0
    assert boto3.client("cloudwatch").list_metrics(Namespace="PriceAlert")["Metrics"] == []


@pytest.mark.usefixtures("aws")
def test_a_round_without_redis_is_logged_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    unreachable = redis.Redis.from_url(UNREACHABLE_REDIS_URL)
    caplog.set_level(logging.WARNING, logger=publisher.__name__)

    succeeded = publisher.run_publisher(
        unreachable, boto3.client("cloudwatch"), interval=0, stop=threading.Event(), max_rounds=2
    )

    assert succeeded == 0
    assert [r.getMessage() for r in caplog.records] == ["queue_metrics.failed"] * 2
    unreachable.close()


def test_a_naive_timestamp_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        publisher.put_queue_lengths(
            None,  # type: ignore[arg-type]  # refused before the client is touched
            {SCRAPE_QUEUE: 1},
            at=datetime(2024, 1, 1),  # noqa: DTZ001 - the naive time is the point
        )


@pytest.mark.usefixtures("aws")
def test_main_once_reads_redis_from_the_settings_and_publishes(
    redis_client: redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRICEALERT_REDIS_URL", redis_url)
    redis_client.zadd(SCRAPE_QUEUE, {"job-1": 1})

    assert publisher.main(["--once"]) == 0

    assert _datapoints(SCRAPE_QUEUE) == [1.0]


@pytest.mark.usefixtures("aws")
def test_main_once_without_redis_reports_a_named_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PRICEALERT_REDIS_URL", UNREACHABLE_REDIS_URL)

    assert publisher.main(["--once"]) == 2

    assert capsys.readouterr().err.startswith("error: queue_metrics_failed: ")
