"""Restore RDS PostgreSQL: from a snapshot (plan 5.2.1) or to a point in time (5.2.2).

The plan's shell scripts, in Python with boto3 and its waiters, and with the
checks they lacked: identifiers follow RDS naming rules, the snapshot or source
exists, the target does not, and a point-in-time target is timezone-aware, in
the past and inside the source's retention window.

A restored instance must come up usable, so it is made like its source (when
the source can still be described): the same subnet group, security groups,
parameter group and option group, Multi-AZ, storage type, log exports, IAM
authentication, deletion protection and tags (plus `pricealert:restored-from`
and `pricealert:restored-at`) are passed to the restore call; what a restore
call cannot take — enhanced monitoring, Performance Insights, the backup
retention and security groups that did not stick — is applied by
`modify_db_instance(ApplyImmediately=True)` once the instance is available.
Security groups given on the command line win over the source's.

In the second region (`--region`, issue 15) there is no source instance: RDS
replicates the source's automated backups there, and `restore_replica_to_point_
in_time` restores from that replica (`SourceDBInstanceAutomatedBackupsArn`),
inside its own restore window. The primary region's subnet and security groups
do not exist there, so the second region's are required; the source's other
settings are carried when the primary region still answers.

Every refusal is an `RdsRestoreError` with a stable `code`:
`invalid_identifier`, `invalid_instance_class`, `invalid_security_group`,
`invalid_restore_time`, `restore_time_naive`, `restore_time_in_future`,
`restore_time_out_of_range`, `pitr_disabled`, `snapshot_not_found`,
`snapshot_not_available`, `source_not_found`, `replica_not_found`,
`placement_required`, `target_exists`, `wait_timed_out`, `aws_error`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from pricealert_ops.errors import Refusal

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


class RdsRestoreError(Refusal):
    """A restore refused or failed, with a stable `code`."""


@dataclass(frozen=True)
class RestoredInstance:
    """What a restore left behind: the instance, its status and (once available) endpoint."""

    identifier: str
    status: str
    endpoint: str | None
    port: int | None


def check_instance_identifier(value: str, *, what: str = "instance identifier") -> str:
    """Return `value` if RDS accepts it as a DB instance identifier, else refuse it."""
    return _identifier(
        _INSTANCE_ID,
        value,
        what,
        "1-63 letters, digits or hyphens, starting with a letter, without '--' or a "
        "trailing hyphen",
    )


def check_snapshot_identifier(value: str) -> str:
    """Return `value` if it names a DB snapshot (identifier or ARN), else refuse it."""
    if _SNAPSHOT_ARN.fullmatch(value):
        return value
    return _identifier(
        _SNAPSHOT_ID,
        value,
        "snapshot identifier",
        "letters, digits or hyphens starting with a letter (optionally 'rds:' or "
        "'awsbackup:' first), or a snapshot ARN",
    )


def _identifier(pattern: re.Pattern[str], value: str, what: str, rule: str) -> str:
    """`value` if it matches `pattern` and does not end in a hyphen, else refuse it."""
    if not pattern.fullmatch(value) or value.endswith("-"):
        raise RdsRestoreError("invalid_identifier", f"{what} {value!r}: {rule}")
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

    request = {"DBSnapshotIdentifier": snapshot_identifier, "DBInstanceClass": instance_class}
    like = _restore_like(source, groups, restored_from=f"snapshot:{snapshot_identifier}")
    return _restore(rds, request, target_identifier, like, source, wait, waiter_config)


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
    groups, restore_time = _check_pitr(
        target_identifier, source_identifier, instance_class, security_group_ids, restore_time, now
    )
    current = now or datetime.now(UTC)

    source = _find_instance(rds, source_identifier)
    if source is None:
        raise RdsRestoreError("source_not_found", f"no DB instance {source_identifier!r}")
    _check_restorable(source, restore_time, current)
    _refuse_existing_target(rds, target_identifier)

    request = {
        "SourceDBInstanceIdentifier": source_identifier,
        "RestoreTime": restore_time,
        "DBInstanceClass": instance_class,
    }
    like = _restore_like(
        source, groups, restored_from=f"{source_identifier}@{restore_time.isoformat()}"
    )
    return _restore(rds, request, target_identifier, like, source, wait, waiter_config)


def restore_replica_to_point_in_time(
    rds: RDSClient,
    target_identifier: str,
    restore_time: datetime,
    *,
    subnet_group: str | None,
    security_group_ids: list[str],
    source_identifier: str = DEFAULT_SOURCE,
    parameter_group: str | None = None,
    option_group: str | None = None,
    source_rds: RDSClient | None = None,
    instance_class: str = DEFAULT_INSTANCE_CLASS,
    wait: bool = True,
    waiter_config: WaiterConfigTypeDef = DEFAULT_WAITER_CONFIG,
    now: datetime | None = None,
) -> RestoredInstance:
    """Restore the source's automated backups replicated to `rds`'s region, at a time.

    That region has none of the source's subnet and security groups, so its own are
    required; `source_rds` (the primary region), when it still answers, gives the
    source's other settings to carry over."""
    groups, restore_time = _check_pitr(
        target_identifier, source_identifier, instance_class, security_group_ids, restore_time, now
    )
    replica = _replicated_backup(rds, source_identifier)
    if not subnet_group or not groups:
        raise RdsRestoreError(
            "placement_required",
            "restoring in another region needs that region's DB subnet group "
            "(--subnet-group) and security groups (--security-group-ids): the source's "
            "do not exist there",
        )
    window = replica.get("RestoreWindow", {})
    earliest, latest = window.get("EarliestTime"), window.get("LatestTime")
    if earliest is None or latest is None or not earliest <= restore_time <= latest:
        raise RdsRestoreError(
            "restore_time_out_of_range",
            f"the replicated backups of {source_identifier!r} restore from "
            f"{_iso(earliest)} to {_iso(latest)}, not {restore_time.isoformat()}",
        )
    _refuse_existing_target(rds, target_identifier)
    # The source's own settings, when the primary region still answers.
    source = _find_instance(source_rds, source_identifier) if source_rds is not None else None
    like = _restore_like(
        source,
        groups,
        restored_from=f"{source_identifier}@{restore_time.isoformat()} (replica)",
        in_source_region=False,
    )
    request = {
        "SourceDBInstanceAutomatedBackupsArn": replica["DBInstanceAutomatedBackupsArn"],
        "RestoreTime": restore_time,
        "DBInstanceClass": instance_class,
        "DBSubnetGroupName": subnet_group,
    }
    if parameter_group:
        request["DBParameterGroupName"] = parameter_group
    if option_group:
        request["OptionGroupName"] = option_group
    return _restore(rds, request, target_identifier, like, source, wait, waiter_config)


def _restore(
    rds: RDSClient,
    request: dict[str, Any],
    target_identifier: str,
    like: dict[str, Any],
    source: DBInstanceTypeDef | None,
    wait: bool,
    waiter_config: WaiterConfigTypeDef,
) -> RestoredInstance:
    """Ask RDS for the restore `request` names (a snapshot; or, with a `RestoreTime`, the
    source instance or its backups replicated to this region) into a new instance
    `target_identifier` made `like` the source (the request's own settings win), then
    `_finish`."""
    operation: Any
    if "DBSnapshotIdentifier" in request:
        operation = rds.restore_db_instance_from_db_snapshot
        kwargs = {"DBInstanceIdentifier": target_identifier, **like, **request}
    else:
        operation = rds.restore_db_instance_to_point_in_time
        kwargs = {"TargetDBInstanceIdentifier": target_identifier, **like, **request}
    _call(operation, **kwargs)
    return _finish(rds, target_identifier, source, kwargs, wait=wait, waiter_config=waiter_config)


def _check_pitr(
    target_identifier: str,
    source_identifier: str,
    instance_class: str,
    security_group_ids: list[str] | None,
    restore_time: datetime,
    now: datetime | None,
) -> tuple[list[str], datetime]:
    """What every point-in-time restore checks first: its security groups, and the
    restore time in UTC."""
    check_instance_identifier(target_identifier, what="target")
    check_instance_identifier(source_identifier, what="source")
    check_instance_class(instance_class)
    return check_security_groups(security_group_ids or []), _past_aware(restore_time, now)


def _past_aware(restore_time: datetime, now: datetime | None) -> datetime:
    if restore_time.tzinfo is None:
        raise RdsRestoreError("restore_time_naive", "the restore time must be timezone-aware")
    restore_time = restore_time.astimezone(UTC)
    if restore_time > (now or datetime.now(UTC)):
        raise RdsRestoreError("restore_time_in_future", f"{restore_time.isoformat()} is after now")
    return restore_time


def _iso(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value is not None else "(unknown)"


def _replicated_backup(rds: RDSClient, source_identifier: str) -> dict[str, Any]:
    answer = _call(
        rds.describe_db_instance_automated_backups,
        missing="DBInstanceAutomatedBackupNotFound",
        DBInstanceIdentifier=source_identifier,
    )
    found = answer["DBInstanceAutomatedBackups"] if answer is not None else []
    usable = [b for b in found if b.get("DBInstanceAutomatedBackupsArn")]
    if not usable:
        raise RdsRestoreError(
            "replica_not_found",
            f"no DB instance {source_identifier!r} in this region and no automated backups "
            "of it replicated here",
        )
    return dict(usable[0])


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


#: Settings a restore call takes, read from the source instance's description.
_CARRIED: Final = (
    ("MultiAZ", "MultiAZ"),
    ("StorageType", "StorageType"),
    ("DeletionProtection", "DeletionProtection"),
    ("CopyTagsToSnapshot", "CopyTagsToSnapshot"),
    ("AutoMinorVersionUpgrade", "AutoMinorVersionUpgrade"),
    ("PubliclyAccessible", "PubliclyAccessible"),
    ("IAMDatabaseAuthenticationEnabled", "EnableIAMDatabaseAuthentication"),
    ("EnabledCloudwatchLogsExports", "EnableCloudwatchLogsExports"),
)


def _restore_like(
    source: DBInstanceTypeDef | None,
    groups: list[str],
    *,
    restored_from: str,
    in_source_region: bool = True,
) -> dict[str, Any]:
    """Restore-call arguments that make the new instance like its source.

    Without them a restore lands in the default VPC's default security group, with
    default parameters (no pg_stat_statements), no deletion protection and no tags.
    """
    restored_tags = [
        {"Key": "pricealert:restored-from", "Value": restored_from[:256]},
        {"Key": "pricealert:restored-at", "Value": datetime.now(UTC).isoformat(timespec="seconds")},
    ]
    if source is None:
        like: dict[str, Any] = {"DeletionProtection": True, "Tags": restored_tags}
        if groups:
            like["VpcSecurityGroupIds"] = groups
        return like
    like = {
        target: source[field]  # type: ignore[literal-required]
        for field, target in _CARRIED
        if source.get(field) is not None
    }
    own_tags = [t for t in source.get("TagList", []) if not t["Key"].startswith("pricealert:")]
    like["Tags"] = [*own_tags, *restored_tags]
    if in_source_region:
        subnet_group = source.get("DBSubnetGroup", {}).get("DBSubnetGroupName")
        if subnet_group:
            like["DBSubnetGroupName"] = subnet_group
        parameter_groups = source.get("DBParameterGroups", [])
        if parameter_groups and parameter_groups[0].get("DBParameterGroupName"):
            like["DBParameterGroupName"] = parameter_groups[0]["DBParameterGroupName"]
        option_groups = source.get("OptionGroupMemberships", [])
        name = option_groups[0].get("OptionGroupName") if option_groups else None
        if name and not name.startswith("default:"):
            like["OptionGroupName"] = name
        groups = groups or [g["VpcSecurityGroupId"] for g in source.get("VpcSecurityGroups", [])]
    if groups:
        like["VpcSecurityGroupIds"] = groups
    return like


def _after_restore(source: DBInstanceTypeDef | None) -> dict[str, Any]:
    """What only `modify_db_instance` sets: monitoring, Performance Insights, retention."""
    if source is None:
        return {}
    changes: dict[str, Any] = {}
    interval = source.get("MonitoringInterval")
    if interval and source.get("MonitoringRoleArn"):
        changes["MonitoringInterval"] = interval
        changes["MonitoringRoleArn"] = source["MonitoringRoleArn"]
    if source.get("PerformanceInsightsEnabled"):
        changes["EnablePerformanceInsights"] = True
        for field in ("PerformanceInsightsKMSKeyId", "PerformanceInsightsRetentionPeriod"):
            if source.get(field) is not None:
                changes[field] = source[field]
    if source.get("BackupRetentionPeriod"):
        changes["BackupRetentionPeriod"] = source["BackupRetentionPeriod"]
    return changes


def _finish(
    rds: RDSClient,
    identifier: str,
    source: DBInstanceTypeDef | None,
    requested: dict[str, Any],
    *,
    wait: bool,
    waiter_config: WaiterConfigTypeDef,
) -> RestoredInstance:
    """After the restore call (with `requested`): when waiting, bring the new instance's
    settings in line with the source's."""
    if not wait:
        return _describe_restored(rds, identifier)
    _wait_available(rds, identifier, waiter_config)
    instance = _find_instance(rds, identifier) or {}
    changes = {
        key: value
        for key, value in _after_restore(source).items()
        if instance.get(_DESCRIBED_AS.get(key, key)) != value
    }
    groups = requested.get("VpcSecurityGroupIds") or []
    current = {g["VpcSecurityGroupId"] for g in instance.get("VpcSecurityGroups", [])}
    if groups and current != set(groups):
        changes["VpcSecurityGroupIds"] = groups  # the plan's security-group step
    if changes:
        _call(
            rds.modify_db_instance,
            DBInstanceIdentifier=identifier,
            ApplyImmediately=True,
            **changes,
        )
        _wait_available(rds, identifier, waiter_config)
    return _describe_restored(rds, identifier)


#: modify_db_instance's argument names that describe_db_instances spells otherwise.
_DESCRIBED_AS: Final = {"EnablePerformanceInsights": "PerformanceInsightsEnabled"}


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
    answer = _call(
        rds.describe_db_snapshots, missing="DBSnapshotNotFound", DBSnapshotIdentifier=identifier
    )
    snapshots = answer["DBSnapshots"] if answer is not None else []
    if not snapshots:
        raise RdsRestoreError("snapshot_not_found", f"no DB snapshot {identifier!r}")
    return dict(snapshots[0])


def instance_exists(rds: RDSClient, identifier: str) -> bool:
    """Whether DB instance `identifier` exists in `rds`'s region."""
    return _find_instance(rds, identifier) is not None


def _find_instance(rds: RDSClient | None, identifier: str) -> DBInstanceTypeDef | None:
    if rds is None or not identifier:
        return None
    answer = _call(
        rds.describe_db_instances, missing="DBInstanceNotFound", DBInstanceIdentifier=identifier
    )
    instances = answer["DBInstances"] if answer is not None else []
    return instances[0] if instances else None


def _refuse_existing_target(rds: RDSClient, identifier: str) -> None:
    if _find_instance(rds, identifier) is not None:
        raise RdsRestoreError(
            "target_exists", f"DB instance {identifier!r} exists; choose a new name"
        )


def _call(operation: Any, *, missing: str | None = None, **kwargs: Any) -> Any:
    """`operation(**kwargs)`, AWS's refusals and botocore's failures as `aws_error`s; None
    when AWS answers with the error code `missing` (its "not found")."""
    try:
        return operation(**kwargs)
    except ClientError as exc:
        if missing is not None and _error_code(exc) == missing:
            return None
        raise _aws_error(exc) from None
    except BotoCoreError as exc:
        raise RdsRestoreError("aws_error", str(exc)) from None


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _aws_error(exc: ClientError) -> RdsRestoreError:
    error = exc.response.get("Error", {})
    return RdsRestoreError("aws_error", f"{error.get('Code')}: {error.get('Message')}")
