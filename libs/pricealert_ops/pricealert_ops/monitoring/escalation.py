"""Plan 4.3's escalation as alert variants that re-fire the same condition later.

Alertmanager cannot say "if still firing after 30 minutes, tell someone else",
so each hand-written alert gets one variant per escalation level: the same
expression, a `for:` longer by the level's delay, and the label
`escalation="<level>"` that Alertmanager routes to the next receiver. Prometheus
keeps `for:` state across restarts (ALERTS_FOR_STATE), so an escalation is not
reset by a Prometheus restart shorter than `--rules.alert.for-outage-tolerance`.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import BaseModel, ConfigDict

from pricealert_ops.monitoring.yamlio import dump_yaml

SEVERITIES: Final = ("low", "medium", "high", "critical")
_UNITS: Final = {"s": 1 / 60, "m": 1, "h": 60, "d": 1440}
_PART = re.compile(r"(\d+)([smhd])")


class Level(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    level: int
    after: str
    receiver: str


class EscalationPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    initial: dict[str, list[str]]
    levels: dict[str, list[Level]]


def load_policy(path: Path) -> EscalationPolicy:
    """Read `monitoring/escalation.yaml`."""
    return EscalationPolicy.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def minutes(duration: str) -> int:
    """Whole minutes in a Prometheus duration such as `5m`, `1h30m` or `90s`."""
    parts = _PART.findall(duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a duration: {duration!r}")
    return round(sum(int(n) * _UNITS[u] for n, u in parts))


def escalation_variants(rule: dict[str, Any], policy: EscalationPolicy) -> list[dict[str, Any]]:
    """The escalated copies of one alerting rule, one per level of its severity."""
    severity = rule["labels"]["severity"]
    base_for = minutes(rule.get("for", "0m"))
    variants = []
    for level in policy.levels.get(severity, []):
        variant = copy.deepcopy(rule)
        variant["for"] = f"{base_for + minutes(level.after)}m"
        variant["labels"]["escalation"] = str(level.level)
        annotations = variant["annotations"]
        annotations["summary"] = (
            f"[escalation {level.level}: {level.receiver}] {annotations['summary']}"
        )
        variants.append(variant)
    return variants


def generate_escalations(
    rule_docs: list[dict[str, Any]], policy: EscalationPolicy
) -> dict[str, Any]:
    """The rule file (as data) holding every escalation variant of the given rule files."""
    groups = []
    for source in rule_docs:
        for group in source["groups"]:
            rules = [
                variant
                for rule in group["rules"]
                if "alert" in rule
                for variant in escalation_variants(rule, policy)
            ]
            if rules:
                groups.append({"name": f"{group['name']}-escalation", "rules": rules})
    return {"groups": groups}


def render_escalations(rule_docs: list[dict[str, Any]], policy: EscalationPolicy) -> str:
    """`escalation.generated.yml` with its do-not-edit header."""
    header = (
        "# Generated from alerts/app.yml, alerts/infra.yml and escalation.yaml by\n"
        "# `python -m pricealert_ops.monitoring generate`; do not edit.\n"
    )
    return header + dump_yaml(generate_escalations(rule_docs, policy))
