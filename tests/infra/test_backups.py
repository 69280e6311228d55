"""Plan 5.1's backup table in `infra/data.yaml` and `infra/dr-region.yaml`."""

from __future__ import annotations

from typing import Any

from .cfn import props


def _rules(name: str, bucket: str) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = props(name, bucket)["LifecycleConfiguration"]["Rules"]
    return rules


def test_the_database_is_encrypted_protected_and_keeps_seven_days_of_pitr() -> None:
    database = props("data", "Database")

    assert database["StorageEncrypted"] is True
    assert database["DeletionProtection"] is True
    assert database["MultiAZ"] == {"Ref": "DbMultiAZ"}
    assert database["BackupRetentionPeriod"] == 7
    assert database["ManageMasterUserPassword"] is True


def test_the_seven_days_of_pitr_are_replicated_to_the_second_region() -> None:
    database = props("data", "Database")

    # The DR vault's region (an ARN's fourth field), encrypted with that region's key.
    assert database["AutomaticBackupReplicationRegion"] == {
        "Fn::Select": [3, {"Fn::Split": [":", {"Ref": "DrBackupVaultArn"}]}]
    }
    assert database["AutomaticBackupReplicationKmsKeyId"] == {"Ref": "DrKeyArn"}
    assert database["AutomaticBackupReplicationRetentionPeriod"] == 7
    assert props("dr-region", "DrVaultKey")["EnableKeyRotation"] is True


def test_daily_snapshots_are_kept_14_days_here_and_in_the_second_region() -> None:
    (rule,) = props("data", "BackupPlan")["BackupPlan"]["BackupPlanRule"]
    (copy,) = rule["CopyActions"]

    # Every day of every month: cron(minute hour * * ? *).
    assert rule["ScheduleExpression"].endswith(" * * ? *)")
    assert rule["Lifecycle"] == {"DeleteAfterDays": 14}
    assert copy == {
        "DestinationBackupVaultArn": {"Ref": "DrBackupVaultArn"},
        "Lifecycle": {"DeleteAfterDays": 14},
    }


def test_the_backup_selection_is_the_database_of_this_stack() -> None:
    selection = props("data", "BackupSelection")["BackupSelection"]

    assert selection["Resources"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:rds:${AWS::Region}:${AWS::AccountId}:db:${Database}"}
    ]
    assert props("data", "BackupSelection")["BackupPlanId"] == {"Ref": "BackupPlan"}


def test_weekly_dumps_expire_after_90_days_in_both_regions() -> None:
    for name, bucket in (("data", "DumpBucket"), ("dr-region", "DumpReplicaBucket")):
        (rule,) = _rules(name, bucket)
        assert rule["Status"] == "Enabled"
        assert rule["ExpirationInDays"] == 90


def test_app_data_versions_are_kept_30_days_and_replicated_to_the_second_region() -> None:
    for name, bucket in (("data", "AppDataBucket"), ("dr-region", "AppDataReplicaBucket")):
        (rule,) = _rules(name, bucket)
        assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
        assert "ExpirationInDays" not in rule  # live data never expires
        assert props(name, bucket)["VersioningConfiguration"] == {"Status": "Enabled"}
    (replication,) = props("data", "AppDataBucket")["ReplicationConfiguration"]["Rules"]
    assert replication["Destination"]["Bucket"] == {"Ref": "DrAppDataBucketArn"}
    assert replication["DeleteMarkerReplication"] == {"Status": "Enabled"}


def test_dumps_are_replicated_to_the_second_region() -> None:
    (replication,) = props("data", "DumpBucket")["ReplicationConfiguration"]["Rules"]

    assert replication["Status"] == "Enabled"
    assert replication["Destination"]["Bucket"] == {"Ref": "DrDumpBucketArn"}


def test_redis_never_evicts_queued_jobs_and_is_encrypted() -> None:
    redis = props("data", "Redis")

    assert props("data", "RedisParameterGroup")["Properties"] == {"maxmemory-policy": "noeviction"}
    assert redis["TransitEncryptionEnabled"] is True
    assert redis["AtRestEncryptionEnabled"] is True
    assert redis["AuthToken"]["Fn::Sub"].startswith("{{resolve:secretsmanager:")
