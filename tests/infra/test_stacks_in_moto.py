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

import json
import warnings
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.rds.models import DBParameterGroup

from pricealert_ops.monitoring import REPO_MONITORING_DIR
from pricealert_ops.monitoring.aws import receivers_of

from .cfn import INFRA, props, template
from .conftest import REGION

ACCOUNT = "123456789012"
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:pricealert/production/x-AbCdEf"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/pricealert:2024.06.15"
OPS_IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/pricealert-ops:2024.06.15"
ROUTER = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/pricealert-log-router:2024.06.15"
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
        "paging",
        {
            "OnCallEmail": "oncall@example.com",
            "TeamLeadEmail": "lead@example.com",
            "OnCallPhone": "+819011112222",
            "BackupOnCallPhone": "+819033334444",
            "TeamLeadPhone": "+819055556666",
            # The spend limit is a Lambda-backed custom resource: moto would need Docker.
            "ManagePagingSmsSpendLimit": "false",
        },
    ),
    ("logging-stand-in", {}),
    (
        "services",
        {
            "ImageUri": IMAGE,
            "LogRouterImageUri": ROUTER,
            "DatabaseUrlSecretArn": SECRET,
            "RedisUrlSecretArn": SECRET,
            "SecretKeySecretArn": SECRET,
            "WebHostName": "app.pricealert.example",
        },
    ),
    (
        "jobs",
        {
            "ImageUri": IMAGE,
            "OpsImageUri": OPS_IMAGE,
            "LogRouterImageUri": ROUTER,
            "DatabaseUrlSecretArn": SECRET,
            "RedisUrlSecretArn": SECRET,
            "SecretKeySecretArn": SECRET,
        },
    ),
    ("alarms", {}),
    ("escalation.generated", {}),
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
    # paging.yaml (and alarms.yaml)
    "AWS::CloudWatch::Alarm",
    "AWS::Logs::MetricFilter",  # alarms.yaml: backup failure events counted
    "AWS::SNS::Subscription",
    "AWS::SNS::TopicPolicy",
}


def _stand_in_for_logging() -> str:
    """logging.yaml's exports over a real managed policy: moto cannot create OpenSearch."""
    outputs = template("logging")["Outputs"]
    stand_in = {
        "Resources": {
            "ShipLogsPolicy": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {
                    "PolicyDocument": props("logging", "ShipLogsPolicy")["PolicyDocument"]
                    | {
                        "Statement": [
                            {"Effect": "Allow", "Action": "es:ESHttpPost", "Resource": "*"}
                        ]
                    }
                },
            }
        },
        "Outputs": {
            name: {
                "Value": {"Ref": "ShipLogsPolicy"}
                if name == "ShipLogsPolicyArn"
                else f"stand-in-{name}",
                "Export": output["Export"],
            }
            for name, output in outputs.items()
            if "Export" in output  # only exports reach other stacks
        },
    }
    return json.dumps(stand_in)


#: What moto cannot even skip (a GetAtt/Ref of a type it does not create), left out of its
#: copy of the template: outputs, resources, and the properties that point at them.
#: Cloud Map registration is checked on the template (test_monitoring_on_aws).
UNRESOLVABLE = {
    "data": {"outputs": {"RedisPrimaryEndpoint", "RedisReaderEndpoint"}},
    "services": {
        "outputs": {"ServiceDiscoveryNamespaceId"},
        "types": {"AWS::ServiceDiscovery::PrivateDnsNamespace", "AWS::ServiceDiscovery::Service"},
        "properties": {"ServiceRegistries"},
    },
}


def _body(name: str) -> str:
    if name == "logging-stand-in":
        return _stand_in_for_logging()
    if name not in UNRESOLVABLE:
        return (INFRA / f"{name}.yaml").read_text()
    gaps = UNRESOLVABLE[name]
    decoded = json.loads(json.dumps(template(name)))
    for output in gaps.get("outputs", set()):
        del decoded["Outputs"][output]
    decoded["Resources"] = {
        k: v for k, v in decoded["Resources"].items() if v["Type"] not in gaps.get("types", set())
    }
    for resource in decoded["Resources"].values():
        for prop in gaps.get("properties", set()):
            resource.get("Properties", {}).pop(prop, None)
    return json.dumps(decoded)


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
                stack_name = "logging" if name == "logging-stand-in" else name.split(".")[0]
                cloudformation.create_stack(
                    StackName=f"pricealert-production-{stack_name}",
                    TemplateBody=_body(name),
                    Parameters=[
                        {"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()
                    ],
                    Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
                )
                stack = cloudformation.describe_stacks(
                    StackName=f"pricealert-production-{stack_name}"
                )
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
        "web",
    ]
    for service in services:
        task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])
        containers = {c["name"]: c for c in task["taskDefinition"]["containerDefinitions"]}
        # the service's own container from the one image, beside its FireLens log router
        (app,) = [c for name, c in containers.items() if name != "log-router"]
        assert app["image"] == IMAGE
        assert containers["log-router"]["image"] == ROUTER
        assert containers["log-router"]["firelensConfiguration"]["type"] == "fluentbit"
        assert app["logConfiguration"]["logDriver"] == "awsfirelens"


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


def test_one_topic_per_receiver_exists(created: object) -> None:
    topics = boto3.client("sns").list_topics()["Topics"]

    assert sorted(t["TopicArn"].rsplit(":", 1)[1] for t in topics) == sorted(
        f"pricealert-production-{r}" for r in [*receivers_of(REPO_MONITORING_DIR)]
    )


def test_the_load_balancer_answers_metrics_with_a_404_of_its_own(created: object) -> None:
    elbv2 = boto3.client("elbv2")
    listeners = elbv2.describe_listeners(
        LoadBalancerArn=elbv2.describe_load_balancers()["LoadBalancers"][0]["LoadBalancerArn"]
    )["Listeners"]
    (listener,) = [item for item in listeners if item["DefaultActions"][0]["Type"] == "forward"]
    rules = [r for r in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
             if not r["IsDefault"]]  # fmt: skip

    by_priority = {int(r["Priority"]): r for r in rules}
    assert sorted(by_priority) == [1, 10]  # /metrics first, then the web UI's host
    rule = by_priority[1]
    assert "/metrics" in rule["Conditions"][0]["PathPatternConfig"]["Values"]
    assert rule["Actions"][0]["FixedResponseConfig"]["StatusCode"] == "404"
    web = by_priority[10]
    assert web["Conditions"][0]["HostHeaderConfig"]["Values"] == ["app.pricealert.example"]
    assert web["Actions"][0]["Type"] == "forward"


def test_the_escalation_state_machines_exist_and_page_the_paging_topics(created: object) -> None:
    sfn = boto3.client("stepfunctions")
    machines = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    topics = {t["TopicArn"] for t in boto3.client("sns").list_topics()["Topics"]}

    assert sorted(machines) == [
        "pricealert-production-escalate-high",
        "pricealert-production-escalate-medium",
    ]
    for arn in machines.values():
        definition = json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"])
        published = {s["Parameters"]["TopicArn"] for s in definition["States"].values()
                     if s.get("Resource") == "arn:aws:states:::sns:publish"}  # fmt: skip
        assert published
        assert published <= topics


def test_the_api_target_group_checks_readiness_on_the_api_port(created: object) -> None:
    groups = boto3.client("elbv2").describe_target_groups()["TargetGroups"]

    checked = sorted((g["HealthCheckPath"], g["Port"], g["TargetType"]) for g in groups)
    assert checked == [("/readyz", 8000, "ip"), ("/readyz", 8080, "ip")]  # the API, the web UI
