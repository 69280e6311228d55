"""Every metric a rule or a panel names is exported by something."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pricealert_ops.monitoring.promql import (
    PromQLError,
    known_metric_names,
    metric_names,
    unknown_metrics,
)
from tests.monitoring.rules import all_rules

DASHBOARDS = sorted(
    (Path(__file__).resolve().parents[2] / "monitoring" / "grafana" / "dashboards").glob("*.json")
)


def rule_expressions() -> dict[str, str]:
    return {
        f"{path.name}:{rule.get('alert') or rule.get('record')}:{i}": rule["expr"]
        for i, (path, rule) in enumerate(all_rules())
    }


def panel_expressions() -> dict[str, str]:
    exprs = {}
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text(encoding="utf-8"))["panels"]:
            for target in panel.get("targets", []):
                exprs[f"{path.name}:{panel['title']}:{target['refId']}"] = target["expr"]
    return exprs


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (job) (rate(http_requests_total{status=~"5.."}[5m]))', {"http_requests_total"}),
        ("histogram_quantile(0.95, sum by (le) (rate(x_bucket[$__rate_interval])))", {"x_bucket"}),
        ('{__name__="pricealert:slo_value:5m", slo="a"} > bool 0.2', {"pricealert:slo_value:5m"}),
        ("a / ignoring(instance) group_left b offset 5m and on() vector(1)", {"a", "b"}),
        ("max_over_time(deriv(c[1h:5m])[1d:1h]) unless absent(d)", {"c", "d"}),
        ('sum without (le) (e{handler="$handler"}) > 1e3', {"e"}),
        ("time() - 3 * scalar(count(f))", {"f"}),
    ],
)
def test_metric_names_are_the_selected_series_not_functions_keywords_or_labels(
    expr: str, names: set[str]
) -> None:
    assert metric_names(expr) == names


def test_an_expression_that_is_not_promql_is_a_named_error() -> None:
    with pytest.raises(PromQLError):
        metric_names("sum(rate(x[5m])")


def test_every_rule_expression_names_only_exported_metrics(monitoring_dir: Path) -> None:
    assert unknown_metrics(rule_expressions(), known_metric_names(monitoring_dir)) == {}


def test_every_panel_query_names_only_exported_metrics(monitoring_dir: Path) -> None:
    exprs = panel_expressions()
    assert len(exprs) > 40
    assert unknown_metrics(exprs, known_metric_names(monitoring_dir)) == {}


def test_a_metric_that_nothing_exports_is_reported_with_where_it_is_used(
    monitoring_dir: Path,
) -> None:
    exprs = {"panel": "rate(celery_tasks_failed_total[5m]) / rate(http_requests_total[5m])"}
    assert unknown_metrics(exprs, known_metric_names(monitoring_dir)) == {
        "panel": {"celery_tasks_failed_total"}
    }


def test_live_names_replace_the_contract_so_a_metric_missing_live_is_caught(
    monitoring_dir: Path,
) -> None:
    live = {"http_requests_total"}  # as if /metrics of the running services had only this
    unknown = unknown_metrics(rule_expressions(), known_metric_names(monitoring_dir, live))
    missing = set().union(*unknown.values())
    assert "pricealert_queue_length" in missing
    assert "http_requests_total" not in missing
    assert "node_cpu_seconds_total" not in missing  # exporters stay known


def test_recording_rules_make_their_names_known(monitoring_dir: Path) -> None:
    known = known_metric_names(monitoring_dir)
    assert {"pricealert:slo_errors:ratio_rate1h", "pricealert:slo_value:5m"} <= known


def test_the_five_plan_dashboards_exist_with_their_panels() -> None:
    titles = {json.loads(p.read_text(encoding="utf-8"))["title"] for p in DASHBOARDS}
    assert titles == {
        "PriceAlert — System overview",
        "PriceAlert — API",
        "PriceAlert — Workers",
        "PriceAlert — Database",
        "PriceAlert — Business",
    }
    panels = " ".join(panel_expressions())
    for wanted in ("Requests/s by route", "p95 latency by route", "Queue length", "Failed jobs/s",
                   "Connections by state", "Index scans/s", "Database size", "Active users",
                   "Watched products", "Price changes detected", "Notifications sent"):  # fmt: skip
        assert wanted in panels


def test_every_panel_uses_the_provisioned_datasource(monitoring_dir: Path) -> None:
    import yaml

    provisioned = yaml.safe_load(
        (monitoring_dir / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]["uid"]
    uids = {
        target["datasource"]["uid"]
        for path in DASHBOARDS
        for panel in json.loads(path.read_text(encoding="utf-8"))["panels"]
        for target in panel.get("targets", [])
    }
    assert uids == {provisioned}
    provider = yaml.safe_load(
        (monitoring_dir / "grafana/provisioning/dashboards/pricealert.yml").read_text()
    )["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
