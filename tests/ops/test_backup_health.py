"""Backup health read from where the backups are: moto's S3 and RDS, a local store, and a
real exporter process scraped over HTTP."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from pricealert_ops import pg
from pricealert_ops.backup import create_backup, dump_key, metadata_key
from pricealert_ops.backup_exporter import (
    CHECK_SUCCESS,
    LAST_FAILURE,
    LAST_SUCCESS,
    METRIC_NAMES,
    BackupExporterSettings,
    BackupMetrics,
    refresh,
)
from pricealert_ops.backup_health import (
    PG_DUMP,
    BackupHealth,
    dump_health,
    failure_key,
    read_failure,
    record_failure,
    snapshot_health,
)
from pricealert_ops.storage import BackupStore, open_store

from .conftest import BUCKET
from .servers import free_port

Cli = Callable[..., tuple[int, str, str]]
PREFIX = "backups/"
T0 = datetime(2026, 11, 30, 19, 0, tzinfo=UTC)


def _put(store: BackupStore, key: str) -> None:
    store.upload(key, io.BytesIO(b"x"))


def _samples(registry_text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(registry_text)
        for s in family.samples
    }


async def test_a_real_dump_counts_as_the_newest_success(
    source_url: str, s3_store: BackupStore
) -> None:
    metadata = await create_backup(source_url, s3_store, PREFIX, now=T0)

    (health,) = dump_health(s3_store, PREFIX)

    assert health == BackupHealth(PG_DUMP, pg.database_name(source_url), T0, None)
    assert metadata.created_at == T0


def test_a_dump_without_its_metadata_is_not_a_success(s3_store: BackupStore) -> None:
    complete = dump_key(PREFIX, "pricealert", T0)
    _put(s3_store, complete)
    _put(s3_store, metadata_key(complete))
    # Newer, but its sidecar never came: pg_dump or the upload died half way.
    _put(s3_store, dump_key(PREFIX, "pricealert", T0 + timedelta(days=7)))

    (health,) = dump_health(s3_store, PREFIX)

    assert health.last_success == T0


def test_a_failure_after_the_newest_success_is_failing_until_the_next_success(
    tmp_path: Path,
) -> None:
    store = open_store(tmp_path.as_uri())
    first = dump_key(PREFIX, "pricealert", T0)
    _put(store, first)
    _put(store, metadata_key(first))
    record_failure(
        store, PREFIX, "pricealert", "pg_dump_too_old", "pg_dump 15", now=T0 + timedelta(days=7)
    )

    (failing,) = dump_health(store, PREFIX)
    assert failing.last_failure == T0 + timedelta(days=7)
    assert failing.failing

    second = dump_key(PREFIX, "pricealert", T0 + timedelta(days=7, hours=1))
    _put(store, second)
    _put(store, metadata_key(second))
    (recovered,) = dump_health(store, PREFIX)
    assert recovered.last_success == T0 + timedelta(days=7, hours=1)
    assert not recovered.failing


def test_a_database_that_only_ever_failed_has_no_success(tmp_path: Path) -> None:
    store = open_store(tmp_path.as_uri())
    record_failure(store, PREFIX, "pricealert", "database_unreachable", "refused", now=T0)

    assert dump_health(store, PREFIX) == [BackupHealth(PG_DUMP, "pricealert", None, T0)]
    assert dump_health(store, "other/") == []


def test_a_failed_create_is_recorded_with_its_error_code(s3_store: BackupStore, cli: Cli) -> None:
    # Nothing listens on port 1: the dump cannot even connect.
    url = "postgresql://postgres@127.0.0.1:1/pricealert"

    code, _, err = cli("backup", "create", f"--database-url={url}", f"--bucket=s3://{BUCKET}")

    assert code == 2
    assert "Traceback" not in err
    record = read_failure(s3_store, PREFIX, "pricealert")
    assert record is not None
    assert record.error in err
    assert datetime.now(UTC) - record.failed_at < timedelta(minutes=1)
    assert s3_store.exists(failure_key(PREFIX, "pricealert"))
    code, out, _ = cli("backup", "list", f"--bucket=s3://{BUCKET}")
    assert code == 0
    assert (
        f"LAST ATTEMPT FAILED {record.failed_at.isoformat()}  pricealert  {record.error}: " in out
    )


def test_the_newest_available_rds_snapshot_is_the_success(aws: None) -> None:
    rds = boto3.client("rds", region_name="us-east-1")
    rds.create_db_instance(
        DBInstanceIdentifier="pricealert-production",
        DBInstanceClass="db.t3.large",
        Engine="postgres",
        AllocatedStorage=20,
        MasterUsername="pricealert",
        MasterUserPassword="not-a-real-password",
    )
    created = rds.create_db_snapshot(
        DBInstanceIdentifier="pricealert-production", DBSnapshotIdentifier="daily-1"
    )["DBSnapshot"]["SnapshotCreateTime"]

    health = snapshot_health(rds, "pricealert-production")

    assert health.kind == "rds_snapshot"
    assert health.last_success == created
    assert health.last_success is not None
    assert health.last_success.tzinfo is not None
    assert snapshot_health(rds, "another-instance").last_success is None


def test_an_unreadable_store_reports_a_failed_check_and_keeps_the_last_timestamps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_dir = tmp_path / "store"
    store = open_store(store_dir.as_uri())
    key = dump_key(PREFIX, "pricealert", T0)
    _put(store, key)
    _put(store, metadata_key(key))
    monkeypatch.setenv("PRICEALERT_BACKUP_BUCKET", store_dir.as_uri())
    metrics = BackupMetrics()
    settings = BackupExporterSettings()

    assert refresh(metrics, settings, None)
    success = ("pricealert", "pg_dump")
    assert (
        metrics.registry.get_sample_value(LAST_SUCCESS, {"kind": success[1], "target": success[0]})
        == T0.timestamp()
    )

    monkeypatch.setenv("PRICEALERT_BACKUP_BUCKET", "ftp://nowhere")
    assert not refresh(metrics, BackupExporterSettings(), None)
    assert metrics.registry.get_sample_value(CHECK_SUCCESS, {"kind": "pg_dump"}) == 0
    assert (
        metrics.registry.get_sample_value(LAST_SUCCESS, {"kind": "pg_dump", "target": "pricealert"})
        == T0.timestamp()
    )


def _scrape(url: str, process: subprocess.Popen[bytes], want: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - local test URL
                text = response.read().decode()
            if want in text:
                return str(text)
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{want} never appeared at {url}")


def test_the_exporter_process_serves_the_store_it_watches_over_http(tmp_path: Path) -> None:
    store = open_store(tmp_path.as_uri())
    key = dump_key(PREFIX, "pricealert", T0)
    _put(store, key)
    _put(store, metadata_key(key))
    record_failure(
        store, PREFIX, "pricealert", "pg_tool_failed", "disk full", now=T0 + timedelta(days=7)
    )
    port = free_port()
    env = {**os.environ, "PRICEALERT_BACKUP_BUCKET": tmp_path.as_uri()}
    env.pop("PRICEALERT_BACKUP_RDS_INSTANCE", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "pricealert_ops.backup_exporter", "--port", str(port),
         "--address", "127.0.0.1", "--interval", "60"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        text = _scrape(f"http://127.0.0.1:{port}/metrics", process, CHECK_SUCCESS + "{")
    finally:
        process.terminate()
        process.communicate(timeout=10)

    samples = _samples(text)
    dump = (("kind", "pg_dump"), ("target", "pricealert"))
    assert samples[(LAST_SUCCESS, dump)] == T0.timestamp()
    assert samples[(LAST_FAILURE, dump)] == (T0 + timedelta(days=7)).timestamp()
    assert samples[(CHECK_SUCCESS, (("kind", "pg_dump"),))] == 1
    assert not any(labels and dict(labels).get("kind") == "rds_snapshot" for _, labels in samples)
    assert process.returncode == 0  # SIGTERM ends it cleanly


def test_the_metric_contract_lists_exactly_what_the_exporter_serves() -> None:
    root = Path(__file__).resolve().parents[2]
    exporters = yaml.safe_load((root / "monitoring" / "exporters.yml").read_text(encoding="utf-8"))
    listed = exporters["exporters"]["pricealert_backup_exporter"]
    metrics = BackupMetrics()
    metrics.observe(PG_DUMP, lambda: [BackupHealth(PG_DUMP, "pricealert", T0, None)])
    served = {family.name for family in metrics.registry.collect() if family.samples}

    assert listed["job"] == "backup"
    assert set(listed["metrics"]) == set(METRIC_NAMES) == served


def test_compose_and_the_aws_collector_scrape_the_exporter_as_job_backup() -> None:
    root = Path(__file__).resolve().parents[2]
    compose = yaml.safe_load((root / "docker-compose.yml").read_text(encoding="utf-8"))
    service = compose["services"]["backup-exporter"]
    prometheus = yaml.safe_load(
        (root / "monitoring" / "prometheus" / "prometheus.yml").read_text(encoding="utf-8")
    )
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}

    assert service["command"][:3] == ["python", "-m", "pricealert_ops.backup_exporter"]
    assert service["environment"]["PRICEALERT_BACKUP_BUCKET"] == "file:///backups"
    assert "backups:/backups" in service["volumes"]
    assert jobs["backup"]["static_configs"] == [{"targets": ["backup-exporter:9188"]}]
    collector = (root / "infra" / "observability.yaml").read_text(encoding="utf-8")
    assert "- job_name: backup" in collector
    assert "static_configs: [{targets: ['127.0.0.1:9188']}]" in collector
    assert 'pricealert_ops.backup_exporter, --address, 127.0.0.1, --port, "9188"' in collector
