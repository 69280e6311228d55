"""RDS restores (plan 5.2.1 and 5.2.2) against moto's RDS, through the library and the CLI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import ANY

import boto3
import pytest
from botocore.stub import Stubber
from mypy_boto3_rds import RDSClient
from mypy_boto3_rds.type_defs import WaiterConfigTypeDef

import pricealert.cli
from pricealert_ops import rds_drill, rds_restore
from pricealert_ops.rds_restore import RdsRestoreError

FAST: WaiterConfigTypeDef = {"Delay": 1, "MaxAttempts": 3}
SOURCE = rds_drill.SOURCE
SNAPSHOT = rds_drill.SNAPSHOT
MONITORING_ROLE = rds_drill.MONITORING_ROLE


@dataclass(frozen=True)
class Production:
    rds: RDSClient
    security_group: str  # another group, for restores that ask for one
    database_group: str  # the source's own


@pytest.fixture
def production(aws: None) -> Production:
    """A production-like source (its own subnet, security, parameter and option groups,
    Multi-AZ, deletion protection, monitoring, tags), snapshotted — the RDS drill's own."""
    rds: RDSClient = boto3.client("rds")
    database_group = rds_drill.create_production_source(rds)
    vpc = boto3.client("ec2").describe_security_groups(GroupIds=[database_group])["SecurityGroups"][
        0
    ]["VpcId"]
    other = boto3.client("ec2").create_security_group(
        GroupName="restored-db", Description="t", VpcId=vpc
    )
    return Production(rds=rds, security_group=other["GroupId"], database_group=database_group)


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


def test_cli_reports_a_missing_snapshot_without_a_traceback(
    production: Production, capsys: pytest.CaptureFixture[str]
) -> None:
    code = pricealert.cli.main(["restore", "rds-snapshot", "gone-snapshot", "target-db"])

    assert code == 2
    assert capsys.readouterr().err == "error: snapshot_not_found: no DB snapshot 'gone-snapshot'\n"


def test_cli_pitr_refuses_a_naive_time(
    production: Production, capsys: pytest.CaptureFixture[str]
) -> None:
    code = pricealert.cli.main(["restore", "rds-pitr", "target-db", "2023-06-15T08:45:00"])

    assert code == 2
    assert capsys.readouterr().err.startswith("error: restore_time_naive: ")
    assert "target-db" not in {
        i["DBInstanceIdentifier"] for i in production.rds.describe_db_instances()["DBInstances"]
    }


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

    from pricealert_ops.cli import backup

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
        production.rds,
        "came-up-bare",
        None,
        {"VpcSecurityGroupIds": [production.security_group]},
        wait=True,
        waiter_config=FAST,
    )

    groups = _instance(production.rds, "came-up-bare")["VpcSecurityGroups"]
    assert result.status == "available"
    assert [g["VpcSecurityGroupId"] for g in groups] == [production.security_group]  # type: ignore[attr-defined]


# --- restores come up usable: like their source ------------------------------------------


@pytest.mark.parametrize("path", ["snapshot", "pitr"])
def test_a_restore_without_options_comes_up_like_its_source(
    production: Production, path: str
) -> None:
    if path == "snapshot":
        rds_restore.restore_from_snapshot(
            production.rds, SNAPSHOT, "price-alert-recovered", waiter_config=FAST
        )
    else:
        rds_restore.restore_to_point_in_time(
            production.rds,
            "price-alert-recovered",
            datetime.now(UTC) - timedelta(minutes=20),
            waiter_config=FAST,
        )

    source = rds_drill.settings_of(_instance(production.rds, SOURCE))
    restored = _instance(production.rds, "price-alert-recovered")
    assert rds_drill.settings_of(restored) == source
    assert source["security groups"] == [production.database_group]  # not the VPC's default group
    assert source["monitoring"] == (60, MONITORING_ROLE)
    tags = {t["Key"]: t["Value"] for t in restored["TagList"]}  # type: ignore[attr-defined]
    assert tags["pricealert:restored-from"].startswith(
        f"snapshot:{SNAPSHOT}" if path == "snapshot" else f"{SOURCE}@"
    )
    assert datetime.fromisoformat(tags["pricealert:restored-at"]).tzinfo is not None


def test_security_groups_asked_for_win_over_the_sources(production: Production) -> None:
    rds_restore.restore_from_snapshot(
        production.rds,
        SNAPSHOT,
        "price-alert-recovered",
        security_group_ids=[production.security_group],
        waiter_config=FAST,
    )

    restored = rds_drill.settings_of(_instance(production.rds, "price-alert-recovered"))
    assert restored["security groups"] == [production.security_group]
    assert restored["deletion protection"] is True


# --- the second region: restore from the replicated automated backups (botocore Stubber) ----
# moto does not replicate automated backups between regions, so these tests hold the
# restore to the request shapes of botocore's own RDS model (Stubber validates every
# parameter against it) and to the responses RDS documents.

DR_REGION = "ap-northeast-3"
REPLICA_ARN = f"arn:aws:rds:{DR_REGION}:123456789012:auto-backup:ab-4cvq2kkwyu5qbmfnfoyzprxvn4"
DR_GROUP = "sg-0123456789abcdef0"
NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
WHEN = NOW - timedelta(hours=2)


def _replica() -> dict[str, Any]:
    return {
        "DBInstanceAutomatedBackupsArn": REPLICA_ARN,
        "DBInstanceIdentifier": SOURCE,
        "Region": "ap-northeast-1",
        "Status": "replicating",
        "RestoreWindow": {"EarliestTime": NOW - timedelta(days=7), "LatestTime": NOW},
        "BackupRetentionPeriod": 7,
    }


def _described(identifier: str, status: str, **extra: Any) -> dict[str, Any]:
    instance = {"DBInstanceIdentifier": identifier, "DBInstanceStatus": status, **extra}
    return {"DBInstances": [instance]}


def _not_found(stub: Stubber, identifier: str) -> None:
    stub.add_client_error(
        "describe_db_instances",
        service_error_code="DBInstanceNotFound",
        http_status_code=404,
        expected_params={"DBInstanceIdentifier": identifier},
    )


def test_pitr_in_the_second_region_restores_from_the_replicated_backups() -> None:
    dr = boto3.client(
        "rds", region_name=DR_REGION, aws_access_key_id="t", aws_secret_access_key="t"
    )
    primary = boto3.client(
        "rds", region_name="ap-northeast-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    with Stubber(dr) as dr_stub, Stubber(primary) as primary_stub:
        dr_stub.add_response(
            "describe_db_instance_automated_backups",
            {"DBInstanceAutomatedBackups": [_replica()]},
            {"DBInstanceIdentifier": SOURCE},
        )
        _not_found(dr_stub, "price-alert-dr")
        primary_stub.add_response(
            "describe_db_instances",
            _described(
                SOURCE,
                "available",
                MultiAZ=True,
                DeletionProtection=True,
                StorageType="gp3",
                EnabledCloudwatchLogsExports=["postgresql"],
                MonitoringInterval=60,
                MonitoringRoleArn=MONITORING_ROLE,
                BackupRetentionPeriod=7,
                TagList=[{"Key": "service", "Value": "pricealert"}],
                DBSubnetGroup={"DBSubnetGroupName": "primary-only"},
                VpcSecurityGroups=[{"VpcSecurityGroupId": "sg-0aaaaaaaaaaaaaaaa"}],
            ),
            {"DBInstanceIdentifier": SOURCE},
        )
        dr_stub.add_response(
            "restore_db_instance_to_point_in_time",
            {"DBInstance": {"DBInstanceIdentifier": "price-alert-dr"}},
            {
                "SourceDBInstanceAutomatedBackupsArn": REPLICA_ARN,
                "TargetDBInstanceIdentifier": "price-alert-dr",
                "RestoreTime": WHEN,
                "DBInstanceClass": "db.t3.large",
                "DBSubnetGroupName": "pricealert-dr-private",
                "VpcSecurityGroupIds": [DR_GROUP],
                "MultiAZ": True,
                "StorageType": "gp3",
                "DeletionProtection": True,
                "EnableCloudwatchLogsExports": ["postgresql"],
                "Tags": ANY,
            },
        )
        available = _described(
            "price-alert-dr",
            "available",
            VpcSecurityGroups=[{"VpcSecurityGroupId": DR_GROUP}],
            Endpoint={"Address": "price-alert-dr.x.ap-northeast-3.rds.amazonaws.com", "Port": 5432},
        )
        dr_stub.add_response("describe_db_instances", available)  # the waiter
        dr_stub.add_response("describe_db_instances", available)  # what came up
        dr_stub.add_response(
            "modify_db_instance",
            {"DBInstance": {"DBInstanceIdentifier": "price-alert-dr"}},
            {
                "DBInstanceIdentifier": "price-alert-dr",
                "ApplyImmediately": True,
                "MonitoringInterval": 60,
                "MonitoringRoleArn": MONITORING_ROLE,
                "BackupRetentionPeriod": 7,
            },
        )
        dr_stub.add_response("describe_db_instances", available)  # the waiter again
        dr_stub.add_response("describe_db_instances", available)  # the result

        result = rds_restore.restore_replica_to_point_in_time(
            dr,
            "price-alert-dr",
            WHEN,
            source_identifier=SOURCE,
            subnet_group="pricealert-dr-private",
            security_group_ids=[DR_GROUP],
            source_rds=primary,
            waiter_config=FAST,
            now=NOW,
        )

        dr_stub.assert_no_pending_responses()
        primary_stub.assert_no_pending_responses()
    assert result.status == "available"
    assert result.endpoint == "price-alert-dr.x.ap-northeast-3.rds.amazonaws.com"


@pytest.mark.parametrize(
    ("when", "subnet_group", "code"),
    [
        (WHEN, None, "placement_required"),
        (NOW - timedelta(days=8), "pricealert-dr-private", "restore_time_out_of_range"),
    ],
)
def test_second_region_refusals_are_named_errors(
    when: datetime, subnet_group: str | None, code: str
) -> None:
    dr = boto3.client(
        "rds", region_name=DR_REGION, aws_access_key_id="t", aws_secret_access_key="t"
    )
    with Stubber(dr) as stub:
        stub.add_response(
            "describe_db_instance_automated_backups",
            {"DBInstanceAutomatedBackups": [_replica()]},
            {"DBInstanceIdentifier": SOURCE},
        )
        with pytest.raises(RdsRestoreError) as caught:
            rds_restore.restore_replica_to_point_in_time(
                dr,
                "price-alert-dr",
                when,
                subnet_group=subnet_group,
                security_group_ids=[DR_GROUP],
                now=NOW,
            )
    assert caught.value.code == code


def test_cli_pitr_in_a_region_without_the_source_or_its_replica_says_so(
    production: Production, capsys: pytest.CaptureFixture[str]
) -> None:
    when = (datetime.now(UTC) - timedelta(minutes=30)).isoformat()

    code = pricealert.cli.main(
        ["restore", "rds-pitr", "dr-target", when, "--region", DR_REGION, "--no-wait"]
    )

    assert code == 2
    assert capsys.readouterr().err == (
        f"error: replica_not_found: no DB instance {SOURCE!r} in this region and no automated "
        "backups of it replicated here\n"
    )


def test_the_rds_drill_command_restores_both_ways_like_the_source(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = pricealert.cli.main(["restore", "drill-rds"])

    out = capsys.readouterr().out
    assert code == 0, out
    assert "snapshot (5.2.1) → price-alert-from-snapshot: OK" in out
    assert "point in time (5.2.2) → price-alert-from-pitr: OK" in out
    assert "DIFFERS" not in out
    assert out.rstrip().endswith("result: PASSED")


def test_a_restore_that_loses_a_setting_fails_the_rds_drill() -> None:
    check = rds_restore_check_with(("deletion protection", True, False))

    assert not check.passed
    assert "DIFFERS (source True)" in "\n".join(rds_drill.format_rds_drill([check]))
    assert rds_drill.format_rds_drill([check])[-1] == "result: FAILED"


def rds_restore_check_with(*settings: tuple[str, object, object]) -> rds_drill.RestoreCheck:
    return rds_drill.RestoreCheck("snapshot (5.2.1)", "t", 0.1, list(settings))


def _exists(rds: RDSClient) -> object:
    return rds_restore.instance_exists(rds, SOURCE)


def _restore_snapshot(rds: RDSClient) -> object:
    return rds_restore.restore_from_snapshot(rds, SNAPSHOT, "price-alert-restored")


def _restore_replica(rds: RDSClient) -> object:
    return rds_restore.restore_replica_to_point_in_time(
        rds, "price-alert-dr", WHEN, subnet_group="dr", security_group_ids=[DR_GROUP], now=NOW
    )


@pytest.mark.parametrize(
    ("operation", "error", "code", "call"),
    [
        ("describe_db_instances", "AccessDenied", "aws_error", _exists),
        ("describe_db_snapshots", "Throttling", "aws_error", _restore_snapshot),
        ("describe_db_snapshots", "DBSnapshotNotFound", "snapshot_not_found", _restore_snapshot),
        ("describe_db_instance_automated_backups", "AccessDenied", "aws_error", _restore_replica),
        (
            "describe_db_instance_automated_backups",
            "DBInstanceAutomatedBackupNotFound",
            "replica_not_found",
            _restore_replica,
        ),
    ],
)
def test_what_rds_answers_to_a_lookup_is_a_named_error(
    operation: str, error: str, code: str, call: Callable[[RDSClient], object]
) -> None:
    rds = boto3.client(
        "rds", region_name=DR_REGION, aws_access_key_id="t", aws_secret_access_key="t"
    )
    with Stubber(rds) as stub:
        stub.add_client_error(
            operation, service_error_code=error, service_message="no", http_status_code=400
        )
        with pytest.raises(RdsRestoreError) as caught:
            call(rds)
    assert caught.value.code == code
    if code == "aws_error":
        assert caught.value.detail == f"{error}: no"
