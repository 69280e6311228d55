"""The plan 7.3 class of a change set, from what CloudFormation really reports.

moto leaves out `Replacement`, `Scope` and `Details` (see test_deploy_plan.py), so
these tests give `plan_stack` a real boto3 client under botocore's Stubber, which
checks every request and response against CloudFormation's service model. The
responses have the shape DescribeChangeSet returns for these edits (as in AWS's
"Example change sets" documentation): an image tag replaces each task definition
(`RequiresRecreation: Always` on ContainerDefinitions) and modifies its service
through a `ResourceReference`; a DB engine edit replaces the RDS instance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from pricealert_ops import change_risk, deploy
from pricealert_ops.change_risk import ResourceChange, assess

INFRA = Path(__file__).resolve().parents[2] / "infra"
STACK = "pricealert-production-services"
CS = "arn:aws:cloudformation:ap-northeast-1:123456789012:changeSet/plan-1/0f1e2d3c"
STACK_ID = "arn:aws:cloudformation:ap-northeast-1:123456789012:stack/x/0f1e2d3c"
OLD = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/pricealert:2026.12.01"
NEW = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/pricealert:2026.12.03"


def _change(
    logical_id: str,
    type_: str,
    *,
    action: str = "Modify",
    replacement: str | None = "False",
    details: tuple[tuple[str, str, str, str], ...] = (),  # (name, recreation, source, entity)
    policy: str | None = None,
) -> dict[str, Any]:
    rc: dict[str, Any] = {
        "Action": action,
        "LogicalResourceId": logical_id,
        "PhysicalResourceId": f"{logical_id.lower()}-0123",
        "ResourceType": type_,
        "Scope": ["Properties"] if action == "Modify" else [],
        "Details": [
            {
                "Target": {"Attribute": "Properties", "Name": name, "RequiresRecreation": recreate},
                "Evaluation": "Static",
                "ChangeSource": source,
                **({"CausingEntity": entity} if entity else {}),
            }
            for name, recreate, source, entity in details
        ],
    }
    if replacement is not None and action == "Modify":
        rc["Replacement"] = replacement
    if policy:
        rc["PolicyAction"] = policy
    return {"Type": "Resource", "ResourceChange": rc}


def _stack(parameters: dict[str, str]) -> dict[str, Any]:
    return {
        "Stacks": [
            {
                "StackName": STACK,
                "StackId": STACK_ID,
                "CreationTime": "2026-11-01T00:00:00Z",
                "StackStatus": "UPDATE_COMPLETE",
                "Parameters": [
                    {"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()
                ],
            }
        ]
    }


def _described(status: str, changes: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "ChangeSetName": "plan-1",
        "ChangeSetId": CS,
        "StackId": STACK_ID,
        "StackName": STACK,
        "ExecutionStatus": "AVAILABLE" if status == "CREATE_COMPLETE" else "UNAVAILABLE",
        "Status": status,
        "Changes": changes,
        **extra,
    }


RUNNING = {
    "ImageUri": OLD,
    "LogRouterImageUri": OLD,
    "CertificateArn": "arn:aws:acm:ap-northeast-1:123456789012:certificate/abc",
    "DatabaseUrlSecretArn": "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:a",
    "RedisUrlSecretArn": "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:b",
    "SecretKeySecretArn": "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:c",
    "WebHostName": "app.pricealert.example",
    "ApiMinCapacity": "2",
}


def _plan(
    responses: list[tuple[str, dict[str, Any]]], parameters: dict[str, str], **kwargs: Any
) -> deploy.StackPlan:
    client = boto3.client(
        "cloudformation",
        region_name="ap-northeast-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    request = deploy.stack_request(INFRA, "services", "production")
    with Stubber(client) as stubber:
        for method, response in responses:
            stubber.add_response(method, response)
        plan = deploy.plan_stack(
            client, request, parameters, change_set_name="plan-1", sleep=lambda _s: None, **kwargs
        )
        stubber.assert_no_pending_responses()
    return plan


IMAGE_CHANGES = [
    _change(
        "ApiTaskDefinition",
        "AWS::ECS::TaskDefinition",
        replacement="True",
        details=(("ContainerDefinitions", "Always", "ParameterReference", "ImageUri"),),
    ),
    _change(
        "ApiService",
        "AWS::ECS::Service",
        details=(("TaskDefinition", "Never", "ResourceReference", "ApiTaskDefinition"),),
    ),
]


def test_a_new_image_tag_is_a_standard_change() -> None:
    plan = _plan(
        [
            ("describe_stacks", _stack(RUNNING)),
            ("create_change_set", {"Id": CS, "StackId": STACK_ID}),
            ("describe_change_set", _described("CREATE_PENDING", [])),
            ("describe_change_set", _described("CREATE_IN_PROGRESS", [])),
            ("describe_change_set", _described("CREATE_COMPLETE", IMAGE_CHANGES)),
        ],
        {"ImageUri": NEW},
    )
    assert plan.change_set_type == "UPDATE"
    assert plan.changed_parameters == {"ImageUri": (OLD, NEW)}
    assert plan.assessment.change_class == "standard"
    assert plan.assessment.risk == "low"
    assert plan.assessment.exit_code == 0
    replaced = plan.changes[0]
    assert (replaced.replacement, replaced.scope) == ("True", ("Properties",))
    assert replaced.causes == (("ParameterReference", "ImageUri"),)


def test_the_change_set_is_read_over_every_page() -> None:
    edited = _change(
        "ApiTargetGroup",
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        details=(("HealthCheckPath", "Never", "DirectModification", ""),),
    )
    plan = _plan(
        [
            ("describe_stacks", _stack(RUNNING)),
            ("create_change_set", {"Id": CS, "StackId": STACK_ID}),
            ("describe_change_set", _described("CREATE_COMPLETE", IMAGE_CHANGES, NextToken="p2")),
            ("describe_change_set", _described("CREATE_COMPLETE", [edited])),
        ],
        {"ImageUri": NEW},
    )
    assert [c.logical_id for c in plan.changes] == [
        "ApiTaskDefinition",
        "ApiService",
        "ApiTargetGroup",
    ]
    # A template edit on the second page makes it a normal change.
    assert plan.assessment.change_class == "normal"
    assert any("DirectModification" in r for r in plan.assessment.reasons)


def test_a_parameter_outside_the_allowlist_makes_a_routine_looking_change_normal() -> None:
    plan = _plan(
        [
            ("describe_stacks", _stack(RUNNING)),
            ("create_change_set", {"Id": CS, "StackId": STACK_ID}),
            ("describe_change_set", _described("CREATE_COMPLETE", IMAGE_CHANGES)),
        ],
        {"ImageUri": NEW, "WebHostName": "shop.pricealert.example"},
    )
    assert plan.assessment.change_class == "normal"
    assert plan.assessment.exit_code == 10


def test_a_failed_change_set_is_refused_with_its_reason() -> None:
    reason = (
        "Parameter validation failed: parameter value x for parameter name ImageUri does not exist"
    )
    with pytest.raises(deploy.DeployPlanError) as caught:
        _plan(
            [
                ("describe_stacks", _stack(RUNNING)),
                ("create_change_set", {"Id": CS, "StackId": STACK_ID}),
                ("describe_change_set", _described("FAILED", [], StatusReason=reason)),
            ],
            {"ImageUri": "x"},
        )
    assert caught.value.code == "change_set_failed"
    assert reason in caught.value.detail


def test_aws_no_changes_answer_deletes_the_change_set() -> None:
    reason = (
        "The submitted information didn't contain changes. "
        "Submit different information to create a change set."
    )
    plan = _plan(
        [
            ("describe_stacks", _stack(RUNNING)),
            ("create_change_set", {"Id": CS, "StackId": STACK_ID}),
            ("describe_change_set", _described("FAILED", [], StatusReason=reason)),
            ("delete_change_set", {}),
        ],
        {},
    )
    assert plan.change_set_id is None
    assert plan.assessment.no_changes
    assert plan.assessment.exit_code == 0


def test_waiting_is_bounded() -> None:
    with pytest.raises(deploy.DeployPlanError) as caught:
        _plan(
            [
                ("describe_stacks", _stack(RUNNING)),
                ("create_change_set", {"Id": CS, "StackId": STACK_ID}),
                ("describe_change_set", _described("CREATE_IN_PROGRESS", [])),
                ("describe_change_set", _described("CREATE_IN_PROGRESS", [])),
            ],
            {"ImageUri": NEW},
            timeout_s=5,
            poll_s=5,
        )
    assert caught.value.code == "wait_timed_out"


# --- the rules themselves, on rows as DescribeChangeSet gives them -----------------------


def _row(**kwargs: Any) -> ResourceChange:
    return ResourceChange.from_api(_change(**kwargs))


def test_replacing_the_database_is_refused_and_names_the_deletion_policy() -> None:
    row = _row(
        logical_id="Database",
        type_="AWS::RDS::DBInstance",
        replacement="True",
        details=(("Engine", "Always", "DirectModification", ""),),
        policy="ReplaceAndSnapshot",
    )
    verdict = assess([row], [])
    assert verdict.risk == "high"
    assert verdict.refused
    assert verdict.exit_code == 3
    assert verdict.data_at_risk == (
        "Database (AWS::RDS::DBInstance): replacement True, deletion policy ReplaceAndSnapshot",
    )
    allowed = assess([row], [], allow_data_loss=True)
    assert (allowed.change_class, allowed.exit_code) == ("normal", 10)


def test_a_conditional_replacement_of_a_bucket_is_data_at_risk() -> None:
    row = _row(logical_id="Dumps", type_="AWS::S3::Bucket", replacement="Conditional")
    assert assess([row], []).refused


def test_resizing_the_database_in_place_is_normal_not_refused() -> None:
    row = _row(
        logical_id="Database",
        type_="AWS::RDS::DBInstance",
        details=(("DBInstanceClass", "Never", "ParameterReference", "DbInstanceClass"),),
    )
    verdict = assess([row], ["DbInstanceClass"])
    assert (verdict.risk, verdict.change_class, verdict.refused) == ("medium", "normal", False)


def test_a_standard_parameter_that_replaces_a_stateful_resource_is_not_standard() -> None:
    row = _row(
        logical_id="Logs",
        type_="AWS::Logs::LogGroup",
        replacement="True",
        details=(("LogGroupName", "Always", "ParameterReference", "ImageUri"),),
    )
    assert assess([row], ["ImageUri"]).risk == "high"


@pytest.mark.parametrize("action", ["Add", "Remove", "Import"])
def test_adding_or_removing_stateless_resources_is_normal(action: str) -> None:
    row = _row(logical_id="Topic", type_="AWS::SNS::Topic", action=action, replacement=None)
    verdict = assess([row], [])
    assert (verdict.risk, verdict.change_class) == ("medium", "normal")


def test_an_emergency_is_declared_and_outranks_the_diff() -> None:
    verdict = assess([], ["ImageUri"], emergency=True)
    assert (verdict.change_class, verdict.exit_code) == ("emergency", 11)
    assert "emergency approval" in verdict.approval


def test_a_deployment_takes_the_class_of_its_riskiest_stack() -> None:
    low = assess([], ["ImageUri"])
    medium = assess([], ["OperatorCidr"])
    unchanged = assess([], [])
    combined = change_risk.combine([low, medium, unchanged])
    assert (combined.change_class, combined.exit_code) == ("normal", 10)
    assert change_risk.combine([low, unchanged]).exit_code == 0
    assert change_risk.combine([unchanged, unchanged]).no_changes
