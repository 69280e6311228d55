"""Which metrics a PromQL expression names, and which of them nothing exports.

Expressions are parsed with `promql-parser` (the Rust PromQL parser), so
functions, keywords, label matchers and durations are never mistaken for
metric names. Grafana's interval variables are replaced by a duration first.

A name is known when the services export it (`pricealert.metrics`, or the live
`/metrics` names passed in), when a standard exporter listed in
`monitoring/exporters.yml` exports it, when a recording rule records it, or
when Prometheus itself creates it (`up`, `ALERTS`, ...).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

import promql_parser
import yaml

from pricealert.metrics import exported_metric_names

#: Series Prometheus creates itself for every target or alert.
PROMETHEUS_SERIES: Final = frozenset(
    {"up", "scrape_duration_seconds", "scrape_samples_scraped", "ALERTS", "ALERTS_FOR_STATE"}
)
#: Series prometheus_client's default collectors add to every service's /metrics
#: (the services expose the default REGISTRY): dashboards use the process ones.
CLIENT_LIBRARY_SERIES: Final = frozenset(
    {"process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"}
)
_GRAFANA_INTERVALS = re.compile(r"\$\{?__(rate_interval|interval|range)(_ms|_s)?\}?")


class PromQLError(ValueError):
    """An expression does not parse as PromQL."""


def metric_names(expr: str) -> set[str]:
    """Every metric name an expression selects (by name or by `__name__="..."`)."""
    text = _GRAFANA_INTERVALS.sub("5m", expr)
    try:
        tree = promql_parser.parse(text)
    except ValueError as exc:
        raise PromQLError(f"{expr!r}: {exc}") from exc
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            for matcher in node.matchers.matchers:
                if matcher.name == "__name__" and matcher.op == promql_parser.MatchOp.Equal:
                    names.add(matcher.value)

    promql_parser.walk(tree, visit)
    return names


def recorded_names(rule_files: Iterable[Path]) -> set[str]:
    """Names written by the recording rules of these rule files."""
    names: set[str] = set()
    for path in rule_files:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            names.update(rule["record"] for rule in group["rules"] if "record" in rule)
    return names


def exporter_names(exporters_file: Path) -> set[str]:
    """Metric names `monitoring/exporters.yml` lists for the standard exporters."""
    data = yaml.safe_load(exporters_file.read_text(encoding="utf-8"))
    return {name for exporter in data["exporters"].values() for name in exporter["metrics"]}


def known_metric_names(monitoring_dir: Path, live_names: Iterable[str] | None = None) -> set[str]:
    """Every name a rule or panel may use; `live_names` replace the contract when given."""
    if live_names is not None:
        ours = set(live_names)
    else:
        ours = exported_metric_names() | CLIENT_LIBRARY_SERIES
    rule_files = sorted((monitoring_dir / "prometheus" / "rules").glob("*.yml"))
    return (
        ours
        | exporter_names(monitoring_dir / "exporters.yml")
        | recorded_names(rule_files)
        | PROMETHEUS_SERIES
    )


def unknown_metrics(exprs: Mapping[str, str], known: set[str]) -> dict[str, set[str]]:
    """For each labelled expression, the names it uses that nothing exports."""
    unknown = {where: metric_names(expr) - known for where, expr in exprs.items()}
    return {where: names for where, names in unknown.items() if names}
