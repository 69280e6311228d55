"""Severities → P1–P4 in one place (plan 7.2): `pricealert_ops.priorities.PRIORITIES`.

Every alerting rule Prometheus (and AMP) loads carries the `priority` its severity
maps to; Alertmanager's messages show it (rendered by the real `amtool`); every
runbook states it; the on-call handbook's table is the table. Change the mapping
and each of these fails until the generated files and pages follow.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pricealert_ops.monitoring import REPO_MONITORING_DIR
from pricealert_ops.monitoring.aws import load_template
from pricealert_ops.priorities import (
    PRIORITIES,
    PRIORITY_OF_SEVERITY,
    handbook_table,
    priority_line,
    with_priority,
)

RULES = REPO_MONITORING_DIR / "prometheus" / "rules"
RUNBOOKS = REPO_MONITORING_DIR / "runbooks"
ROOT = REPO_MONITORING_DIR.parent
TEMPLATES = REPO_MONITORING_DIR / "alertmanager" / "templates" / "pricealert.tmpl"


def _alerts(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def _rule_files() -> dict[str, list[dict[str, Any]]]:
    return {p.name: _alerts(yaml.safe_load(p.read_text())) for p in sorted(RULES.glob("*.yml"))}


def _amp_rule_files() -> dict[str, list[dict[str, Any]]]:
    """The rule groups AMP runs (`infra/amp.generated.yaml`), as data."""
    found = {}
    for logical_id, resource in load_template(ROOT / "infra" / "amp.generated.yaml")[
        "Resources"
    ].items():
        if resource["Type"] == "AWS::APS::RuleGroupsNamespace":
            found[logical_id] = _alerts(yaml.safe_load(resource["Properties"]["Data"]))
    return found


def test_the_mapping_is_one_to_one_and_covers_every_paged_severity() -> None:
    assert PRIORITY_OF_SEVERITY == {"critical": "P1", "high": "P2", "medium": "P3", "low": "P4"}
    assert list(PRIORITIES) == ["P1", "P2", "P3", "P4"]


@pytest.mark.parametrize("source", ["rules", "amp"])
def test_every_alert_carries_the_priority_of_its_severity(source: str) -> None:
    files = _rule_files() if source == "rules" else _amp_rule_files()
    assert files, "no rule files found"
    checked = 0
    for name, alerts in files.items():
        for rule in alerts:
            labels = rule["labels"]
            expected = PRIORITY_OF_SEVERITY.get(labels["severity"])
            assert labels.get("priority") == expected, (name, rule["alert"], labels)
            checked += 1
    assert checked >= 40  # base alerts, SLO burn alerts and every escalated copy


def test_a_new_severity_would_get_no_made_up_priority() -> None:
    labels = {"severity": "none", "service": "x"}
    rule: dict[str, Any] = {"alert": "X", "expr": "1", "labels": labels}
    assert "priority" not in with_priority(rule)["labels"]
    labels["severity"] = "high"
    assert list(with_priority(rule)["labels"]) == ["severity", "priority", "service"]


def _render(amtool: str, tmp_path: Path, definition: str, labels: dict[str, str]) -> str:
    data = {
        "receiver": "slack",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": "API 5xx error rate is 2%", "runbook_url": "rb.md"},
                "startsAt": "2026-12-03T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus/graph",
                "fingerprint": "0123456789abcdef",
            }
        ],
        "groupLabels": {"alertname": labels["alertname"]},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
    }
    path = tmp_path / "data.json"
    path.write_text(json.dumps(data))
    result = subprocess.run(
        [amtool, "template", "render", f"--template.glob={TEMPLATES}",
         f"--template.data={path}", f'--template.text={{{{ template "{definition}" . }}}}'],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return result.stdout


@pytest.mark.parametrize("definition", ["pricealert.title", "pricealert.sms", "pricealert.text"])
def test_alertmanager_messages_show_the_priority(
    amtool: str, tmp_path: Path, definition: str
) -> None:
    labels = {"alertname": "PriceAlertApiErrorRateHigh", "severity": "high", "priority": "P2"}
    assert re.findall(r"\bP[1-4]\b", _render(amtool, tmp_path, definition, labels)) == ["P2"]
    labels = {"alertname": "PriceAlertWatchdog", "severity": "none"}
    assert not re.findall(r"\bP[1-4]\b", _render(amtool, tmp_path, definition, labels))


def test_the_title_reads_priority_then_severity(amtool: str, tmp_path: Path) -> None:
    labels = {"alertname": "PriceAlertApiErrorRateHigh", "severity": "high", "priority": "P2"}
    title = _render(amtool, tmp_path, "pricealert.title", labels)
    assert title.strip() == "[FIRING:1] P2 high PriceAlertApiErrorRateHigh"


def _severities_by_alert() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for name, alerts in _rule_files().items():
        if name.startswith("escalation"):
            continue
        for rule in alerts:
            found.setdefault(rule["alert"], set()).add(rule["labels"]["severity"])
    return found


@pytest.mark.parametrize("alert", sorted(_severities_by_alert()))
def test_every_runbook_states_the_priority_of_its_alert(alert: str) -> None:
    lines = (RUNBOOKS / f"{alert}.md").read_text().splitlines()
    stated = [line for line in lines if line.startswith("**Priority:**")]
    assert stated == [priority_line(_severities_by_alert()[alert])]


def test_the_on_call_handbook_holds_the_priority_table() -> None:
    handbook = (ROOT / "docs" / "oncall-handbook.md").read_text()
    assert handbook_table() in handbook
    # ... and no other row claims a priority.
    rows = re.findall(r"^\| (P\d) \|", handbook, re.MULTILINE)
    assert sorted(rows) == sorted(PRIORITIES)
