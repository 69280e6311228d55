"""Plan 4.3 for CloudWatch alarms, walked through by AWS Step Functions' own interpreter (moto).

`escalation.generated.yaml` is generated from `monitoring/escalation.yaml`, the
table the Prometheus escalation rules come from. Here its high-severity state
machine runs in moto (moto executes ASL: the aws-sdk CloudWatch call, the
Choice, the SNS publish are real calls against moto's CloudWatch and SNS) for
the RDS CPU alarm. Only time is virtual: each Wait state is recorded and
returns at once, and a test may change the alarm's state "during" a wait.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import boto3
import pytest
from moto import mock_aws
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (  # noqa: E501
    StateTaskServiceAwsSdk,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
    WaitFunction,
)

from pricealert_ops.monitoring import REPO_MONITORING_DIR
from pricealert_ops.monitoring.aws import topic_export
from pricealert_ops.monitoring.escalation import load_policy, minutes

from .cfn import props, resources, template
from .conftest import REGION

POLICY = load_policy(REPO_MONITORING_DIR / "escalation.yaml")
RDS_CPU = "pricealert-production-rds-cpu"
RECEIVERS = sorted({r for rs in POLICY.initial.values() for r in rs}
                   | {lv.receiver for lvs in POLICY.levels.values() for lv in lvs})  # fmt: skip


@dataclass
class Clock:
    """Virtual minutes: each Wait state adds its seconds and may run a hook at the new time."""

    minute: float = 0.0
    hooks: dict[float, Callable[[], None]] = field(default_factory=dict)
    waits: list[float] = field(default_factory=list)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    virtual = Clock()

    def wait(self: WaitFunction, env: Any, wait_seconds: int) -> None:
        start = virtual.minute
        virtual.minute += wait_seconds / 60
        virtual.waits.append(wait_seconds / 60)
        for at, hook in sorted(virtual.hooks.items()):
            if start < at <= virtual.minute:
                hook()

    monkeypatch.setattr(WaitFunction, "_wait_interval", wait)
    return virtual


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _iso(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_iso(v) for v in value]
    return value


@pytest.fixture
def aws_sfn(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Real Step Functions returns an SDK call's timestamps as strings; moto hands back
    # datetime objects, which its own JSON handling then cannot serialise.
    original = StateTaskServiceAwsSdk._eval_service_task

    def as_aws_does(self: Any, env: Any, *args: Any, **kwargs: Any) -> None:
        original(self, env, *args, **kwargs)
        env.stack.append(_iso(env.stack.pop()))

    monkeypatch.setattr(StateTaskServiceAwsSdk, "_eval_service_task", as_aws_does)
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": REGION}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield


@dataclass
class Paging:
    """moto topics named like paging.yaml's, each read through an SQS queue."""

    topics: dict[str, str]
    queues: dict[str, str]

    def received(self) -> dict[str, list[dict[str, Any]]]:
        sqs = boto3.client("sqs")
        got: dict[str, list[dict[str, Any]]] = {}
        for receiver, url in self.queues.items():
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            got[receiver] = [json.loads(m["Body"]) for m in messages]
        return {k: v for k, v in got.items() if v}


@pytest.fixture
def paging(aws_sfn: None) -> Paging:
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topics, queues = {}, {}
    for receiver in RECEIVERS:
        topics[receiver] = sns.create_topic(Name=f"pricealert-production-{receiver}")["TopicArn"]
        queues[receiver] = sqs.create_queue(QueueName=f"page-{receiver}")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queues[receiver], AttributeNames=["QueueArn"])
        sns.subscribe(TopicArn=topics[receiver], Protocol="sqs",
                      Endpoint=queue_arn["Attributes"]["QueueArn"])  # fmt: skip
    return Paging(topics, queues)


def _put_rds_cpu_alarm(paging: Paging) -> None:
    alarm = props("alarms", "DatabaseCpuAlarm")
    boto3.client("cloudwatch").put_metric_alarm(
        AlarmName=RDS_CPU,
        Namespace=alarm["Namespace"],
        MetricName=alarm["MetricName"],
        Dimensions=[{"Name": "DBInstanceIdentifier", "Value": "price-alert-production"}],
        Statistic=alarm["Statistic"],
        Period=alarm["Period"],
        EvaluationPeriods=alarm["EvaluationPeriods"],
        Threshold=alarm["Threshold"],
        ComparisonOperator=alarm["ComparisonOperator"],
        AlarmActions=[paging.topics[r] for r in POLICY.initial["high"]],
    )


def _set(state: Literal["ALARM", "OK"], reason: str = "test") -> None:
    boto3.client("cloudwatch").set_alarm_state(
        AlarmName=RDS_CPU, StateValue=state, StateReason=reason
    )


def _start_escalation(paging: Paging, severity: str) -> str:
    machine = props("escalation.generated", f"Escalate{severity.capitalize()}")
    body, variables = machine["DefinitionString"]["Fn::Sub"]
    for name in variables:
        receiver = next(r for r in RECEIVERS if topic_export(r) == name)
        body = body.replace(f"${{{name}}}", paging.topics[receiver])
    sfn = boto3.client("stepfunctions")
    arn = sfn.create_state_machine(
        name=f"escalate-{severity}", definition=body,
        roleArn="arn:aws:iam::123456789012:role/escalation",
    )["stateMachineArn"]  # fmt: skip
    event = {
        "source": "aws.cloudwatch",
        "detail-type": "CloudWatch Alarm State Change",
        "detail": {"alarmName": RDS_CPU, "state": {"value": "ALARM", "reason": "CPU 91 % > 75"}},
    }
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(event))["executionArn"]
    deadline = time.monotonic() + 30
    while (status := sfn.describe_execution(executionArn=execution)["status"]) == "RUNNING":
        assert time.monotonic() < deadline, "the escalation did not finish"
        time.sleep(0.05)
    assert status == "SUCCEEDED", sfn.get_execution_history(executionArn=execution)
    return str(execution)


def _pages(paging: Paging) -> dict[str, list[str]]:
    return {r: [m["Subject"] for m in ms] for r, ms in paging.received().items()}


def test_the_rds_alarms_are_high_and_page_the_tables_first_receivers() -> None:
    for alarm in ("DatabaseCpuAlarm", "DatabaseDiskAlarm", "DatabaseFreeMemoryAlarm"):
        resource = resources("alarms")[alarm]
        assert resource["Metadata"]["Escalation"]["Severity"] == "high"
        assert resource["Properties"]["AlarmActions"] == [
            {"Fn::ImportValue": {"Fn::Sub": f"${{PagingStackName}}-{topic_export(r)}"}}
            for r in POLICY.initial["high"]
        ]


def test_the_rule_starts_the_high_escalation_for_the_rds_cpu_alarm_entering_alarm() -> None:
    rule = props("escalation.generated", "EscalateHighRule")
    pattern = rule["EventPattern"]

    assert {"Fn::Sub": "pricealert-${EnvironmentName}-rds-cpu"} in pattern["detail"]["alarmName"]
    assert pattern["detail"]["state"] == {"value": ["ALARM"]}
    assert rule["Targets"][0]["Arn"] == {"Ref": "EscalateHigh"}


@pytest.mark.usefixtures("aws_sfn")
def test_a_high_rds_alarm_walks_every_step_of_plan_4_3(paging: Paging, clock: Clock) -> None:
    _put_rds_cpu_alarm(paging)
    _set("ALARM", "CPU 91 % > 75")  # CloudWatch itself notifies AlarmActions here
    # What had been paged by each minute (read between the levels, so each page once).
    seen: dict[float, dict[str, list[str]]] = {}
    for at in (14.9, 15.1, 29.9, 30.1, 59.9):
        clock.hooks[at] = lambda at=at: seen.__setitem__(at, _pages(paging))  # type: ignore[misc]

    _start_escalation(paging, "high")
    seen[60.1] = _pages(paging)

    # +15 backup on-call SMS, +30 team lead, +60 incident: the plan's high column,
    # the same levels the Prometheus escalation rules give a high alert.
    assert [minutes(lv.after) for lv in POLICY.levels["high"]] == [15, 30, 60]
    assert seen == {
        14.9: {},
        15.1: {"backup-oncall-sms": [f"[escalation 1] {RDS_CPU}"]},
        29.9: {},
        30.1: {"team-lead": [f"[escalation 2] {RDS_CPU}"]},
        59.9: {},
        60.1: {"incident": [f"[escalation 3] {RDS_CPU}"]},
    }


@pytest.mark.usefixtures("aws_sfn")
def test_an_alarm_resolved_before_the_next_level_pages_no_one_more(
    paging: Paging, clock: Clock
) -> None:
    _put_rds_cpu_alarm(paging)
    _set("ALARM")
    clock.hooks[20] = lambda: _set("OK")  # resolved between +15 and +30

    _start_escalation(paging, "high")

    assert _pages(paging) == {"backup-oncall-sms": [f"[escalation 1] {RDS_CPU}"]}
    assert sum(clock.waits) == 30  # it looked once more, found OK, stopped


@pytest.mark.usefixtures("aws_sfn")
def test_an_alarm_that_cleared_and_fired_again_starts_over_like_prometheus(
    paging: Paging, clock: Clock
) -> None:
    _put_rds_cpu_alarm(paging)
    _set("ALARM")

    def flap() -> None:
        _set("OK")
        time.sleep(0.01)
        _set("ALARM")  # a new ALARM: its own execution escalates it from the start

    clock.hooks[5] = flap

    _start_escalation(paging, "high")

    assert _pages(paging) == {}


def test_medium_alarms_escalate_on_the_medium_column() -> None:
    definition = json.loads(
        props("escalation.generated", "EscalateMedium")["DefinitionString"]["Fn::Sub"][0]
    )
    waits = [s["Seconds"] // 60 for s in definition["States"].values() if s["Type"] == "Wait"]
    topics = [s["Parameters"]["TopicArn"] for s in definition["States"].values()
              if s.get("Resource") == "arn:aws:states:::sns:publish"]  # fmt: skip

    assert [sum(waits[: i + 1]) for i in range(len(waits))] == [30, 60, 90]
    assert topics == ["${OncallSmsTopicArn}", "${TeamLeadTopicArn}", "${IncidentTopicArn}"]


def test_every_alarm_is_escalated_by_the_machine_of_its_severity() -> None:
    for name in ("alarms", "paging"):
        for logical_id, alarm in resources(name, "AWS::CloudWatch::Alarm").items():
            severity = alarm["Metadata"]["Escalation"]["Severity"]
            rule = props("escalation.generated", f"Escalate{severity.capitalize()}Rule")
            assert (
                alarm["Properties"]["AlarmName"] in rule["EventPattern"]["detail"]["alarmName"]
            ), logical_id
            assert alarm["Properties"]["AlarmActions"] == [
                _paging_ref(name, r) for r in POLICY.initial[severity]
            ], logical_id


def _paging_ref(template_name: str, receiver: str) -> Any:
    if template_name == "paging":
        return {"Ref": f"{topic_export(receiver).removesuffix('Arn')}"}
    return {"Fn::ImportValue": {"Fn::Sub": f"${{PagingStackName}}-{topic_export(receiver)}"}}


def test_the_generated_template_is_known_to_the_checks() -> None:
    assert template("escalation.generated")["Resources"]
