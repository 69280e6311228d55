"""The SMS spend limit custom resource (`alarms.yaml`): its inline handler run against moto's SNS.

`AWS::SNS` has no resource for the account's SMS MonthlySpendLimit, so a small
Lambda sets it. Here its code is taken from the template and called with the
events CloudFormation sends; `cfnresponse` (which Lambda provides for inline
code) is replaced by a recorder of what would be reported back.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import boto3
import pytest

from .cfn import props

Sent = list[tuple[str, str | None]]


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Sent]:
    sent: Sent = []
    recorder = types.ModuleType("cfnresponse")
    recorder.SUCCESS = "SUCCESS"  # type: ignore[attr-defined]
    recorder.FAILED = "FAILED"  # type: ignore[attr-defined]

    def send(
        event: object, context: object, status: str, data: object, physical_id: str, **kw: Any
    ) -> None:
        sent.append((status, kw.get("reason")))

    recorder.send = send  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cfnresponse", recorder)
    namespace: dict[str, Any] = {}
    code = props("alarms", "SmsSpendLimitFunction")["Code"]["ZipFile"]
    exec(compile(code, "alarms.yaml:SmsSpendLimitFunction", "exec"), namespace)  # noqa: S102 - our own template
    return namespace["handler"], sent


def _event(request_type: str, limit: object = "10") -> dict[str, Any]:
    return {"RequestType": request_type, "ResourceProperties": {"MonthlySpendLimitUsd": limit}}


@pytest.mark.usefixtures("aws")
def test_create_sets_the_monthly_spend_limit_and_reports_success(
    handler: tuple[Any, Sent],
) -> None:
    function, sent = handler

    function(_event("Create", "10"), None)

    attributes = boto3.client("sns").get_sms_attributes()["attributes"]
    assert attributes["MonthlySpendLimit"] == "10"
    assert attributes["DefaultSMSType"] == "Transactional"
    assert sent == [("SUCCESS", None)]


@pytest.mark.usefixtures("aws")
def test_delete_leaves_the_account_setting_alone(handler: tuple[Any, Sent]) -> None:
    function, sent = handler
    function(_event("Create", "25"), None)

    function(_event("Delete", "25"), None)

    assert boto3.client("sns").get_sms_attributes()["attributes"]["MonthlySpendLimit"] == "25"
    assert sent == [("SUCCESS", None), ("SUCCESS", None)]


@pytest.mark.usefixtures("aws")
def test_a_failure_is_reported_to_cloudformation_instead_of_hanging_the_stack(
    handler: tuple[Any, Sent],
) -> None:
    function, sent = handler

    function({"RequestType": "Create", "ResourceProperties": {}}, None)

    assert [status for status, _ in sent] == ["FAILED"]
    assert sent[0][1] == "'MonthlySpendLimitUsd'"
