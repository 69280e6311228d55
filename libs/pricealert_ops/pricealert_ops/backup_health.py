"""Backup health: when each kind of backup last succeeded, and when it last failed.

Two kinds, each read from where its backups really are, so a metric cannot say
"fine" about a backup that does not exist:

    pg_dump       the weekly logical dump (`pricealert backup create`) in the backup
                  store. A dump counts once its metadata sidecar exists: the sidecar
                  is written last, after pg_dump exited 0 and the upload finished.
                  A failed `create` leaves `<prefix><database>/last-failure.json`
                  (`record_failure`), the one way a failure is visible in the store.
    rds_snapshot  the daily snapshots of the RDS instance (AWS Backup's and RDS's
                  automated ones): the newest snapshot whose status is `available`.
                  Failed AWS Backup jobs page through EventBridge and CloudWatch
                  (infra/alarms.yaml); RDS has no failure record to read here.

`pricealert_ops.backup_exporter` serves these as Prometheus gauges.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel

from pricealert_ops.backup import KEY_TIME_FORMAT
from pricealert_ops.storage import BackupStore, ObjectNotFound

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient

PG_DUMP: Final = "pg_dump"
RDS_SNAPSHOT: Final = "rds_snapshot"
FAILURE_NAME: Final = "last-failure.json"

_OBJECT = re.compile(
    r"^(?P<db>[^/]+)/(?:(?P<ts>\d{8}T\d{6}Z)\.(?P<ext>dump|json)|last-failure\.json)$"
)


class FailureRecord(BaseModel):
    """The last failed attempt of one database's dump."""

    database: str
    failed_at: datetime
    error: str
    detail: str


@dataclass(frozen=True)
class BackupHealth:
    """One backup target of one kind: its newest success and its newest failure."""

    kind: str
    target: str
    last_success: datetime | None
    last_failure: datetime | None

    @property
    def failing(self) -> bool:
        """Whether the newest attempt failed (a failure after the newest success)."""
        if self.last_failure is None:
            return False
        return self.last_success is None or self.last_failure > self.last_success


def failure_key(prefix: str, database: str) -> str:
    """Where the last failed dump of `database` is recorded."""
    return f"{prefix}{database}/{FAILURE_NAME}"


def record_failure(
    store: BackupStore,
    prefix: str,
    database: str,
    error: str,
    detail: str,
    *,
    now: datetime | None = None,
) -> FailureRecord:
    """Record a failed dump attempt in the store (overwrites the previous record)."""
    record = FailureRecord(
        database=database,
        failed_at=(now or datetime.now(UTC)).astimezone(UTC),
        error=error,
        detail=detail[-2000:],
    )
    store.upload(failure_key(prefix, database), io.BytesIO(record.model_dump_json().encode()))
    return record


def read_failure(store: BackupStore, prefix: str, database: str) -> FailureRecord | None:
    """The recorded last failure of `database`, or None."""
    body = io.BytesIO()
    try:
        store.download(failure_key(prefix, database), body)
    except ObjectNotFound:
        return None
    return FailureRecord.model_validate_json(body.getvalue())


def dump_health(store: BackupStore, prefix: str) -> list[BackupHealth]:
    """Per database in the store: the newest complete dump and the last recorded failure."""
    dumps: dict[str, set[str]] = {}
    sidecars: dict[str, set[str]] = {}
    failed: set[str] = set()
    for item in store.list(prefix):
        match = _OBJECT.match(item.key.removeprefix(prefix))
        if match is None:
            continue
        database = match["db"]
        dumps.setdefault(database, set())
        sidecars.setdefault(database, set())
        if match["ts"] is None:
            failed.add(database)
        elif match["ext"] == "dump":
            dumps[database].add(match["ts"])
        else:
            sidecars[database].add(match["ts"])
    health = []
    for database in sorted(dumps):
        complete = dumps[database] & sidecars[database]
        newest = max(complete, default=None)
        failure = read_failure(store, prefix, database) if database in failed else None
        health.append(
            BackupHealth(
                kind=PG_DUMP,
                target=database,
                last_success=(
                    None
                    if newest is None
                    else datetime.strptime(newest, KEY_TIME_FORMAT).replace(tzinfo=UTC)
                ),
                last_failure=None if failure is None else failure.failed_at,
            )
        )
    return health


def snapshot_health(rds: RDSClient, instance: str) -> BackupHealth:
    """The newest available snapshot of an RDS instance (any type: AWS Backup, automated)."""
    newest: datetime | None = None
    paginator = rds.get_paginator("describe_db_snapshots")
    for page in paginator.paginate(DBInstanceIdentifier=instance):
        for snapshot in page["DBSnapshots"]:
            created = _snapshot_time(snapshot)
            if snapshot.get("Status") == "available" and created is not None:
                newest = created if newest is None else max(newest, created)
    return BackupHealth(kind=RDS_SNAPSHOT, target=instance, last_success=newest, last_failure=None)


def _snapshot_time(snapshot: Any) -> datetime | None:
    created = snapshot.get("SnapshotCreateTime")
    if not isinstance(created, datetime):
        return None
    return created if created.tzinfo is not None else created.replace(tzinfo=UTC)
