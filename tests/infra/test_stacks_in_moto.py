"""The stacks created in moto's CloudFormation, in deployment order, and read back.

moto creates what it supports and skips the rest with a warning; the skipped
types are pinned below so a change on either side shows up. Not created in moto
at all: `dr-region.yaml` (moto cannot resolve an output's GetAtt on
AWS::Backup::BackupVault). Alarms, scaling, ElastiCache, AWS Backup, SNS
subscriptions and the scheduler - and the properties moto ignores (RDS
encryption and deletion protection, S3 lifecycles and replication) - are
checked from the templates instead (test_templates, test_alarms, test_backups).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.rds.models import DBParameterGroup

from .cfn import INFRA
from .conftest import REGION

ACCOUNT = "123456789012"
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:pricealert/production/x-AbCdEf"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/pricealert:2024.06.15"
STACKS: list[tuple[str, dict[str, str]]] = [
    ("network", {}),
    (
        "data",
        {
            "DrBackupVaultArn": f"arn:aws:backup:ap-northeast-3:{ACCOUNT}:backup-vault:pa-dr",
            "DrKeyArn": f"arn:aws:kms:ap-northeast-3:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-0123",
            "DrDumpBucketArn": "arn:aws:s3:::pricealert-production-db-dumps-dr",
            "DrAppDataBucketArn": "arn:aws:s3:::pricealert-production-app-data-dr",
        },
    ),
    (
        "services",
        {
            "ImageUri": IMAGE,
            "DatabaseUrlSecretArn": SECRET,
            "RedisUrlSecretArn": SECRET,
            "SecretKeySecretArn": SECRET,
        },
    ),
    (
        "jobs",
        {
            "ImageUri": IMAGE,
            "DatabaseUrlSecretArn": SECRET,
            "RedisUrlSecretArn": SECRET,
            "SecretKeySecretArn": SECRET,
        },
    ),
    # The SMS spend limit is a Lambda-backed custom resource: moto would need Docker.
    ("alarms", {"OnCallEmail": "oncall@example.com", "SmsMonthlySpendLimitUsd": ""}),
]
#: What moto 5.2 skips (pinned: a new unsupported type must be noticed).
UNSUPPORTED = {
    # data.yaml
    "AWS::Backup::BackupPlan",
    "AWS::Backup::BackupSelection",
    "AWS::Backup::BackupVault",
    "AWS::ElastiCache::ParameterGroup",
    "AWS::ElastiCache::ReplicationGroup",
    "AWS::ElastiCache::SubnetGroup",
    # services.yaml
    "AWS::ApplicationAutoScaling::ScalableTarget",
    "AWS::ApplicationAutoScaling::ScalingPolicy",
    # jobs.yaml
    "AWS::Scheduler::Schedule",
    # alarms.yaml
    "AWS::CloudWatch::Alarm",
    "AWS::SNS::Subscription",
}


@pytest.fixture(scope="module")
def created() -> Iterator[dict[str, Any]]:
    """Every stack created in one moto account; yields status and skipped types per stack."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }.items():
            patch.setenv(name, value)
        # moto 5.2's DBParameterGroup has no Ref value (the template's !Ref is right).
        patch.setattr(
            DBParameterGroup,
            "physical_resource_id",
            property(lambda self: self.name),
            raising=False,
        )
        with mock_aws(), warnings.catch_warnings(record=True) as caught:
            # moto warns for each type it skips, sometimes later than the stack that
            # holds it (when an output or export is read): collected over all stacks.
            warnings.simplefilter("always")
            cloudformation = boto3.client("cloudformation")
            statuses = {}
            for name, parameters in STACKS:
                cloudformation.create_stack(
                    StackName=f"pricealert-production-{name}",
                    TemplateBody=(INFRA / f"{name}.yaml").read_text(),
                    Parameters=[
                        {"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()
                    ],
                    Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
                )
                stack = cloudformation.describe_stacks(StackName=f"pricealert-production-{name}")
                statuses[name] = stack["Stacks"][0]["StackStatus"]
            messages = [str(w.message) for w in caught]
            yield {
                "statuses": statuses,
                "skipped": {m.split()[3] for m in messages if "not supported by moto" in m},
                "other_warnings": [m for m in messages if "not supported by moto" not in m],
            }


def test_every_stack_is_created_with_only_the_known_gaps_skipped(
    created: dict[str, Any],
) -> None:
    assert created["statuses"] == {name: "CREATE_COMPLETE" for name, _ in STACKS}
    assert created["skipped"] == UNSUPPORTED
    assert created["other_warnings"] == []


def test_the_cluster_runs_the_four_services_and_the_queue_publisher(created: object) -> None:
    ecs = boto3.client("ecs")

    arns = ecs.list_services(cluster="pricealert-production")["serviceArns"]
    services = ecs.describe_services(cluster="pricealert-production", services=arns)["services"]

    assert sorted(s["serviceName"] for s in services) == [
        "api",
        "evaluator",
        "notifier",
        "queue-metrics",
        "scraper",
    ]
    for service in services:
        task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])
        (container,) = task["taskDefinition"]["containerDefinitions"]
        assert container["image"] == IMAGE


def test_the_database_is_created_with_seven_day_backups_in_its_groups(created: object) -> None:
    rds = boto3.client("rds")

    (db,) = rds.describe_db_instances(DBInstanceIdentifier="price-alert-production")["DBInstances"]

    # moto's CloudFormation drops StorageEncrypted and DeletionProtection (test_backups reads them).
    assert (db["Engine"], db["DBInstanceClass"]) == ("postgres", "db.t3.large")
    assert db["BackupRetentionPeriod"] == 7
    assert db["MultiAZ"] is True
    assert db["DBParameterGroups"][0]["DBParameterGroupName"] != "default.postgres16"
    assert db["DBSubnetGroup"]["Subnets"]


def test_the_buckets_exist_encrypted(created: object) -> None:
    s3 = boto3.client("s3")

    # moto's CloudFormation applies only encryption to buckets; lifecycles and
    # replication are read from the templates in test_backups.
    for bucket in (
        f"pricealert-production-db-dumps-{ACCOUNT}",
        f"pricealert-production-app-data-{ACCOUNT}",
    ):
        (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"][
            "Rules"
        ]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_one_topic_per_severity_exists(created: object) -> None:
    topics = boto3.client("sns").list_topics()["Topics"]

    assert sorted(t["TopicArn"].rsplit(":", 1)[1] for t in topics) == [
        "pricealert-production-alerts-high",
        "pricealert-production-alerts-medium",
    ]


def test_the_api_target_group_checks_readiness_on_the_api_port(created: object) -> None:
    (group,) = boto3.client("elbv2").describe_target_groups()["TargetGroups"]

    assert (group["HealthCheckPath"], group["Port"], group["TargetType"]) == ("/readyz", 8000, "ip")
