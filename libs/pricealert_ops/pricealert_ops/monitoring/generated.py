"""Every generated file under `monitoring/`, to write or to check for staleness."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from pricealert_ops.monitoring.alerts import (
    SOURCES,
    generated_name,
    render_source,
    rendered_rule_docs,
)
from pricealert_ops.monitoring.aws import infra_files
from pricealert_ops.monitoring.escalation import load_policy, render_escalations
from pricealert_ops.monitoring.metrics_doc import render_metrics_md
from pricealert_ops.monitoring.retention import load_table, render_outputs, render_policies
from pricealert_ops.monitoring.slo import load_spec, render_rules

RULES = Path("prometheus/rules")
SLO_RULES = RULES / "slo.generated.yml"
ESCALATION_RULES = Path("prometheus/rules/escalation.generated.yml")


def generated_files(monitoring_dir: Path) -> dict[Path, str]:
    """Path (relative to `monitoring_dir`) → the content it must have."""
    table = load_table(monitoring_dir / "logging" / "retention.yaml")
    files: dict[Path, Callable[[], str]] = {
        Path("metrics.md"): render_metrics_md,
        SLO_RULES: lambda: render_rules(load_spec(monitoring_dir / "slo.yaml")),
        ESCALATION_RULES: lambda: render_escalations(
            rendered_rule_docs(monitoring_dir), load_policy(monitoring_dir / "escalation.yaml")
        ),
        Path("logging/outputs.generated.conf"): lambda: render_outputs(table),
        Path("logging/outputs-aws.generated.conf"): lambda: render_outputs(table, "aws"),
    }
    for name in SOURCES:
        files[RULES / generated_name(name)] = partial(render_source, monitoring_dir, name)
    rendered = {path: render() for path, render in files.items()}
    infra_dir = monitoring_dir.parent / "infra"
    if (infra_dir / "alarms.yaml").is_file():
        # The AWS stacks run the very files above (amp, escalation, retention).
        rule_texts = {path.name.removesuffix(".generated.yml"): text
                      for path, text in rendered.items() if path.parent == RULES}  # fmt: skip
        policy = load_policy(monitoring_dir / "escalation.yaml")
        ism_texts = render_policies(table)
        infra = infra_files(monitoring_dir, infra_dir, policy, rule_texts, ism_texts)
        for name, text in infra.items():
            rendered[Path("..") / "infra" / name] = text
    for name, text in render_policies(table).items():
        rendered[Path("logging/ism") / name] = text
    return rendered


def write_generated(monitoring_dir: Path) -> list[Path]:
    """Write every generated file; return the ones whose content changed."""
    changed = []
    for relative, text in generated_files(monitoring_dir).items():
        path = monitoring_dir / relative
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(relative)
    return changed


def stale_generated(monitoring_dir: Path) -> list[Path]:
    """Generated files that are missing or differ from what the sources give."""
    return [
        relative
        for relative, text in generated_files(monitoring_dir).items()
        if not (monitoring_dir / relative).is_file()
        or (monitoring_dir / relative).read_text(encoding="utf-8") != text
    ]
