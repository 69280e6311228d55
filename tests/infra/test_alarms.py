"""CloudWatch alarms against plan 2.1's infrastructure rows: threshold, direction, topic."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from pricealert_ops.monitoring import REPO_MONITORING_DIR
from pricealert_ops.monitoring.aws import topic_export
from pricealert_ops.monitoring.escalation import load_policy

from .cfn import props, resources, template

#: Plan 2.1, the infrastructure rows: (target, indicator) -> (threshold %, direction, severity).
#: 中 = medium, 高 = high. "以下" (at or below) is the only row that is not "above".
PLAN_2_1_INFRA = {
    ("EC2/ECS インスタンス", "CPU 使用率"): (80, "above", "medium"),
    ("EC2/ECS インスタンス", "メモリ使用率"): (85, "above", "medium"),
    ("RDS", "CPU 使用率"): (75, "above", "high"),
    ("RDS", "ディスク使用率"): (80, "above", "high"),
    ("RDS", "フリーメモリ"): (10, "at_or_below", "high"),
    ("Redis", "メモリ使用率"): (70, "above", "medium"),
}
#: Which alarms carry each row, and the CloudWatch metric each one reads.
ALARMS = {
    ("EC2/ECS インスタンス", "CPU 使用率"): {
        f"{s}CpuAlarm": "CPUUtilization" for s in ("Api", "Web", "Scraper", "Evaluator", "Notifier")
    },
    ("EC2/ECS インスタンス", "メモリ使用率"): {
        f"{s}MemoryAlarm": "MemoryUtilization"
        for s in ("Api", "Web", "Scraper", "Evaluator", "Notifier")
    },
    ("RDS", "CPU 使用率"): {"DatabaseCpuAlarm": "CPUUtilization"},
    ("RDS", "ディスク使用率"): {"DatabaseDiskAlarm": "FreeStorageSpace"},
    ("RDS", "フリーメモリ"): {"DatabaseFreeMemoryAlarm": "FreeableMemory"},
    ("Redis", "メモリ使用率"): {"RedisMemoryAlarm": "DatabaseMemoryUsagePercentage"},
}
#: Alarms that are not plan 2.1 rows, each with its reason.
EXTRA_ALARMS = {
    "QueueMetricsMissingAlarm": "worker autoscaling is blind without its metric",
    "BackupJobsFailedAlarm": "plan 5.1: a failed snapshot or copy job (issue 14)",
    "BackupDumpFailedAlarm": "plan 5.1: the weekly pg_dump task failed (issue 15)",
}
OPERATORS = {"above": "GreaterThanThreshold", "at_or_below": "LessThanOrEqualToThreshold"}
POLICY = load_policy(REPO_MONITORING_DIR / "escalation.yaml")


def _topics(severity: str) -> list[dict[str, Any]]:
    """The first receivers escalation.yaml gives a severity, as paging stack imports."""
    return [
        {"Fn::ImportValue": {"Fn::Sub": f"${{PagingStackName}}-{topic_export(r)}"}}
        for r in POLICY.initial[severity]
    ]


#: The operations plan itself (Japanese), kept in the repository: its tables are the spec.
PLAN = Path(__file__).resolve().parents[2] / "monitoring" / "ops-plan.ja.md"

ALL_ALARMS = resources("alarms", "AWS::CloudWatch::Alarm")
ROWS = [(row, alarm) for row, alarms in ALARMS.items() for alarm in alarms]


def _metric_names(alarm: dict[str, Any]) -> set[str]:
    if "MetricName" in alarm:
        return {alarm["MetricName"]}
    return {q["MetricStat"]["Metric"]["MetricName"] for q in alarm["Metrics"] if "MetricStat" in q}


def test_every_alarm_is_a_plan_row_or_a_named_extra() -> None:
    planned = {alarm for alarms in ALARMS.values() for alarm in alarms}

    assert set(ALL_ALARMS) == planned | set(EXTRA_ALARMS)


@pytest.mark.parametrize(("row", "alarm"), ROWS, ids=[a for _, a in ROWS])
def test_each_alarm_has_its_plan_rows_threshold_direction_and_topic(
    row: tuple[str, str], alarm: str
) -> None:
    threshold, direction, severity = PLAN_2_1_INFRA[row]
    properties = props("alarms", alarm)

    assert properties["Threshold"] == threshold
    assert properties["ComparisonOperator"] == OPERATORS[direction]
    assert properties["AlarmActions"] == _topics(severity)
    assert resources("alarms")[alarm]["Metadata"]["Escalation"]["Severity"] == severity
    assert _metric_names(properties) == {ALARMS[row][alarm]}


@pytest.mark.parametrize("alarm", sorted(ALL_ALARMS))
def test_every_alarm_notifies_the_first_receivers_of_its_severity(alarm: str) -> None:
    severity = resources("alarms")[alarm]["Metadata"]["Escalation"]["Severity"]
    properties = props("alarms", alarm)
    exports = {o["Export"]["Name"]["Fn::Sub"] for o in template("paging")["Outputs"].values()}

    assert properties["AlarmActions"] == _topics(severity)
    for action in properties["AlarmActions"] + properties.get("OKActions", []):
        name = action["Fn::ImportValue"]["Fn::Sub"].replace(
            "${PagingStackName}", "${AWS::StackName}"
        )
        assert name in exports


def test_each_ecs_alarm_watches_its_own_service() -> None:
    for alarms in (ALARMS[("EC2/ECS インスタンス", k)] for k in ("CPU 使用率", "メモリ使用率")):
        services = set()
        for alarm in alarms:
            dimensions = {d["Name"]: d["Value"] for d in props("alarms", alarm)["Dimensions"]}
            assert alarm.lower().startswith(dimensions["ServiceName"])
            services.add(dimensions["ServiceName"])
        assert services == {p["ServiceName"] for p in _services()}


def _services() -> list[dict[str, Any]]:
    return [r["Properties"] for r in resources("services", "AWS::ECS::Service").values()]


def test_percent_alarms_on_byte_metrics_divide_by_the_right_size() -> None:
    disk = {q["Id"]: q for q in props("alarms", "DatabaseDiskAlarm")["Metrics"]}
    memory = {q["Id"]: q for q in props("alarms", "DatabaseFreeMemoryAlarm")["Metrics"]}

    disk_expression = disk["used_percent"]["Expression"]["Fn::Sub"][0]
    assert disk_expression == "100 - 100 * free / (${AllocatedGiB} * 1073741824)"
    assert memory["free_percent"]["Expression"]["Fn::Sub"] == (
        "100 * freeable / (${DbInstanceMemoryGiB} * 1073741824)"
    )


def _plan_rows(text: str) -> dict[tuple[str, str], tuple[int, str, str]]:
    severity = {"中": "medium", "高": "high"}
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] == "インフラストラクチャ":
            number = int(re.match(r"\d+", cells[3])[0])  # type: ignore[index]
            direction = "at_or_below" if "以下" in cells[3] else "above"
            rows[(cells[1], cells[2])] = (number, direction, severity[cells[4]])
    return rows


def test_the_table_above_is_the_plans_own() -> None:
    assert _plan_rows(PLAN.read_text(encoding="utf-8")) == PLAN_2_1_INFRA
