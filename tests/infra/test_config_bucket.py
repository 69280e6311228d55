"""Plan 5.1 設定ファイル: the configuration bucket keeps every version, indefinitely."""

from __future__ import annotations

from .cfn import props, template


def test_the_config_bucket_is_versioned_private_and_encrypted() -> None:
    bucket = props("data", "ConfigBucket")

    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert "ServerSideEncryptionConfiguration" in bucket["BucketEncryption"]
    assert template("data")["Resources"]["ConfigBucket"]["DeletionPolicy"] == "Retain"


def test_no_configuration_version_ever_expires_old_ones_only_get_cheaper() -> None:
    (rule,) = props("data", "ConfigBucket")["LifecycleConfiguration"]["Rules"]

    assert rule["Status"] == "Enabled"
    expiring = {"ExpirationInDays", "ExpirationDate", "NoncurrentVersionExpiration"}
    assert not expiring & set(rule)
    assert rule["NoncurrentVersionTransitions"] == [
        {"StorageClass": "STANDARD_IA", "TransitionInDays": 30}
    ]


def test_the_bucket_name_is_exported_for_the_config_backup_command() -> None:
    output = template("data")["Outputs"]["ConfigBucketName"]

    assert output["Value"] == {"Ref": "ConfigBucket"}
    assert output["Export"]["Name"] == {"Fn::Sub": "${AWS::StackName}-ConfigBucketName"}
