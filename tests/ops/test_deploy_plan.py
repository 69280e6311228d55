"""`pricealert deploy plan` against moto's CloudFormation, with the real templates of infra/.

What moto 5.2 returns for a change set, checked here so a change on its side shows
up: the "no changes" FAILED status with AWS's own reason; for a template edit, one
`Modify` per edited resource **without** `Replacement`, `Scope` or `Details`; for a
parameter-only change, no resource changes at all (moto does not evaluate what a
parameter touches); for a new stack, one `Add` per resource. What it leaves out is
covered by `test_change_risk.py` on the service's response shapes (botocore Stubber).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

import pricealert.cli
from pricealert_ops import change_records
from pricealert_ops.storage import open_store
from tests.support.aws import moto_aws

INFRA = Path(__file__).resolve().parents[2] / "infra"
REGION = "ap-northeast-1"
DR = {
    "DrBackupVaultArn": "arn:aws:backup:ap-northeast-3:123456789012:backup-vault:pa-dr",
    "DrKeyArn": "arn:aws:kms:ap-northeast-3:123456789012:key/1234abcd-12ab-34cd-56ef-0123",
    "DrDumpBucketArn": "arn:aws:s3:::pricealert-production-db-dumps-dr",
    "DrAppDataBucketArn": "arn:aws:s3:::pricealert-production-app-data-dr",
}
#: A stateful resource added to a copy of network.yaml, to edit and remove under moto.
FLOW_LOGS = """
  FlowLogGroup:
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: !Sub pricealert-${EnvironmentName}-flow-logs
      RetentionInDays: 90
"""


@pytest.fixture
def cfn(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[object]:
    monkeypatch.setenv("PRICEALERT_INCIDENT_STORE", (tmp_path / "store").as_uri())
    (tmp_path / "store").mkdir()
    with moto_aws(monkeypatch, REGION):
        yield boto3.client("cloudformation", region_name=REGION)


@pytest.fixture
def infra(tmp_path: Path) -> Path:
    """A copy of infra/ whose network.yaml also holds a log group."""
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy)
    network = copy / "network.yaml"
    text = network.read_text()
    network.write_text(text.replace("\nResources:\n", "\nResources:\n" + FLOW_LOGS, 1))
    return copy


def _create(cfn: object, infra: Path, name: str) -> None:
    cfn.create_stack(  # type: ignore[attr-defined]
        StackName=f"pricealert-production-{name}",
        TemplateBody=(infra / f"{name}.yaml").read_text(),
        Capabilities=["CAPABILITY_IAM"],
    )


def _plan(
    infra: Path, *args: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any]]:
    code = pricealert.cli.main(["deploy", "plan", "--infra-dir", str(infra), "--json", *args])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def test_an_unchanged_stack_plans_no_changes_and_leaves_no_change_set(
    cfn: object, infra: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _create(cfn, infra, "network")
    code, plan = _plan(infra, "network", capsys=capsys)
    assert code == 0
    assert plan["no_changes"] is True
    assert plan["stacks"][0]["change_set_id"] is None
    summaries = cfn.list_change_sets(StackName="pricealert-production-network")["Summaries"]  # type: ignore[attr-defined]
    assert summaries == []


def test_a_parameter_outside_the_allowlist_is_a_normal_change(
    cfn: object, infra: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _create(cfn, infra, "network")
    code, plan = _plan(infra, "network", "-p", "OperatorCidr=10.99.0.0/16", capsys=capsys)
    assert code == 10
    stack = plan["stacks"][0]
    assert stack["class"] == "normal"
    assert stack["risk"] == "medium"
    assert stack["changed_parameters"]["OperatorCidr"]["new"] == "10.99.0.0/16"
    assert any("OperatorCidr is not a standard-change parameter" in r for r in stack["reasons"])
    # The change set is there for review, and nothing was executed.
    described = cfn.describe_change_set(ChangeSetName=stack["change_set_id"])  # type: ignore[attr-defined]
    assert described["ExecutionStatus"] == "AVAILABLE"
    running = cfn.describe_stacks(StackName="pricealert-production-network")["Stacks"][0]  # type: ignore[attr-defined]
    values = {p["ParameterKey"]: p["ParameterValue"] for p in running["Parameters"]}
    assert values["OperatorCidr"] == stack["changed_parameters"]["OperatorCidr"]["running"]
    assert values["OperatorCidr"] != "10.99.0.0/16"


def test_editing_a_stateful_resource_is_refused_unless_data_loss_is_allowed(
    cfn: object, infra: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _create(cfn, infra, "network")
    network = infra / "network.yaml"
    network.write_text(network.read_text().replace("RetentionInDays: 90", "RetentionInDays: 30"))
    code, plan = _plan(infra, "network", capsys=capsys)
    assert code == 3
    change = plan["stacks"][0]["changes"][0]
    # moto's whole answer for an edited resource: no Replacement, Scope or Details.
    assert change["logical_id"] == "FlowLogGroup"
    assert change["action"] == "Modify"
    assert change["replacement"] is None
    assert change["causes"] == []
    assert plan["refused"] is True
    assert plan["risk"] == "high"

    code, plan = _plan(infra, "network", "--allow-data-loss", capsys=capsys)
    assert code == 10
    assert plan["class"] == "normal"
    assert not plan["refused"]


def test_removing_a_stateful_resource_is_data_at_risk(
    cfn: object, infra: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _create(cfn, infra, "network")
    network = infra / "network.yaml"
    network.write_text(network.read_text().replace(FLOW_LOGS, ""))
    code, plan = _plan(infra, "network", capsys=capsys)
    assert code == 3
    assert any(
        "FlowLogGroup (AWS::Logs::LogGroup): removed" in r for r in plan["stacks"][0]["reasons"]
    )


def test_a_new_stack_is_a_create_change_set_and_a_normal_change(
    cfn: object, infra: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _create(cfn, infra, "network")
    pairs = [arg for k, v in DR.items() for arg in ("-p", f"{k}={v}")]
    code, plan = _plan(infra, "data", *pairs, capsys=capsys)
    assert code == 10
    stack = plan["stacks"][0]
    assert stack["change_set_type"] == "CREATE"
    actions = {c["logical_id"]: c["action"] for c in stack["changes"]}
    assert actions["Database"] == "Add"
    assert set(actions.values()) == {"Add"}


def test_a_missing_required_parameter_is_named(
    cfn: object, infra: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert pricealert.cli.main(["deploy", "plan", "--infra-dir", str(infra), "data"]) == 2
    assert "missing_parameter" in capsys.readouterr().err


def test_a_template_over_the_body_limit_goes_through_s3(
    cfn: object, infra: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = pricealert.cli.main(["deploy", "plan", "--infra-dir", str(infra), "amp"])
    assert code == 2
    assert "template_too_large" in capsys.readouterr().err
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket="artifacts", CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
    )
    code, plan = _plan(infra, "amp", "--s3-bucket", "artifacts", capsys=capsys)
    assert code == 10
    assert plan["stacks"][0]["change_set_type"] == "CREATE"


def test_an_emergency_change_needs_an_approver_and_is_recorded(
    cfn: object, infra: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _create(cfn, infra, "network")
    args = ["network", "-p", "OperatorCidr=10.99.0.0/16", "--emergency"]
    assert pricealert.cli.main(["deploy", "plan", "--infra-dir", str(infra), *args]) == 2
    assert "emergency_needs_approval" in capsys.readouterr().err
    code, plan = _plan(
        infra, *args, "--reason", "VPN moved", "--approver", "lead", "--who", "aiko", capsys=capsys
    )
    assert code == 11
    assert plan["class"] == "emergency"
    record = json.loads(
        (tmp_path / "store" / "changes" / f"{plan['emergency_record']}.json").read_text()
    )
    assert record["approver"] == "lead"
    assert record["who"] == "aiko"
    assert not record["reviewed"]
    assert record["stacks"][0]["changed_parameters"]["OperatorCidr"]["new"] == "10.99.0.0/16"


def test_unknown_stacks_and_parameters_are_named_errors(
    cfn: object, infra: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert pricealert.cli.main(["deploy", "plan", "--infra-dir", str(infra), "nope"]) == 2
    assert "unknown_stack" in capsys.readouterr().err
    argv = ["deploy", "plan", "--infra-dir", str(infra), "network", "-p", "ImageUri=x"]
    assert pricealert.cli.main(argv) == 2
    assert "no stack named takes ImageUri" in capsys.readouterr().err
    assert pricealert.cli.main([*argv[:5], "-p", "not a pair"]) == 2
    assert "invalid_parameter" in capsys.readouterr().err


def test_the_human_output_names_each_change_and_the_execute_command(
    cfn: object, infra: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _create(cfn, infra, "network")
    argv = [
        "deploy",
        "plan",
        "--infra-dir",
        str(infra),
        "network",
        "-p",
        "OperatorCidr=10.9.0.0/16",
    ]
    assert pricealert.cli.main(argv) == 10
    out = capsys.readouterr().out
    assert "pricealert-production-network: UPDATE — risk medium, normal change" in out
    assert "parameter OperatorCidr: 10.0.0.0/16 → 10.9.0.0/16" in out
    assert "class: normal change (risk medium) — change advisory board" in out
    assert re.search(
        r"after the approval: pricealert deploy apply network --change-set-name plan-\d{8}-\d{6}$",
        out,
        re.MULTILINE,
    )


def test_an_emergency_change_waits_for_its_review_until_it_is_closed(
    cfn: object, infra: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _create(cfn, infra, "network")
    args = ["network", "-p", "OperatorCidr=10.99.0.0/16", "--emergency", "--reason", "VPN moved"]
    code, plan = _plan(infra, *args, "--approver", "lead", "--who", "aiko", capsys=capsys)
    assert code == 11
    change_id = plan["emergency_record"]

    assert pricealert.cli.main(["deploy", "emergencies"]) == 0
    listed = capsys.readouterr().out
    assert f"{change_id}  review due" in listed
    assert "by aiko, approved by lead: VPN moved (pricealert-production-network)" in listed

    argv = ["deploy", "reviewed", change_id, "--notes", "right call", "--who", "cab"]
    assert pricealert.cli.main(argv) == 0
    assert f"{change_id} reviewed by cab" in capsys.readouterr().out
    assert pricealert.cli.main(["deploy", "emergencies"]) == 0
    assert "no emergency change waits for its review" in capsys.readouterr().out
    assert pricealert.cli.main(["deploy", "emergencies", "--all", "--json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["review_notes"] == "right call"

    assert pricealert.cli.main(argv) == 2
    assert "change_already_reviewed" in capsys.readouterr().err
    assert pricealert.cli.main(["deploy", "reviewed", "CHG-19990101-1", "--notes", "x"]) == 2
    assert "change_not_found" in capsys.readouterr().err


def test_a_review_not_done_within_seven_days_is_overdue(tmp_path: Path) -> None:
    store = open_store(tmp_path.as_uri())
    opened = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    change_id = change_records.record_emergency(
        store, [], reason="r", approver="a", who="w", now=opened
    )
    (record,) = change_records.emergencies(store)
    assert record["id"] == change_id == "CHG-20261201-1"
    assert not change_records.is_overdue(record, opened + timedelta(days=6, hours=23))
    assert change_records.is_overdue(record, opened + timedelta(days=7, minutes=1))


# -- apply: the reviewed change set runs, then the deployed configuration is backed up ---

CONFIG_BUCKET = "pricealert-production-config"
REPO = INFRA.parent


def _config_bucket() -> Any:
    s3: Any = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=CONFIG_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=CONFIG_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return s3


def _apply(infra: Path, change_set: str, *args: str) -> int:
    return pricealert.cli.main(
        ["deploy", "apply", "--infra-dir", str(infra), "--change-set-name", change_set,
         "--root", str(REPO), *args, "network"]
    )  # fmt: skip


def test_apply_runs_the_reviewed_change_set_then_records_the_deployed_configuration(
    cfn: Any, infra: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = _config_bucket()
    _create(cfn, infra, "network")
    code, _ = _plan(
        infra, "network", "-p", "OperatorCidr=10.99.0.0/16", "--change-set-name", "cs1",
        capsys=capsys,
    )  # fmt: skip
    assert code == 10

    assert _apply(infra, "cs1", "--bucket", CONFIG_BUCKET, "--key", "config/prod.json") == 0

    out = capsys.readouterr().out
    assert "pricealert-production-network: UPDATE_COMPLETE" in out
    assert "new version" in out
    running = cfn.describe_stacks(StackName="pricealert-production-network")["Stacks"][0]
    values = {p["ParameterKey"]: p["ParameterValue"] for p in running["Parameters"]}
    assert values["OperatorCidr"] == "10.99.0.0/16"
    bundle = json.loads(s3.get_object(Bucket=CONFIG_BUCKET, Key="config/prod.json")["Body"].read())[
        "files"
    ]
    deployed = json.loads(bundle["deployed/stacks/pricealert-production-network.json"])
    assert deployed["parameters"]["OperatorCidr"] == "10.99.0.0/16"
    assert "infra/network.yaml" in bundle
    # What ran is spent: applying it again is refused by name, and nothing new is stored.
    assert _apply(infra, "cs1", "--bucket", CONFIG_BUCKET, "--key", "config/prod.json") == 2
    assert "change_set_not_executable" in capsys.readouterr().err
    versions = s3.list_object_versions(Bucket=CONFIG_BUCKET, Prefix="config/prod.json")
    assert len(versions["Versions"]) == 1


def test_apply_without_a_config_bucket_refuses_before_executing_anything(
    cfn: Any, infra: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PRICEALERT_CONFIG_BACKUP_BUCKET", raising=False)
    _create(cfn, infra, "network")
    code, _ = _plan(
        infra, "network", "-p", "OperatorCidr=10.99.0.0/16", "--change-set-name", "cs2",
        capsys=capsys,
    )  # fmt: skip
    assert code == 10

    assert _apply(infra, "cs2") == 2

    assert "no_config_bucket" in capsys.readouterr().err
    described = cfn.describe_change_set(
        ChangeSetName="cs2", StackName="pricealert-production-network"
    )
    assert described["ExecutionStatus"] == "AVAILABLE"
    # Said explicitly, a deploy may go without the export.
    assert _apply(infra, "cs2", "--no-config-backup") == 0
    assert "UPDATE_COMPLETE" in capsys.readouterr().out
