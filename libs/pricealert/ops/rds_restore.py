"""Restore RDS PostgreSQL: from a snapshot (plan 5.2.1) or to a point in time (5.2.2).

The plan's shell scripts, in Python with boto3 and its waiters, and with the
checks they lacked: identifiers follow RDS naming rules, the snapshot or source
exists, the target does not, and a point-in-time target is timezone-aware, in
the past and inside the source's retention window. The restored instance joins
the source's subnet and parameter groups (when the source still exists) and the
security groups asked for: they are passed to the restore call and confirmed by
`modify_db_instance(ApplyImmediately=True)` once the instance is available.

Every refusal is an `RdsRestoreError` with a stable `code`:
`invalid_identifier`, `invalid_instance_class`, `invalid_security_group`,
`invalid_restore_time`, `restore_time_naive`, `restore_time_in_future`,
`restore_time_out_of_range`, `pitr_disabled`, `snapshot_not_found`,
`snapshot_not_available`, `source_not_found`, `target_exists`,
`wait_timed_out`, `aws_error`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from pricealert.errors import PriceAlertError

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_rds.type_defs import DBInstanceTypeDef, WaiterConfigTypeDef

DEFAULT_INSTANCE_CLASS: Final = "db.t3.large"
DEFAULT_SOURCE: Final = "price-alert-production"
#: RDS waiter defaults (30 s x 60): a restore of a large instance can take longer.
DEFAULT_WAITER_CONFIG: Final[WaiterConfigTypeDef] = {"Delay": 30, "MaxAttempts": 120}

# RDS naming rules: a letter first, then letters, digits and single hyphens, no
# hyphen at the end; 63 characters for instances.
_INSTANCE_ID = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|-(?!-)){0,62}$")
# Snapshots: the same rules up to 255, optionally prefixed by `rds:` (automated)
# or `awsbackup:` (the daily AWS Backup snapshots), or a full snapshot ARN.
_SNAPSHOT_ID = re.compile(r"^(?:rds:|awsbackup:)?[A-Za-z](?:[A-Za-z0-9]|-(?!-)){0,254}$")
_SNAPSHOT_ARN = re.compile(r"^arn:aws[a-z-]*:rds:[a-z0-9-]+:\d{12}:snapshot:[A-Za-z0-9:-]+$")
_INSTANCE_CLASS = re.compile(r"^db\.[a-z0-9]+\.[a-z0-9]+$")
_SECURITY_GROUP = re.compile(r"^sg-[0-9a-f]{8}(?:[0-9a-f]{9})?$")


class RdsRestoreError(PriceAlertError):
    """A restore refused or failed, with a stable `code`."""

    status = 422

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code  # type: ignore[misc]  # one class, many named codes


@dataclass(frozen=True)
class RestoredInstance:
    """What a restore left behind: the instance, its status and (once available) endpoint."""

    identifier: str
    status: str
    endpoint: str | None
    port: int | None


def check_instance_identifier(value: str, *, what: str = "instance identifier") -> str:
    """Return `value` if RDS accepts it as a DB instance identifier, else refuse it."""
    if not _INSTANCE_ID.fullmatch(value) or value.endswith("-"):
        raise RdsRestoreError(
            "invalid_identifier",
            f"{what} {value!r}: 1-63 letters, digits or hyphens, starting with a letter, "
            "without '--' or a trailing hyphen",
        )
    return value


def check_snapshot_identifier(value: str) -> str:
    """Return `value` if it names a DB snapshot (identifier or ARN), else refuse it."""
    if _SNAPSHOT_ARN.fullmatch(value):
        return value
    if not _SNAPSHOT_ID.fullmatch(value) or value.endswith("-"):
        raise RdsRestoreError(
            "invalid_identifier",
            f"snapshot identifier {value!r}: letters, digits or hyphens starting with a "
            "letter (optionally 'rds:' or 'awsbackup:' first), or a snapshot ARN",
        )
    return value


def check_instance_class(value: str) -> str:
    """Return `value` if it looks like a DB instance class (db.<family>.<size>)."""
    if not _INSTANCE_CLASS.fullmatch(value):
        raise RdsRestoreError(
            "invalid_instance_class", f"{value!r} is not an instance class like db.t3.large"
        )
    return value


def check_security_groups(values: list[str]) -> list[str]:
    """Return the security group ids if each is `sg-` and 8 or 17 hex digits."""
    for value in values:
        if not _SECURITY_GROUP.fullmatch(value):
            raise RdsRestoreError(
                "invalid_security_group", f"{value!r} is not a security group id like sg-0123abcd"
            )
    return values


def parse_restore_time(text: str, *, now: datetime | None = None) -> datetime:
    """Parse an ISO 8601 time with an offset into UTC; refuse naive or future times."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise RdsRestoreError(
            "invalid_restore_time", f"{text!r} is not an ISO 8601 time like 2023-06-15T08:45:00Z"
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise RdsRestoreError(
            "restore_time_naive",
            f"{text!r} has no timezone; write it in UTC, e.g. {text}Z",
        )
    restore_time = parsed.astimezone(UTC)
    current = now or datetime.now(UTC)
    if restore_time > current:
        raise RdsRestoreError(
            "restore_time_in_future",
            f"{restore_time.isoformat()} is after now ({current.isoformat(timespec='seconds')})",
        )
    return restore_time


def restore_from_snapshot(
    rds: RDSClient,
    snapshot_identifier: str,
    target_identifier: str,
    *,
    instance_class: str = DEFAULT_INSTANCE_CLASS,
    security_group_ids: list[str] | None = None,
    wait: bool = True,
    waiter_config: WaiterConfigTypeDef = DEFAULT_WAITER_CONFIG,
) -> RestoredInstance:
    """Plan 5.2.1: restore `snapshot_identifier` into a new instance `target_identifier`."""
    check_snapshot_identifier(snapshot_identifier)
    check_instance_identifier(target_identifier, what="target")
    check_instance_class(instance_class)
    groups = check_security_groups(security_group_ids or [])

    snapshot = _describe_snapshot(rds, snapshot_identifier)
    if snapshot.get("Status") != "available":
        raise RdsRestoreError(
            "snapshot_not_available",
            f"snapshot {snapshot_identifier!r} is {snapshot.get('Status')!r}, not available",
        )
    _refuse_existing_target(rds, target_identifier)
    source = _find_instance(rds, snapshot.get("DBInstanceIdentifier", ""))

    kwargs: dict[str, Any] = {
        "DBInstanceIdentifier": target_identifier,
        "DBSnapshotIdentifier": snapshot_identifier,
        "DBInstanceClass": instance_class,
        **_placement_like(source, groups),
    }
    _call(rds.restore_db_instance_from_db_snapshot, **kwargs)
    return _finish(rds, target_identifier, groups, wait=wait, waiter_config=waiter_config)


def restore_to_point_in_time(
    rds: RDSClient,
    target_identifier: str,
    restore_time: datetime,
    *,
    source_identifier: str = DEFAULT_SOURCE,
    instance_class: str = DEFAULT_INSTANCE_CLASS,
    security_group_ids: list[str] | None = None,
    wait: bool = True,
    waiter_config: WaiterConfigTypeDef = DEFAULT_WAITER_CONFIG,
    now: datetime | None = None,
) -> RestoredInstance:
    """Plan 5.2.2: restore `source_identifier` as it was at `restore_time` (UTC)."""
    check_instance_identifier(target_identifier, what="target")
    check_instance_identifier(source_identifier, what="source")
    check_instance_class(instance_class)
    groups = check_security_groups(security_group_ids or [])
    if restore_time.tzinfo is None:
        raise RdsRestoreError("restore_time_naive", "the restore time must be timezone-aware")
    restore_time = restore_time.astimezone(UTC)
    current = now or datetime.now(UTC)
    if restore_time > current:
        raise RdsRestoreError("restore_time_in_future", f"{restore_time.isoformat()} is after now")

    source = _find_instance(rds, source_identifier)
    if source is None:
        raise RdsRestoreError("source_not_found", f"no DB instance {source_identifier!r}")
    _check_restorable(source, restore_time, current)
    _refuse_existing_target(rds, target_identifier)

    kwargs: dict[str, Any] = {
        "SourceDBInstanceIdentifier": source_identifier,
        "TargetDBInstanceIdentifier": target_identifier,
        "RestoreTime": restore_time,
        "DBInstanceClass": instance_class,
        **_placement_like(source, groups),
    }
    _call(rds.restore_db_instance_to_point_in_time, **kwargs)
    return _finish(rds, target_identifier, groups, wait=wait, waiter_config=waiter_config)


def _check_restorable(source: DBInstanceTypeDef, restore_time: datetime, now: datetime) -> None:
    retention_days = source.get("BackupRetentionPeriod", 0)
    name = source["DBInstanceIdentifier"]
    if retention_days == 0:
        raise RdsRestoreError("pitr_disabled", f"{name!r} keeps no automated backups")
    earliest = now - timedelta(days=retention_days)
    latest = source.get("LatestRestorableTime") or now
    if not earliest <= restore_time <= latest:
        raise RdsRestoreError(
            "restore_time_out_of_range",
            f"{name!r} can be restored from {earliest.isoformat(timespec='seconds')} "
            f"to {latest.isoformat(timespec='seconds')}, not {restore_time.isoformat()}",
        )


def _placement_like(source: DBInstanceTypeDef | None, groups: list[str]) -> dict[str, Any]:
    # Without these the restore lands in the default VPC with default parameters
    # (no pg_stat_statements): follow the source when it still exists.
    placement: dict[str, Any] = {}
    if source is not None:
        subnet_group = source.get("DBSubnetGroup", {}).get("DBSubnetGroupName")
        if subnet_group:
            placement["DBSubnetGroupName"] = subnet_group
        parameter_groups = source.get("DBParameterGroups", [])
        if parameter_groups and parameter_groups[0].get("DBParameterGroupName"):
            placement["DBParameterGroupName"] = parameter_groups[0]["DBParameterGroupName"]
    if groups:
        placement["VpcSecurityGroupIds"] = groups
    return placement


def _finish(
    rds: RDSClient,
    identifier: str,
    groups: list[str],
    *,
    wait: bool,
    waiter_config: WaiterConfigTypeDef,
) -> RestoredInstance:
    if not wait:
        return _describe_restored(rds, identifier)
    _wait_available(rds, identifier, waiter_config)
    instance = _find_instance(rds, identifier)
    current = {g["VpcSecurityGroupId"] for g in (instance or {}).get("VpcSecurityGroups", [])}
    if groups and current != set(groups):
        # The plan's security-group step: make sure the restored instance has them.
        _call(
            rds.modify_db_instance,
            DBInstanceIdentifier=identifier,
            VpcSecurityGroupIds=groups,
            ApplyImmediately=True,
        )
        _wait_available(rds, identifier, waiter_config)
    return _describe_restored(rds, identifier)


def _wait_available(rds: RDSClient, identifier: str, waiter_config: WaiterConfigTypeDef) -> None:
    try:
        rds.get_waiter("db_instance_available").wait(
            DBInstanceIdentifier=identifier, WaiterConfig=waiter_config
        )
    except WaiterError as exc:
        raise RdsRestoreError(
            "wait_timed_out", f"{identifier!r} did not become available: {exc}"
        ) from None


def _describe_restored(rds: RDSClient, identifier: str) -> RestoredInstance:
    instance = _find_instance(rds, identifier)
    if instance is None:  # pragma: no cover - RDS just accepted the restore
        raise RdsRestoreError("aws_error", f"{identifier!r} vanished after the restore")
    endpoint = instance.get("Endpoint", {})
    return RestoredInstance(
        identifier=identifier,
        status=instance.get("DBInstanceStatus", "unknown"),
        endpoint=endpoint.get("Address"),
        port=endpoint.get("Port"),
    )


def _describe_snapshot(rds: RDSClient, identifier: str) -> dict[str, Any]:
    try:
        snapshots = rds.describe_db_snapshots(DBSnapshotIdentifier=identifier)["DBSnapshots"]
    except ClientError as exc:
        if _error_code(exc) == "DBSnapshotNotFound":
            raise RdsRestoreError("snapshot_not_found", f"no DB snapshot {identifier!r}") from None
        raise _aws_error(exc) from None
    except BotoCoreError as exc:
        raise RdsRestoreError("aws_error", str(exc)) from None
    if not snapshots:
        raise RdsRestoreError("snapshot_not_found", f"no DB snapshot {identifier!r}")
    return dict(snapshots[0])


def _find_instance(rds: RDSClient, identifier: str) -> DBInstanceTypeDef | None:
    if not identifier:
        return None
    try:
        instances = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"]
    except ClientError as exc:
        if _error_code(exc) == "DBInstanceNotFound":
            return None
        raise _aws_error(exc) from None
    except BotoCoreError as exc:
        raise RdsRestoreError("aws_error", str(exc)) from None
    return instances[0] if instances else None


def _refuse_existing_target(rds: RDSClient, identifier: str) -> None:
    if _find_instance(rds, identifier) is not None:
        raise RdsRestoreError(
            "target_exists", f"DB instance {identifier!r} exists; choose a new name"
        )


def _call(operation: Any, **kwargs: Any) -> Any:
    try:
        return operation(**kwargs)
    except ClientError as exc:
        raise _aws_error(exc) from None
    except BotoCoreError as exc:
        raise RdsRestoreError("aws_error", str(exc)) from None


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _aws_error(exc: ClientError) -> RdsRestoreError:
    error = exc.response.get("Error", {})
    return RdsRestoreError("aws_error", f"{error.get('Code')}: {error.get('Message')}")
