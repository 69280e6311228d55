"""Serve backup health (`backup_health`) as Prometheus metrics.

    pricealert_backup_last_success_timestamp_seconds{kind, target}
        Unix time of the newest good backup; 0 when there is none (the stale alert
        then fires: no backup at all is the stalest backup there is).
    pricealert_backup_last_failure_timestamp_seconds{kind, target}
        Unix time of the last recorded failed attempt (pg_dump only); 0 when none.
    pricealert_backup_check_success{kind}
        1 when the last read of the backup location worked, 0 when it did not (the
        timestamps then keep their last read values, so staleness keeps growing).

The store and the RDS API are read every `--interval` seconds (300), not per
scrape: a 15 s scrape of S3 listings would cost money and say nothing new.

    python -m pricealert_ops.backup_exporter --port 9188 [--interval 300]

Settings: PRICEALERT_BACKUP_BUCKET / _PREFIX / _REGION / _S3_ENDPOINT_URL as for
`pricealert backup`, and PRICEALERT_BACKUP_RDS_INSTANCE, the RDS instance whose
snapshots count (empty: no rds_snapshot kind, as in compose).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Final

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from pricealert.errors import PriceAlertError
from pricealert_ops.backup import BackupSettings
from pricealert_ops.backup_health import (
    PG_DUMP,
    RDS_SNAPSHOT,
    BackupHealth,
    dump_health,
    snapshot_health,
)

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient

LAST_SUCCESS: Final = "pricealert_backup_last_success_timestamp_seconds"
LAST_FAILURE: Final = "pricealert_backup_last_failure_timestamp_seconds"
CHECK_SUCCESS: Final = "pricealert_backup_check_success"
#: The names a rule or panel may use (monitoring/exporters.yml lists them; a test compares).
METRIC_NAMES: Final = (LAST_SUCCESS, LAST_FAILURE, CHECK_SUCCESS)
_READ_ERRORS: Final = (PriceAlertError, BotoCoreError, ClientError, OSError, ValueError)

logger = logging.getLogger(__name__)


class BackupExporterSettings(BackupSettings):
    """`BackupSettings` plus the RDS instance whose snapshots count."""

    backup_rds_instance: str = ""


class BackupMetrics:
    """The exporter's gauges in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.last_success = Gauge(
            LAST_SUCCESS,
            "Unix time of the newest good backup of this kind and target (0: none).",
            ["kind", "target"],
            registry=self.registry,
        )
        self.last_failure = Gauge(
            LAST_FAILURE,
            "Unix time of the last failed backup attempt of this kind and target (0: none).",
            ["kind", "target"],
            registry=self.registry,
        )
        self.check_success = Gauge(
            CHECK_SUCCESS,
            "1 when the last read of this kind's backup location worked, else 0.",
            ["kind"],
            registry=self.registry,
        )

    def observe(self, kind: str, read: Callable[[], list[BackupHealth]]) -> bool:
        """Read one kind's health into the gauges; False (and check_success 0) on failure."""
        try:
            found = read()
        except _READ_ERRORS as exc:
            logger.warning(
                "backup_exporter.read_failed",
                extra={"kind": kind, "error": type(exc).__name__, "detail": str(exc)},
            )
            self.check_success.labels(kind).set(0)
            return False
        for health in found:
            success = health.last_success.timestamp() if health.last_success else 0.0
            failure = health.last_failure.timestamp() if health.last_failure else 0.0
            self.last_success.labels(health.kind, health.target).set(success)
            self.last_failure.labels(health.kind, health.target).set(failure)
        self.check_success.labels(kind).set(1)
        return True


def refresh(
    metrics: BackupMetrics, settings: BackupExporterSettings, rds: RDSClient | None
) -> bool:
    """Read every configured kind once; True when all reads worked."""
    ok = metrics.observe(PG_DUMP, lambda: dump_health(settings.store(), settings.backup_prefix))
    if settings.backup_rds_instance and rds is not None:
        instance = settings.backup_rds_instance
        ok = metrics.observe(RDS_SNAPSHOT, lambda: [snapshot_health(rds, instance)]) and ok
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: serve /metrics on --port, re-reading every --interval seconds."""
    parser = argparse.ArgumentParser(
        prog="python -m pricealert_ops.backup_exporter",
        description="Serve backup health as Prometheus metrics.",
    )
    parser.add_argument("--port", type=int, default=9188)
    parser.add_argument("--address", default="0.0.0.0")  # noqa: S104 - scraped by Prometheus
    parser.add_argument("--interval", type=float, default=300.0, help="seconds between reads")
    args = parser.parse_args(argv)
    if args.interval <= 0:
        parser.error("--interval must be positive")
    settings = BackupExporterSettings()
    if not settings.backup_bucket:
        parser.error("PRICEALERT_BACKUP_BUCKET is not set: nothing to watch")
    rds: RDSClient | None = (
        boto3.client("rds", region_name=settings.backup_region)
        if settings.backup_rds_instance
        else None
    )
    metrics = BackupMetrics()
    server, _thread = start_http_server(args.port, addr=args.address, registry=metrics.registry)
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        while not stop.is_set():
            refresh(metrics, settings, rds)
            stop.wait(args.interval)
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
