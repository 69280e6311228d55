"""Ops paging (`paging.yaml`): its own topics, its own SMS region and spend limit, E.164 people.

The two inline Lambda handlers are taken from the template and run against
moto's SNS with the events SNS and CloudFormation send; `cfnresponse` (which
Lambda provides for inline code) is replaced by a recorder.
"""

from __future__ import annotations

import json
import re
import sys
import types
from typing import Any

import boto3
import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends

from pricealert_ops.monitoring import REPO_MONITORING_DIR
from pricealert_ops.monitoring.aws import camel, receivers_of

from .cfn import TEMPLATES, props, resources, template, walk
from .conftest import REGION

PAGING_REGION = "ap-southeast-1"
Sent = list[tuple[str, str | None, dict[str, Any]]]


def _code(logical_id: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    code = props("paging", logical_id)["Code"]["ZipFile"]
    with pytest.MonkeyPatch.context() as patch:
        for key, value in (env or {}).items():
            patch.setenv(key, value)
        exec(compile(code, f"paging.yaml:{logical_id}", "exec"), namespace)  # noqa: S102 - our template
    return namespace


@pytest.fixture
def cfn_sent(monkeypatch: pytest.MonkeyPatch) -> Sent:
    sent: Sent = []
    recorder = types.ModuleType("cfnresponse")
    recorder.SUCCESS, recorder.FAILED = "SUCCESS", "FAILED"  # type: ignore[attr-defined]

    def send(event: object, context: object, status: str, data: dict[str, Any], physical_id: str,
             **kw: Any) -> None:  # fmt: skip
        sent.append((status, kw.get("reason"), data))

    recorder.send = send  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cfnresponse", recorder)
    return sent


def _spend_limit_event(request: str, limit: int) -> dict[str, Any]:
    properties = {"Region": PAGING_REGION, "MonthlySpendLimitUsd": str(limit)}
    return {"RequestType": request, "ResourceProperties": properties}


def _limit(region: str) -> str | None:
    attributes = boto3.client("sns", region_name=region).get_sms_attributes()["attributes"]
    value: str | None = attributes.get("MonthlySpendLimit")
    return value


# --- people and topics -------------------------------------------------------------------


def test_there_is_a_topic_for_every_receiver_of_the_routing_and_it_is_exported() -> None:
    topics = resources("paging", "AWS::SNS::Topic")
    outputs = template("paging")["Outputs"]
    for receiver in receivers_of(REPO_MONITORING_DIR):
        assert f"{camel(receiver)}Topic" in topics, receiver
        assert f"{camel(receiver)}TopicArn" in outputs, receiver
        assert props("paging", f"{camel(receiver)}Topic")["TopicName"] == {
            "Fn::Sub": f"pricealert-${{EnvironmentName}}-{receiver}"
        }


@pytest.mark.parametrize("parameter", ["OnCallPhone", "BackupOnCallPhone", "TeamLeadPhone"])
def test_phone_numbers_are_required_e164(parameter: str) -> None:
    spec = template("paging")["Parameters"][parameter]
    pattern = re.compile(spec["AllowedPattern"])

    assert "Default" not in spec
    for good in ("+819012345678", "+14155550123"):
        assert pattern.fullmatch(good)
    for bad in ("", "09012345678", "+0123456789", "+81 90 1234 5678", "+81901234567890123"):
        assert not pattern.fullmatch(bad), bad


def test_each_person_is_behind_the_topic_the_plan_gives_them() -> None:
    subscriptions = {
        (p["TopicArn"]["Ref"], p["Protocol"], str(p["Endpoint"]))
        for p in (r["Properties"] for r in resources("paging", "AWS::SNS::Subscription").values())
    }
    relay = str({"Fn::GetAtt": ["SmsRelayFunction", "Arn"]})
    assert subscriptions == {
        ("OncallEmailTopic", "email", str({"Ref": "OnCallEmail"})),
        ("TeamLeadTopic", "email", str({"Ref": "TeamLeadEmail"})),
        ("OncallSmsTopic", "lambda", relay),
        ("BackupOncallSmsTopic", "lambda", relay),
        ("TeamLeadTopic", "lambda", relay),
        ("PagerdutyTopic", "https", str({"Ref": "PagerDutyEndpoint"})),
        ("IncidentTopic", "https", str({"Ref": "PagerDutyIncidentEndpoint"})),
    }
    phones = props("paging", "SmsRelayFunction")["Environment"]["Variables"]["PHONES"]["Fn::Sub"]
    for topic, phone in (("OncallSmsTopic", "OnCallPhone"),
                         ("BackupOncallSmsTopic", "BackupOnCallPhone"),
                         ("TeamLeadTopic", "TeamLeadPhone")):  # fmt: skip
        assert f'"${{{topic}}}": "${{{phone}}}"' in phones


# --- SMS: another region, another spend limit ------------------------------------------------


def test_ops_sms_must_leave_the_stacks_region() -> None:
    (assertion,) = template("paging")["Rules"]["OpsSmsLeaveTheCustomersRegion"]["Assertions"]
    assert assertion["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "PagingSmsRegion"}, {"Ref": "AWS::Region"}]}]
    }
    relay_env = props("paging", "SmsRelayFunction")["Environment"]["Variables"]
    assert relay_env["SMS_REGION"] == {"Ref": "PagingSmsRegion"}


@pytest.mark.usefixtures("aws")
def test_the_relay_texts_the_person_of_the_topic_from_the_paging_region() -> None:
    topic = f"arn:aws:sns:{REGION}:{DEFAULT_ACCOUNT_ID}:pricealert-production-backup-oncall-sms"
    env = {"SMS_REGION": PAGING_REGION, "PHONES": json.dumps({topic: "+819012345678"})}
    handler = _code("SmsRelayFunction", env)["handler"]
    subject = "[escalation 1] pricealert-production-rds-cpu"
    event = {"Records": [{"Sns": {"TopicArn": topic, "Subject": subject, "Message": "long"}}]}

    handler(event, None)

    paging = sns_backends[DEFAULT_ACCOUNT_ID][PAGING_REGION].sms_messages
    customers = sns_backends[DEFAULT_ACCOUNT_ID][REGION].sms_messages
    assert [(number, text) for number, text in paging.values()] == [
        ("+819012345678", "[escalation 1] pricealert-production-rds-cpu")
    ]
    assert customers == {}


@pytest.mark.usefixtures("aws")
def test_a_topic_without_a_person_is_a_loud_failure_so_sns_retries() -> None:
    handler = _code("SmsRelayFunction", {"SMS_REGION": PAGING_REGION, "PHONES": "{}"})["handler"]
    with pytest.raises(KeyError):
        handler(
            {"Records": [{"Sns": {"TopicArn": "arn:aws:sns:x:1:unknown", "Message": "m"}}]}, None
        )


@pytest.mark.usefixtures("aws")
def test_the_spend_limit_is_raised_when_short(cfn_sent: Sent) -> None:
    handler = _code("SpendLimitFunction")["handler"]
    boto3.client("sns", region_name=PAGING_REGION).set_sms_attributes(
        attributes={"MonthlySpendLimit": "1"}
    )

    handler(_spend_limit_event("Create", 10), None)

    assert _limit(PAGING_REGION) == "10"
    assert cfn_sent == [("SUCCESS", None, {"MonthlySpendLimitUsd": "10"})]


@pytest.mark.usefixtures("aws")
def test_a_higher_spend_limit_is_never_lowered_and_delete_leaves_it(cfn_sent: Sent) -> None:
    handler = _code("SpendLimitFunction")["handler"]
    boto3.client("sns", region_name=PAGING_REGION).set_sms_attributes(
        attributes={"MonthlySpendLimit": "200"}
    )

    handler(_spend_limit_event("Update", 10), None)
    handler(_spend_limit_event("Delete", 10), None)

    assert _limit(PAGING_REGION) == "200"
    assert _limit(REGION) is None  # the customers' region is never touched
    assert [status for status, _, _ in cfn_sent] == ["SUCCESS", "SUCCESS"]
    assert cfn_sent[0][2] == {"MonthlySpendLimitUsd": "200"}


@pytest.mark.usefixtures("aws")
def test_a_spend_limit_failure_is_reported_instead_of_hanging_the_stack(cfn_sent: Sent) -> None:
    handler = _code("SpendLimitFunction")["handler"]
    handler({"RequestType": "Create", "ResourceProperties": {"Region": PAGING_REGION}}, None)
    assert [(s, r) for s, r, _ in cfn_sent] == [("FAILED", "'MonthlySpendLimitUsd'")]


@pytest.mark.parametrize("name", TEMPLATES)
def test_only_the_paging_function_sets_sms_attributes_and_only_in_the_paging_region(
    name: str,
) -> None:
    for path, key, value in walk(template(name)):
        if isinstance(value, str) and "set_sms_attributes" in value:
            assert (name, path[:2]) == ("paging", ("Resources", "SpendLimitFunction")), path
        if key == "Action" and "sns:SetSMSAttributes" in str(value):
            assert name == "paging"


def test_the_customers_notifier_cannot_publish_to_ops_paging_topics() -> None:
    statements = [
        s
        for policy in props("services", "AppTaskRole")["Policies"]
        for s in policy["PolicyDocument"]["Statement"]
    ]
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Action"] == "sns:Publish"
    assert deny["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:sns:*:${AWS::AccountId}:pricealert-${EnvironmentName}-*"
    }
