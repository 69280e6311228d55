"""Thresholds cannot drift: written once, shown by the summary, pinned by boundary tests.

The mutation check moves every threshold of `alerts/*.yml` one step up and one
step down (its `threshold_step`, 1 % of it by default), regenerates the rule
files in a scratch copy, and runs every promtool test file against them: each
move must make at least one test fail. A threshold no test notices moving is
a threshold nobody checked.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pricealert_ops.monitoring.alerts import (
    SOURCES,
    AlertSourceError,
    Threshold,
    generated_name,
    load_source,
    render_rules,
    render_source,
    thresholds,
)
from pricealert_ops.monitoring.yamlio import dump_yaml

from .rules import load

MONITORING = Path(__file__).resolve().parents[2] / "monitoring"
BOUNDARY_FILE = "thresholds_test.yml"
THRESHOLDS = thresholds(MONITORING)
#: A literal compared with, other than 0 (`up == 0`, `max_bytes > 0` are states, not thresholds).
_LITERAL_COMPARISON = re.compile(r"(?:[<>]=?|==|!=)\s*(?:bool\s+)?(?!0\b)\d+(?:\.\d+)?\b")


def _run_promtool(
    promtool: str, prometheus_dir: Path, tests: list[str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, "test", "rules", *tests],
        cwd=prometheus_dir / "tests",
        capture_output=True,
        text=True,
        check=False,
    )


def _scratch_copy(tmp_path: Path) -> Path:
    target = tmp_path / "monitoring"
    shutil.copytree(MONITORING / "prometheus", target / "prometheus")
    return target


def test_every_alert_compares_with_its_threshold_not_a_typed_number() -> None:
    typed = {
        rule["alert"]: rule["expr"]
        for name in SOURCES
        for group in load_source(MONITORING, name)["groups"]
        for rule in group["rules"]
        if "alert" in rule and _LITERAL_COMPARISON.search(rule["expr"])
    }
    assert typed == {}


def test_every_threshold_appears_in_its_summary_through_a_template() -> None:
    for name in SOURCES:
        for group in load(MONITORING / "prometheus" / "rules" / generated_name(name))["groups"]:
            for rule in group["rules"]:
                if "alert" not in rule:
                    continue
                source = next(
                    r
                    for g in load_source(MONITORING, name)["groups"]
                    for r in g["rules"]
                    if r.get("alert") == rule["alert"]
                    and r["labels"]["severity"] == rule["labels"]["severity"]
                )
                if "threshold" in source:
                    assert "$threshold" in source["annotations"]["summary"], rule["alert"]
                    assert "$threshold" not in rule["annotations"]["summary"]


def test_a_source_using_threshold_without_one_is_a_named_error() -> None:
    rule: dict[str, Any] = {"alert": "A", "expr": "x >= $threshold", "labels": {"severity": "low"}}
    with pytest.raises(AlertSourceError, match="without a threshold"):
        render_rules({"groups": [{"name": "g", "rules": [rule]}]})
    rule.update(expr="x >= 1", threshold=1)
    with pytest.raises(AlertSourceError, match="does not use"):
        render_rules({"groups": [{"name": "g", "rules": [rule]}]})


def test_the_plan_2_1_rows_all_have_a_threshold() -> None:
    have = {(t.alert, t.severity): t.value for t in THRESHOLDS}
    # Ops plan 2.1 (Prometheus side); the RDS rows are also CloudWatch alarms (infra/).
    assert {k: str(v) for k, v in have.items()}.items() >= {
        ("PriceAlertHostCpuHigh", "medium"): "80",
        ("PriceAlertHostMemoryHigh", "medium"): "85",
        ("PriceAlertDatabaseCpuHigh", "high"): "75",
        ("PriceAlertDatabaseDiskHigh", "high"): "80",
        ("PriceAlertDatabaseMemoryHigh", "high"): "10",
        ("PriceAlertRedisMemoryHigh", "medium"): "70",
        ("PriceAlertApiLatencyHigh", "medium"): "0.5",
        ("PriceAlertApiErrorRateHigh", "high"): "0.01",
        ("PriceAlertQueueBacklog", "medium"): "1000",
        ("PriceAlertJobDurationHigh", "low"): "60",
        ("PriceAlertScrapeSuccessLow", "high"): "0.95",
        ("PriceAlertNotificationSuccessLow", "high"): "0.98",
    }.items()


def _boundary_cases(copy: Path, threshold: Threshold) -> list[str]:
    """Keep only this threshold's pair of thresholds_test.yml (seconds instead of minutes)."""
    path = copy / "prometheus" / "tests" / BOUNDARY_FILE
    doc = load(path)
    doc["tests"] = [t for t in doc["tests"] if t["name"].startswith(_case_prefix(threshold))]
    path.write_text(dump_yaml(doc), encoding="utf-8")
    return [BOUNDARY_FILE]


def _case_prefix(threshold: Threshold) -> str:
    return f"{threshold.alert} ({threshold.severity}, threshold "


@pytest.mark.parametrize(
    "threshold", THRESHOLDS, ids=[f"{t.alert}-{t.severity}" for t in THRESHOLDS]
)
def test_each_threshold_has_a_firing_and_a_quiet_case_at_its_edge(threshold: Threshold) -> None:
    cases = [
        t
        for t in load(MONITORING / "prometheus" / "tests" / BOUNDARY_FILE)["tests"]
        if t["name"].startswith(_case_prefix(threshold))
    ]
    outcomes = sorted(
        any(
            a["exp_labels"]["severity"] == threshold.severity
            for case in t["alert_rule_test"]
            for a in case.get("exp_alerts") or []
        )
        for t in cases
    )
    assert outcomes == [False, True], f"{threshold.alert}: {[t['name'] for t in cases]}"


@pytest.mark.parametrize("direction", [1, -1], ids=["up", "down"])
@pytest.mark.parametrize(
    "threshold", THRESHOLDS, ids=[f"{t.alert}-{t.severity}" for t in THRESHOLDS]
)
def test_moving_a_threshold_one_step_makes_a_promtool_test_fail(
    promtool: str, tmp_path: Path, threshold: Threshold, direction: int
) -> None:
    copy = _scratch_copy(tmp_path)
    baseline = _run_promtool(promtool, copy / "prometheus", _boundary_cases(copy, threshold))
    assert baseline.returncode == 0, baseline.stdout + baseline.stderr  # unmutated: passes
    moved = threshold.value + direction * threshold.step
    override = {(threshold.alert, threshold.severity): moved}
    rules = copy / "prometheus" / "rules"
    (rules / generated_name(threshold.source)).write_text(
        render_source(MONITORING, threshold.source, override), encoding="utf-8"
    )
    result = _run_promtool(promtool, copy / "prometheus", _boundary_cases(copy, threshold))

    assert result.returncode != 0, (
        f"{threshold.alert} ({threshold.severity}) moved from {threshold.value} to {moved} "
        "and every promtool test still passes"
    )
