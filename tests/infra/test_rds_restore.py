"""RDS restores (plan 5.2.1 and 5.2.2) against moto's RDS, through the library and the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from mypy_boto3_rds import RDSClient
from mypy_boto3_rds.type_defs import WaiterConfigTypeDef

import pricealert.cli
from pricealert.ops import rds_restore
from pricealert.ops.rds_restore import RdsRestoreError

FAST: WaiterConfigTypeDef = {"Delay": 1, "MaxAttempts": 3}
SOURCE = "price-alert-production"
SNAPSHOT = "price-alert-production-2024-06-15"


@dataclass(frozen=True)
class Production:
    rds: RDSClient
    security_group: str


@pytest.fixture
def production(aws: None) -> Production:
    """A production-like source instance in its own subnet and parameter groups, snapshotted."""
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for cidr, zone in (
            ("10.40.0.0/20", "ap-northeast-1a"),
            ("10.40.16.0/20", "ap-northeast-1c"),
        )
    ]
    group = ec2.create_security_group(GroupName="restored-db", Description="t", VpcId=vpc)
    rds: RDSClient = boto3.client("rds")
    rds.create_db_subnet_group(
        DBSubnetGroupName="pricealert-private", DBSubnetGroupDescription="t", SubnetIds=subnets
    )
    rds.create_db_parameter_group(
        DBParameterGroupName="pricealert-pg16", DBParameterGroupFamily="postgres16", Description="t"
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
        BackupRetentionPeriod=7,
    )
    rds.create_db_snapshot(DBSnapshotIdentifier=SNAPSHOT, DBInstanceIdentifier=SOURCE)
    return Production(rds=rds, security_group=group["GroupId"])


def _instance(rds: RDSClient, identifier: str) -> dict[str, object]:
    return dict(rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0])


# --- plan 5.2.1: from a snapshot ---------------------------------------------------------


def test_a_snapshot_restores_into_a_new_instance_like_its_source(production: Production) -> None:
    result = rds_restore.restore_from_snapshot(
        production.rds,
        SNAPSHOT,
        "price-alert-recovered",
        security_group_ids=[production.security_group],
        waiter_config=FAST,
    )

    restored = production.rds.describe_db_instances(DBInstanceIdentifier="price-alert-recovered")[
        "DBInstances"
    ][0]
    assert result.status == "available"
    assert result.endpoint == restored["Endpoint"]["Address"]
    assert restored["DBInstanceClass"] == "db.t3.large"
    assert restored["DBSubnetGroup"]["DBSubnetGroupName"] == "pricealert-private"
    assert restored["DBParameterGroups"][0]["DBParameterGroupName"] == "pricealert-pg16"
    assert [g["VpcSecurityGroupId"] for g in restored["VpcSecurityGroups"]] == [
        production.security_group
    ]


def test_a_missing_snapshot_is_a_named_error(production: Production) -> None:
    with pytest.raises(RdsRestoreError) as caught:
        rds_restore.restore_from_snapshot(production.rds, "no-such-snapshot", "target-db")

    assert caught.value.code == "snapshot_not_found"


def test_restoring_onto_an_existing_instance_is_refused(production: Production) -> None:
    with pytest.raises(RdsRestoreError) as caught:
        rds_restore.restore_from_snapshot(production.rds, SNAPSHOT, SOURCE)

    assert caught.value.code == "target_exists"


@pytest.mark.parametrize(
    "target",
    ["1starts-with-digit", "double--hyphen", "trailing-hyphen-", "under_score", "a" * 64, ""],
)
def test_a_target_against_rds_naming_rules_is_refused_before_any_call(target: str) -> None:
    # No AWS mock: a refused name must not reach AWS at all.
    with pytest.raises(RdsRestoreError) as caught:
        rds_restore.restore_from_snapshot(None, SNAPSHOT, target)  # type: ignore[arg-type]

    assert caught.value.code == "invalid_identifier"


@pytest.mark.parametrize(
    "snapshot",
    [
        "rds:price-alert-production-2024-06-15-17-05",
        "awsbackup:job-0123abcd-4567-89ef-0123-456789abcdef",
        "arn:aws:rds:ap-northeast-1:123456789012:snapshot:manual-1",
    ],
)
def test_automated_backup_and_arn_snapshot_names_are_accepted(snapshot: str) -> None:
    assert rds_restore.check_snapshot_identifier(snapshot) == snapshot


@pytest.mark.parametrize(
    ("option", "value", "code"),
    [
        ("instance_class", "t3.large", "invalid_instance_class"),
        ("security_group_ids", ["sg-xyz"], "invalid_security_group"),
    ],
)
def test_malformed_options_are_named_errors(option: str, value: object, code: str) -> None:
    with pytest.raises(RdsRestoreError) as caught:
        rds_restore.restore_from_snapshot(
            None,  # type: ignore[arg-type]  # refused before any call
            SNAPSHOT,
            "target-db",
            **{option: value},  # type: ignore[arg-type]
        )

    assert caught.value.code == code


# --- plan 5.2.2: point in time -----------------------------------------------------------


def test_point_in_time_restore_creates_the_target_from_the_source(production: Production) -> None:
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)

    result = rds_restore.restore_to_point_in_time(
        production.rds,
        "price-alert-recovered",
        an_hour_ago,
        instance_class="db.t3.xlarge",
        waiter_config=FAST,
    )

    restored = _instance(production.rds, "price-alert-recovered")
    assert result.status == "available"
    assert restored["DBInstanceClass"] == "db.t3.xlarge"
    assert result.endpoint is not None


def test_a_time_before_the_seven_day_window_is_out_of_range(production: Production) -> None:
    eight_days_ago = datetime.now(UTC) - timedelta(days=8)

    with pytest.raises(RdsRestoreError) as caught:
        rds_restore.restore_to_point_in_time(production.rds, "target-db", eight_days_ago)

    assert caught.value.code == "restore_time_out_of_range"


def test_a_missing_source_is_a_named_error(production: Production) -> None:
    with pytest.raises(RdsRestoreError) as caught:
        rds_restore.restore_to_point_in_time(
            production.rds,
            "target-db",
            datetime.now(UTC) - timedelta(minutes=5),
            source_identifier="no-such-db",
        )

    assert caught.value.code == "source_not_found"


def test_a_source_without_automated_backups_cannot_be_restored_in_time(
    production: Production,
) -> None:
    production.rds.create_db_instance(
        DBInstanceIdentifier="no-backups",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="admin_user",
        MasterUserPassword="moto-only-password",
        BackupRetentionPeriod=0,
    )

    with pytest.raises(RdsRestoreError) as caught:
        rds_restore.restore_to_point_in_time(
            production.rds,
            "target-db",
            datetime.now(UTC) - timedelta(minutes=5),
            source_identifier="no-backups",
        )

    assert caught.value.code == "pitr_disabled"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("2023-06-15T08:45:00", "restore_time_naive"),
        ("2999-01-01T00:00:00Z", "restore_time_in_future"),
        ("yesterday", "invalid_restore_time"),
        ("2023-13-40T00:00:00Z", "invalid_restore_time"),
    ],
)
def test_restore_times_must_be_past_aware_iso_times(text: str, code: str) -> None:
    with pytest.raises(RdsRestoreError) as caught:
        rds_restore.parse_restore_time(text)

    assert caught.value.code == code


def test_a_restore_time_with_an_offset_is_read_as_utc() -> None:
    parsed = rds_restore.parse_restore_time("2023-06-15T17:45:00+09:00")

    assert parsed == datetime(2023, 6, 15, 8, 45, tzinfo=UTC)


# --- the CLI -----------------------------------------------------------------------------


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> None:
    """`pricealert` with only this module's standalone `restore` group."""
    monkeypatch.setattr(pricealert.cli, "_BUILTIN", ("pricealert.cli.restore_rds",))


@pytest.mark.usefixtures("cli")
def test_cli_restores_a_snapshot_and_prints_the_endpoint(
    production: Production, capsys: pytest.CaptureFixture[str]
) -> None:
    code = pricealert.cli.main(
        [
            "restore",
            "rds-snapshot",
            SNAPSHOT,
            "price-alert-recovered",
            "--security-group-ids",
            production.security_group,
            "--poll-seconds",
            "1",
        ]
    )

    endpoint = _instance(production.rds, "price-alert-recovered")["Endpoint"]
    assert code == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"price-alert-recovered is available at {endpoint['Address']}:{endpoint['Port']}"  # type: ignore[index]
    )


@pytest.mark.usefixtures("cli")
def test_cli_reports_a_missing_snapshot_without_a_traceback(
    production: Production, capsys: pytest.CaptureFixture[str]
) -> None:
    code = pricealert.cli.main(["restore", "rds-snapshot", "gone-snapshot", "target-db"])

    assert code == 2
    assert capsys.readouterr().err == "error: snapshot_not_found: no DB snapshot 'gone-snapshot'\n"


@pytest.mark.usefixtures("cli")
def test_cli_pitr_refuses_a_naive_time(
    production: Production, capsys: pytest.CaptureFixture[str]
) -> None:
    code = pricealert.cli.main(["restore", "rds-pitr", "target-db", "2023-06-15T08:45:00"])

    assert code == 2
    assert capsys.readouterr().err.startswith("error: restore_time_naive: ")
    assert "target-db" not in {
        i["DBInstanceIdentifier"] for i in production.rds.describe_db_instances()["DBInstances"]
    }


@pytest.mark.usefixtures("cli")
def test_cli_pitr_restores_from_the_named_source_without_waiting(
    production: Production, capsys: pytest.CaptureFixture[str]
) -> None:
    when = (datetime.now(UTC) - timedelta(minutes=30)).isoformat()

    code = pricealert.cli.main(
        ["restore", "rds-pitr", "drill-target", when, "--source", SOURCE, "--no-wait"]
    )

    assert code == 0
    assert _instance(production.rds, "drill-target")["DBInstanceIdentifier"] == "drill-target"
    assert f"restoring {SOURCE} as of" in capsys.readouterr().out


def test_the_backup_module_places_both_commands_in_its_restore_group() -> None:
    import argparse

    from pricealert.cli import backup

    parser = argparse.ArgumentParser()
    backup.register(parser.add_subparsers(dest="command"))

    snapshot = parser.parse_args(["restore", "rds-snapshot", "snap-1", "target-db"])
    pitr = parser.parse_args(["restore", "rds-pitr", "target-db", "2024-01-01T00:00:00Z"])
    assert snapshot.handler.__name__ == "_rds_snapshot"
    assert pitr.handler.__name__ == "_rds_pitr"


def test_an_available_instance_missing_the_requested_groups_gets_them(
    production: Production,
) -> None:
    # The plan's modify step, for a restore that came up with other security groups.
    production.rds.restore_db_instance_from_db_snapshot(
        DBInstanceIdentifier="came-up-bare", DBSnapshotIdentifier=SNAPSHOT
    )

    result = rds_restore._finish(
        production.rds, "came-up-bare", [production.security_group], wait=True, waiter_config=FAST
    )

    groups = _instance(production.rds, "came-up-bare")["VpcSecurityGroups"]
    assert result.status == "available"
    assert [g["VpcSecurityGroupId"] for g in groups] == [production.security_group]  # type: ignore[attr-defined]
