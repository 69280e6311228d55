"""Publish arq queue lengths to CloudWatch, so worker services can scale on backlog.

Each queue is an arq sorted set named as in `pricealert.queues.ALL_QUEUES`; its
length is `ZCARD` (queued, deferred and running jobs: arq removes a job from the
set only when it finishes), except that the scrape and evaluate queues count the
checks and evaluations their jobs stand for (a batch names its size in its id). Every round puts one
datapoint per queue into namespace `PriceAlert`, metric `QueueLength`, dimension
`Queue` - the names the scaling policies in `infra/services.yaml` divide by the running task count.

Run as its own one-task ECS service:
`python -m pricealert.queue_metrics_publisher --interval 60`.
A failed round is logged and the loop goes on; the `queue-metrics-missing`
alarm fires when no datapoint arrives for five minutes.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING, Final, cast

import boto3
import redis
from botocore.exceptions import BotoCoreError, ClientError

from pricealert.queues import ALL_QUEUES, BATCH_PREFIX_OF_QUEUE, work_in_queue
from pricealert.settings import PriceAlertSettings

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient

NAMESPACE: Final = "PriceAlert"
METRIC_NAME: Final = "QueueLength"
DIMENSION_NAME: Final = "Queue"

logger = logging.getLogger(__name__)


def read_queue_lengths(client: redis.Redis, queues: Sequence[str] = ALL_QUEUES) -> dict[str, int]:
    """Return the length of each arq queue: its jobs (ZCARD of its sorted set), a batch
    counting its size (`pricealert.queues.queue_length`, here with a synchronous client)."""
    lengths = {}
    for queue in queues:
        total = int(cast(int, client.zcard(queue)))
        prefix = BATCH_PREFIX_OF_QUEUE.get(queue)
        if prefix is not None and total:
            for member, _score in client.zscan_iter(queue, match=prefix + "*", count=5000):
                total += work_in_queue((member,)) - 1
        lengths[queue] = total
    return lengths


def put_queue_lengths(
    cloudwatch: CloudWatchClient, lengths: Mapping[str, int], *, at: datetime | None = None
) -> None:
    """Put one `PriceAlert/QueueLength` datapoint per queue, stamped `at` (default now)."""
    timestamp = at or datetime.now(UTC)
    if timestamp.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware")
    cloudwatch.put_metric_data(
        Namespace=NAMESPACE,
        MetricData=[
            {
                "MetricName": METRIC_NAME,
                "Dimensions": [{"Name": DIMENSION_NAME, "Value": queue}],
                "Timestamp": timestamp,
                "Value": float(length),
                "Unit": "Count",
            }
            for queue, length in lengths.items()
        ],
    )


def publish_once(
    client: redis.Redis,
    cloudwatch: CloudWatchClient,
    queues: Sequence[str] = ALL_QUEUES,
) -> dict[str, int]:
    """Read every queue's length and publish it; return what was published."""
    lengths = read_queue_lengths(client, queues)
    put_queue_lengths(cloudwatch, lengths)
    return lengths


def run_publisher(
    client: redis.Redis,
    cloudwatch: CloudWatchClient,
    *,
    interval: float,
    stop: threading.Event,
    queues: Sequence[str] = ALL_QUEUES,
    max_rounds: int | None = None,
) -> int:
    """Publish every `interval` seconds until `stop` is set; return the rounds that succeeded."""
    succeeded = 0
    rounds = 0
    while not stop.is_set() and (max_rounds is None or rounds < max_rounds):
        rounds += 1
        try:
            lengths = publish_once(client, cloudwatch, queues)
        except (redis.RedisError, BotoCoreError, ClientError) as exc:
            # One failed round must not end the loop: the next may succeed.
            logger.warning(
                "queue_metrics.failed", extra={"error": type(exc).__name__, "detail": str(exc)}
            )
        else:
            succeeded += 1
            logger.info("queue_metrics.published", extra={"lengths": lengths})
        if max_rounds is not None and rounds >= max_rounds:
            break
        stop.wait(interval)
    return succeeded


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: publish once, or loop until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(
        prog="python -m pricealert.queue_metrics_publisher",
        description="Publish arq queue lengths to CloudWatch (PriceAlert/QueueLength).",
    )
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between rounds")
    parser.add_argument("--once", action="store_true", help="publish one round and exit")
    args = parser.parse_args(argv)
    if args.interval <= 0:
        parser.error("--interval must be positive")

    settings = PriceAlertSettings()
    client = redis.Redis.from_url(settings.redis_url)
    cloudwatch: CloudWatchClient = boto3.client("cloudwatch")
    try:
        if args.once:
            try:
                publish_once(client, cloudwatch)
            except (redis.RedisError, BotoCoreError, ClientError) as exc:
                print(f"error: queue_metrics_failed: {exc}", file=sys.stderr)
                return 2
            return 0
        stop = threading.Event()

        def _stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        run_publisher(client, cloudwatch, interval=args.interval, stop=stop)
        return 0
    finally:
        client.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
