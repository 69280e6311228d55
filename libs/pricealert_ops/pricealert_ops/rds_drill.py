"""`make restore-drill-rds`: the RDS restore paths (plan 5.2.1, 5.2.2) drilled against moto.

A production-like source instance (its own VPC, subnet group, security group,
parameter and option groups, Multi-AZ, deletion protection, log exports,
enhanced monitoring, tags) is created in moto's RDS, snapshotted, then restored
both ways with the same code `pricealert restore rds-snapshot` / `rds-pitr` run.
Each restored instance is compared with its source, setting by setting: a
restore that comes up in the default security group, without deletion
protection or monitoring, fails the drill. Nothing leaves the process: moto
answers every AWS call, with throwaway credentials.

The second region's path (restoring the replicated automated backups) cannot be
drilled here — moto does not replicate between regions — and is tested against
botocore's request shapes instead (tests/infra/test_rds_restore.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pricealert.errors import PriceAlertError
from pricealert_ops import rds_restore

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_rds.type_defs import WaiterConfigTypeDef

REGION = "ap-northeast-1"
SOURCE = rds_restore.DEFAULT_SOURCE
SNAPSHOT = f"{SOURCE}-drill"
MONITORING_ROLE = "arn:aws:iam::123456789012:role/rds-monitoring"
_FAST: WaiterConfigTypeDef = {"Delay": 1, "MaxAttempts": 5}


class MotoMissing(PriceAlertError, code="moto_not_installed"):
    """The RDS drill runs against moto, a development dependency that is not installed here."""


@dataclass
class RestoreCheck:
    """One restore path: how long it took and each setting, source vs restored."""

    path: str
    target: str
    seconds: float = 0.0
    settings: list[tuple[str, Any, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.settings) and all(want == got for _, want, got in self.settings)


def settings_of(instance: Any) -> dict[str, Any]:
    """The settings a restore must carry over, as described by RDS."""
    return {
        "security groups": sorted(g["VpcSecurityGroupId"] for g in instance["VpcSecurityGroups"]),
        "subnet group": instance["DBSubnetGroup"]["DBSubnetGroupName"],
        "parameter group": instance["DBParameterGroups"][0]["DBParameterGroupName"],
        "option group": instance["OptionGroupMemberships"][0]["OptionGroupName"],
        "multi-AZ": instance["MultiAZ"],
        "deletion protection": instance["DeletionProtection"],
        "log exports": instance.get("EnabledCloudwatchLogsExports", []),
        "monitoring": (instance.get("MonitoringInterval"), instance.get("MonitoringRoleArn")),
        "backup retention": instance["BackupRetentionPeriod"],
        "tags": {
            t["Key"]: t["Value"]
            for t in instance.get("TagList", [])
            if not t["Key"].startswith("pricealert:")
        },
    }


@contextmanager
def _moto() -> Iterator[None]:
    try:
        from moto import mock_aws
    except ImportError:
        raise MotoMissing(
            "the RDS drill runs against moto, a development dependency: pip install -e '.[dev]'"
        ) from None
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update(AWS_ACCESS_KEY_ID="drill", AWS_SECRET_ACCESS_KEY="drill")  # noqa: S106
    try:
        with mock_aws():
            yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def create_production_source(rds: RDSClient) -> str:
    """A production-like source instance and its snapshot; returns its security group."""
    import boto3

    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for cidr, zone in (
            ("10.40.0.0/20", "ap-northeast-1a"),
            ("10.40.16.0/20", "ap-northeast-1c"),
        )
    ]
    group = ec2.create_security_group(GroupName="database", Description="drill", VpcId=vpc)
    rds.create_db_subnet_group(
        DBSubnetGroupName="pricealert-private", DBSubnetGroupDescription="drill", SubnetIds=subnets
    )
    rds.create_db_parameter_group(
        DBParameterGroupName="pricealert-pg16",
        DBParameterGroupFamily="postgres16",
        Description="drill",
    )
    rds.create_option_group(  # moto knows option groups up to PostgreSQL 13
        OptionGroupName="pricealert-options",
        EngineName="postgres",
        MajorEngineVersion="13",
        OptionGroupDescription="drill",
    )
    rds.create_db_instance(
        DBInstanceIdentifier=SOURCE,
        Engine="postgres",
        DBInstanceClass="db.t3.large",
        AllocatedStorage=100,
        MasterUsername="pricealert_admin",
        MasterUserPassword="moto-only-password",
        DBSubnetGroupName="pricealert-private",
        DBParameterGroupName="pricealert-pg16",
        OptionGroupName="pricealert-options",
        VpcSecurityGroupIds=[group["GroupId"]],
        BackupRetentionPeriod=7,
        MultiAZ=True,
        DeletionProtection=True,
        CopyTagsToSnapshot=True,
        EnableCloudwatchLogsExports=["postgresql"],
        MonitoringInterval=60,
        MonitoringRoleArn=MONITORING_ROLE,
        Tags=[{"Key": "service", "Value": "pricealert"}, {"Key": "env", "Value": "production"}],
    )
    rds.create_db_snapshot(DBSnapshotIdentifier=SNAPSHOT, DBInstanceIdentifier=SOURCE)
    return str(group["GroupId"])


def run_rds_drill() -> list[RestoreCheck]:
    """Create the source in moto, restore it both ways, compare every carried setting."""
    import boto3

    with _moto():
        rds: RDSClient = boto3.client("rds", region_name=REGION)
        create_production_source(rds)
        source = settings_of(
            rds.describe_db_instances(DBInstanceIdentifier=SOURCE)["DBInstances"][0]
        )
        paths: list[tuple[str, str, Callable[[], object]]] = [
            (
                "snapshot (5.2.1)",
                "price-alert-from-snapshot",
                lambda: rds_restore.restore_from_snapshot(
                    rds, SNAPSHOT, "price-alert-from-snapshot", waiter_config=_FAST
                ),
            ),
            (
                "point in time (5.2.2)",
                "price-alert-from-pitr",
                lambda: rds_restore.restore_to_point_in_time(
                    rds,
                    "price-alert-from-pitr",
                    datetime.now(UTC) - timedelta(minutes=30),
                    waiter_config=_FAST,
                ),
            ),
        ]
        checks = []
        for path, target, restore in paths:
            check = RestoreCheck(path, target)
            started = time.perf_counter()
            restore()
            check.seconds = time.perf_counter() - started
            restored = rds.describe_db_instances(DBInstanceIdentifier=target)["DBInstances"][0]
            got = settings_of(restored)
            check.settings = [(name, want, got[name]) for name, want in source.items()]
            checks.append(check)
    return checks


def format_rds_drill(checks: list[RestoreCheck]) -> list[str]:
    """One block per path: each setting, OK or what differed; then the verdict."""
    lines = [f"RDS restore drill against moto ({REGION}): source {SOURCE}"]
    for check in checks:
        verdict = "OK" if check.passed else "FAILED"
        lines.append(f"  {check.path} → {check.target}: {verdict} in {check.seconds:.2f} s")
        for name, want, got in check.settings:
            mark = "ok" if want == got else f"DIFFERS (source {want!r})"
            lines.append(f"    {name:<20} {got!r} {mark}")
    passed = bool(checks) and all(c.passed for c in checks)
    lines.append(
        "  second region (replicated automated backups): not drillable in moto; "
        "request shapes tested"
    )
    lines.append(f"result: {'PASSED' if passed else 'FAILED'}")
    return lines
