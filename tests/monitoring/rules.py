"""Reading rule files and promtool test files: shared by the monitoring tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from pricealert_ops.monitoring import REPO_MONITORING_DIR

RULES_DIR = REPO_MONITORING_DIR / "prometheus" / "rules"
TESTS_DIR = REPO_MONITORING_DIR / "prometheus" / "tests"


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yml"))


def promtool_test_files() -> list[Path]:
    return sorted(TESTS_DIR.glob("*_test.yml"))


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def alert_rules() -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every alerting rule, with the file it is in."""
    for path in rule_files():
        for group in load(path)["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    yield path, rule


def all_rules() -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every rule (recording and alerting), with the file it is in."""
    for path in rule_files():
        for group in load(path)["groups"]:
            for rule in group["rules"]:
                yield path, rule


def alert_cases() -> Iterator[tuple[Path, str, list[dict[str, Any]]]]:
    """(test file, alertname, expected alerts) of every promtool alert_rule_test."""
    for path in promtool_test_files():
        for test in load(path)["tests"]:
            for case in test.get("alert_rule_test", []):
                yield path, case["alertname"], case.get("exp_alerts") or []
