"""Alert sources (`monitoring/prometheus/alerts/*.yml`) → the rule files Prometheus loads.

A source is a Prometheus rule file whose alerting rules may carry
`threshold: <number>` (and `threshold_step:`, how far the mutation check moves
it; 1 % of the threshold by default). The threshold is written once: every
`$threshold` in the expression and the annotations becomes that number, so the
summary shows it through a template function (`{{ 0.01 | humanizePercentage }}`)
and can never disagree with the comparison. The generated file is
`rules/<name>.generated.yml`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import yaml

from pricealert.errors import InvalidInput
from pricealert_ops.monitoring.yamlio import dump_yaml
from pricealert_ops.priorities import with_priority

SOURCES: Final = ("app", "infra")
PLACEHOLDER: Final = "$threshold"
_EXTRA_KEYS: Final = ("threshold", "threshold_step")


class AlertSourceError(InvalidInput, code="invalid_alert_source"):
    """An alert source uses `$threshold` without a threshold, or the reverse."""


@dataclass(frozen=True)
class Threshold:
    """One alert's threshold, where it lives, and the step the mutation check uses."""

    source: str
    alert: str
    severity: str
    value: Decimal
    step: Decimal


def number(value: Decimal) -> str:
    """A threshold as PromQL and Go templates read it: plain decimal, no exponent."""
    text = format(value.normalize(), "f")
    return text


def source_path(monitoring_dir: Path, name: str) -> Path:
    """`monitoring/prometheus/alerts/<name>.yml`."""
    return monitoring_dir / "prometheus" / "alerts" / f"{name}.yml"


def generated_name(name: str) -> str:
    """The rule file generated from a source, relative to `prometheus/rules`."""
    return f"{name}.generated.yml"


def load_source(monitoring_dir: Path, name: str) -> dict[str, Any]:
    """A source file as data."""
    data: dict[str, Any] = yaml.safe_load(
        source_path(monitoring_dir, name).read_text(encoding="utf-8")
    )
    return data


def _substitute(node: Any, value: str) -> Any:
    if isinstance(node, str):
        return node.replace(PLACEHOLDER, value)
    if isinstance(node, dict):
        return {key: _substitute(item, value) for key, item in node.items()}
    return node


def _key(rule: dict[str, Any]) -> tuple[str, str]:
    return rule["alert"], rule.get("labels", {}).get("severity", "")


def render_rules(
    source: dict[str, Any], overrides: dict[tuple[str, str], Decimal] | None = None
) -> dict[str, Any]:
    """The Prometheus rule file (as data); `overrides` replace thresholds (mutation check)."""
    rendered = copy.deepcopy(source)
    for group in rendered["groups"]:
        rules = []
        for rule in group["rules"]:
            if "alert" in rule:
                rule = with_priority(_render_alert(rule, overrides or {}))
            rules.append(rule)
        group["rules"] = rules
    return rendered


def _render_alert(
    rule: dict[str, Any], overrides: dict[tuple[str, str], Decimal]
) -> dict[str, Any]:
    uses = PLACEHOLDER in rule["expr"]
    if "threshold" not in rule:
        if uses or PLACEHOLDER in str(rule.get("annotations", {})):
            raise AlertSourceError(f"{rule['alert']}: uses {PLACEHOLDER} without a threshold")
        return rule
    if not uses:
        raise AlertSourceError(f"{rule['alert']}: has a threshold its expression does not use")
    value = overrides.get(_key(rule), Decimal(str(rule["threshold"])))
    body = {k: v for k, v in rule.items() if k not in _EXTRA_KEYS}
    rendered: dict[str, Any] = _substitute(body, number(value))
    return rendered


def thresholds(monitoring_dir: Path) -> list[Threshold]:
    """Every alert threshold of every source, in file order."""
    found = []
    for name in SOURCES:
        for group in load_source(monitoring_dir, name)["groups"]:
            for rule in group["rules"]:
                if "alert" in rule and "threshold" in rule:
                    value = Decimal(str(rule["threshold"]))
                    step = Decimal(str(rule.get("threshold_step", abs(value) / 100)))
                    alert, severity = _key(rule)
                    found.append(Threshold(name, alert, severity, value, step))
    return found


def render_source(
    monitoring_dir: Path, name: str, overrides: dict[tuple[str, str], Decimal] | None = None
) -> str:
    """The generated rule file's text, with its do-not-edit header."""
    header = (
        f"# Generated from alerts/{name}.yml by `python -m pricealert_ops.monitoring generate`;\n"
        "# do not edit (thresholds and their summaries come from `threshold:` there).\n"
    )
    return header + dump_yaml(render_rules(load_source(monitoring_dir, name), overrides))


def rendered_rule_docs(monitoring_dir: Path) -> list[dict[str, Any]]:
    """Every generated alert rule file as data (the escalation generator reads these)."""
    return [render_rules(load_source(monitoring_dir, name)) for name in SOURCES]
