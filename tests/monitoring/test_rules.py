"""Prometheus rules: promtool-clean, unit-tested for every alert, complete annotations."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pricealert_ops.monitoring.escalation import SEVERITIES, load_policy
from tests.monitoring.rules import (
    alert_cases,
    alert_rules,
    all_rules,
    promtool_test_files,
    rule_files,
)

ALERT_NAMES = sorted({rule["alert"] for _, rule in alert_rules()})
#: Fires all the time by design (the dead-man's switch): no quiet case, no plan severity.
WATCHDOG = "PriceAlertWatchdog"
SEVERITY_PAIRS = sorted({(r["alert"], r["labels"]["severity"]) for _, r in alert_rules()})


def test_promtool_finds_every_rule_file_valid(promtool: str) -> None:
    result = subprocess.run(
        [promtool, "check", "rules", *map(str, rule_files())],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr


@pytest.mark.parametrize("test_file", promtool_test_files(), ids=lambda p: p.name)
def test_promtool_unit_tests_pass(promtool: str, test_file: Path) -> None:
    result = subprocess.run(
        [promtool, "test", "rules", test_file.name],
        cwd=test_file.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("alertname", "severity"), SEVERITY_PAIRS)
def test_every_alert_and_severity_has_a_case_where_it_fires(alertname: str, severity: str) -> None:
    fired = {
        alert["exp_labels"].get("severity")
        for _, name, expected in alert_cases()
        if name == alertname
        for alert in expected
    }
    assert severity in fired, f"no promtool case where {alertname} fires at {severity}"


@pytest.mark.parametrize("alertname", [n for n in ALERT_NAMES if n != WATCHDOG])
def test_every_alert_has_a_case_where_it_stays_quiet(alertname: str) -> None:
    quiet = [path for path, name, expected in alert_cases() if name == alertname and not expected]
    assert quiet, f"no promtool case where {alertname} stays quiet"


def test_every_escalation_level_of_every_severity_is_seen_firing(monitoring_dir: Path) -> None:
    policy = load_policy(monitoring_dir / "escalation.yaml")
    wanted = {(sev, str(level.level)) for sev, levels in policy.levels.items() for level in levels}
    seen = {
        (alert["exp_labels"].get("severity"), str(alert["exp_labels"]["escalation"]))
        for _, _, expected in alert_cases()
        for alert in expected
        if "escalation" in alert["exp_labels"]
    }
    assert wanted <= seen, f"escalations never seen firing in a promtool test: {wanted - seen}"


def test_every_alert_has_a_plan_severity_and_complete_annotations() -> None:
    problems = []
    for path, rule in alert_rules():
        where = f"{path.name}:{rule['alert']}"
        allowed = ("none",) if rule["alert"] == WATCHDOG else SEVERITIES
        if rule.get("labels", {}).get("severity") not in allowed:
            problems.append(f"{where}: severity must be one of {SEVERITIES}")
        if not rule.get("labels", {}).get("service"):
            problems.append(f"{where}: no service label (inhibition groups by it)")
        for key in ("summary", "description", "runbook_url"):
            if not rule.get("annotations", {}).get(key):
                problems.append(f"{where}: no {key}")
    assert problems == []


def test_every_runbook_url_points_at_an_existing_runbook(monitoring_dir: Path) -> None:
    repo = monitoring_dir.parent
    missing = {
        rule["annotations"]["runbook_url"]
        for _, rule in alert_rules()
        if not (repo / rule["annotations"]["runbook_url"]).is_file()
        or rule["annotations"]["runbook_url"] != f"monitoring/runbooks/{rule['alert']}.md"
    }
    assert missing == set()


@pytest.mark.parametrize("alertname", ALERT_NAMES)
def test_every_alert_has_a_runbook_that_says_what_to_do(
    monitoring_dir: Path, alertname: str
) -> None:
    page = monitoring_dir / "runbooks" / f"{alertname}.md"
    assert page.is_file(), f"no runbook for {alertname}"
    text = page.read_text(encoding="utf-8")
    for section in ("**Means:**", "**First checks**", "**Likely causes**", "**Mitigation**"):
        assert section in text, f"{page.name} lacks {section}"


def test_every_generated_slo_rule_carries_its_slo_label() -> None:
    unlabelled = [
        rule.get("record") or rule.get("alert")
        for path, rule in all_rules()
        if path.name == "slo.generated.yml" and not rule.get("labels", {}).get("slo")
    ]
    assert unlabelled == []


def test_every_plan_row_has_its_alert() -> None:
    # Ops plan 2.1 (application, business and self-hosted infrastructure rows) and 4.2.
    expected = {
        "PriceAlertApiLatencyHigh": "medium",
        "PriceAlertApiErrorRateHigh": "high",
        "PriceAlertQueueBacklog": "medium",
        "PriceAlertJobDurationHigh": "low",
        "PriceAlertJobFailureRateHigh": "high",
        "PriceAlertScrapeSuccessLow": "high",
        "PriceAlertNotificationSuccessLow": "high",
        "PriceAlertHostCpuHigh": "medium",
        "PriceAlertHostMemoryHigh": "medium",
        "PriceAlertDatabaseCpuHigh": "high",
        "PriceAlertDatabaseDiskHigh": "high",
        "PriceAlertRedisMemoryHigh": "medium",
        "PriceAlertTargetDown": "critical",
    }
    base = {
        rule["alert"]: rule["labels"]["severity"]
        for _, rule in alert_rules()
        if "escalation" not in rule["labels"] and rule["alert"] in expected
    }
    assert base == expected
