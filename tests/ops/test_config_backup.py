"""Configuration backup to a versioned bucket in moto: versions on change only, diffs per file."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest

from pricealert_ops import config_backup
from tests.support.aws import moto_aws

Cli = Callable[..., tuple[int, str, str]]
BUCKET = "pricealert-test-config"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    with moto_aws(monkeypatch, "us-east-1"):
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        monkeypatch.setenv("PRICEALERT_CONFIG_BACKUP_BUCKET", BUCKET)
        monkeypatch.setenv("PRICEALERT_ENVIRONMENT", "staging")
        monkeypatch.setenv(
            "PRICEALERT_SECRET_KEY", "a-staging-secret-for-the-tests-only-0123456789"
        )
        monkeypatch.delenv("PRICEALERT_CONFIG_BACKUP_STACKS", raising=False)
        yield client


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A small repository: a template, an alert rule file, an Alertmanager config."""
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "data.yaml").write_text("Resources:\n  A: 1\n  B: 2\n  C: 3\n")
    alerts = tmp_path / "monitoring" / "prometheus" / "alerts"
    alerts.mkdir(parents=True)
    (alerts / "infra.yml").write_text("groups:\n- name: g\n  threshold: 80\n")
    (tmp_path / "monitoring" / "alertmanager").mkdir()
    (tmp_path / "monitoring" / "alertmanager" / "alertmanager.yml").write_text("route: {}\n")
    (tmp_path / "monitoring" / "README.md").write_text("not configuration\n")
    return tmp_path


def _versions(cli: Cli, root: Path) -> list[str]:
    code, out, _ = cli("config", "versions", f"--root={root}")
    assert code == 0
    return [line.split()[0] for line in out.splitlines() if not line.startswith("no versions")]


def _changed_lines(diff_output: str) -> list[str]:
    return [
        line
        for line in diff_output.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_the_real_repository_exports_templates_rules_routing_and_dashboards() -> None:
    files = config_backup.collect_files(REPO)

    assert "infra/data.yaml" in files
    assert "docker-compose.yml" in files
    assert "infra/escalation.generated.yaml" in files
    assert "monitoring/prometheus/alerts/infra.yml" in files
    assert "monitoring/prometheus/rules/infra.generated.yml" in files
    assert "monitoring/alertmanager/alertmanager.yml" in files
    assert "monitoring/escalation.yaml" in files
    assert any(
        p.startswith("monitoring/grafana/dashboards/") and p.endswith(".json") for p in files
    )
    assert not any(p.endswith(".md") for p in files)


def test_only_a_changed_export_makes_a_version_and_diff_shows_exactly_the_change(
    s3: object, cli: Cli, repo: Path
) -> None:
    code, out, _ = cli("config", "backup", f"--root={repo}")
    assert code == 0, out
    assert out.startswith("new version ")
    code, out, _ = cli("config", "backup", f"--root={repo}")
    assert out.startswith("unchanged: s3://pricealert-test-config/config/staging.json")
    assert len(_versions(cli, repo)) == 1

    rules = repo / "monitoring" / "prometheus" / "alerts" / "infra.yml"
    rules.write_text(rules.read_text().replace("threshold: 80", "threshold: 85"))
    (repo / "infra" / "paging.yaml").write_text("Resources: {}\n")
    assert cli("config", "backup", f"--root={repo}")[0] == 0
    second, first = _versions(cli, repo)

    code, out, _ = cli("config", "diff", first, second, f"--root={repo}")

    assert code == 0
    assert _changed_lines(out) == ["+Resources: {}", "-  threshold: 80", "+  threshold: 85"]
    assert "--- /dev/null\n+++ " + second + "/infra/paging.yaml" in out
    assert f"--- {first}/monitoring/prometheus/alerts/infra.yml" in out
    assert "data.yaml" not in out


def test_diff_against_the_working_tree_shows_what_a_deploy_would_change(
    s3: object, cli: Cli, repo: Path
) -> None:
    assert cli("config", "backup", f"--root={repo}")[0] == 0
    (version,) = _versions(cli, repo)
    template = repo / "infra" / "data.yaml"
    template.write_text(template.read_text().replace("  B: 2\n", ""))
    (repo / "monitoring" / "alertmanager" / "alertmanager.yml").unlink()

    code, out, _ = cli("config", "diff", version, f"--root={repo}")

    assert code == 0
    assert _changed_lines(out) == ["-  B: 2", "-route: {}"]
    assert "+++ /dev/null" in out
    assert cli("config", "diff", "latest", "latest", f"--root={repo}")[1].startswith(
        "no differences between latest and latest"
    )


def test_a_bucket_without_versioning_is_refused_by_name(s3: object, cli: Cli, repo: Path) -> None:
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="plain")

    code, _, err = cli("config", "backup", "--bucket=plain", f"--root={repo}")

    assert code == 2
    assert err.startswith("error: config_bucket_not_versioned: ")
    assert "Traceback" not in err


def test_an_unknown_version_and_a_missing_bucket_are_named_errors(
    s3: object, cli: Cli, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("config", "backup", f"--root={repo}")[0] == 0

    code, _, err = cli("config", "diff", "no-such-version", f"--root={repo}")
    assert (code, err.split(":")[1].strip()) == (2, "config_version_not_found")

    monkeypatch.delenv("PRICEALERT_CONFIG_BACKUP_BUCKET")
    code, _, err = cli("config", "versions", f"--root={repo}")
    assert (code, err.split(":")[1].strip()) == (2, "no_config_bucket")
    code, _, err = cli("config", "backup", f"--root={repo / 'infra'}", f"--bucket={BUCKET}")
    assert (code, err.split(":")[1].strip()) == (2, "not_a_repository_root")


def test_deployed_stacks_add_their_parameters_and_rendered_task_definitions(
    s3: object, cli: Cli, repo: Path
) -> None:
    template = {
        "Parameters": {"ImageUri": {"Type": "String"}},
        "Resources": {
            "Migrate": {
                "Type": "AWS::ECS::TaskDefinition",
                "Properties": {
                    "Family": "pricealert-staging-migrate",
                    "ContainerDefinitions": [
                        {"Name": "migrate", "Image": {"Ref": "ImageUri"}, "Memory": 512}
                    ],
                },
            }
        },
    }
    boto3.client("cloudformation", region_name="us-east-1").create_stack(
        StackName="pricealert-staging-jobs",
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": "ImageUri", "ParameterValue": "pricealert:1.4.2"}],
    )

    code, out, _ = cli("config", "backup", "--stack=pricealert-staging-jobs", f"--root={repo}")
    assert code == 0, out
    files = config_backup.load_version(
        boto3.client("s3", region_name="us-east-1"), BUCKET, "config/staging.json", "latest"
    )

    stack = json.loads(files["deployed/stacks/pricealert-staging-jobs.json"])
    assert stack["parameters"] == {"ImageUri": "pricealert:1.4.2"}
    definition = json.loads(files["deployed/task-definitions/pricealert-staging-migrate.json"])
    assert definition["containerDefinitions"][0]["image"] == "pricealert:1.4.2"
