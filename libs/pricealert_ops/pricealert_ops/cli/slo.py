"""`pricealert slo generate|budget`: SLO rules from `monitoring/slo.yaml`, and error budgets."""

from __future__ import annotations

import argparse
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from pricealert.cli import CommandError
from pricealert_ops.cli import add_actions
from pricealert_ops.monitoring import default_monitoring_dir
from pricealert_ops.monitoring.budget import BudgetLine, budget_report
from pricealert_ops.monitoring.generated import SLO_RULES
from pricealert_ops.monitoring.slo import load_spec, render_rules


def register(subparsers: Any) -> None:
    actions = add_actions(subparsers, "slo")
    generate = actions.add_parser("generate", help="write prometheus/rules/slo.generated.yml")
    generate.set_defaults(handler=_generate)
    budget = actions.add_parser("budget", help="each SLO's error budget for a period")
    budget.set_defaults(handler=_budget)
    budget.add_argument("--period", help="e.g. 30d, 7d, 12h (default: slo.yaml's period)")
    budget.add_argument("--prometheus", metavar="URL", help="read what is left from Prometheus")
    budget.add_argument("--format", choices=("text", "json"), default="text")
    for action in (generate, budget):
        action.add_argument("--monitoring-dir", type=Path, help="default: ./monitoring")


def _monitoring_dir(args: argparse.Namespace) -> Path:
    path: Path = args.monitoring_dir or default_monitoring_dir()
    if not (path / "slo.yaml").is_file():
        raise CommandError("slo_spec_not_found", f"no slo.yaml in {path}")
    return path


def _generate(args: argparse.Namespace) -> int:
    monitoring_dir = _monitoring_dir(args)
    target = monitoring_dir / SLO_RULES
    target.write_text(render_rules(load_spec(monitoring_dir / "slo.yaml")), encoding="utf-8")
    print(f"wrote {target}")
    return 0


def _fmt(value: Decimal | None, suffix: str = "", scale: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value * scale:.2f}{suffix}"


def _budget(args: argparse.Namespace) -> int:
    spec = load_spec(_monitoring_dir(args) / "slo.yaml")
    period = args.period or spec.period
    lines = budget_report(spec, period, args.prometheus)
    if args.format == "json":
        print(json.dumps([_as_json(line) for line in lines], indent=2))
        return 0
    print(f"period {period}" + (f", measured by {args.prometheus}" if args.prometheus else ""))
    header = ("slo", "kind", "target", "budget", "used", "left", "average", "note")
    rows = [header] + [
        (
            line.slo,
            line.kind,
            line.target,
            _fmt(line.budget_minutes, " min"),
            _fmt(line.consumed, " %", 100),
            _fmt(line.remaining_minutes, " min"),
            _fmt(line.period_average),
            line.note,
        )
        for line in lines
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
            + "  "
            + row[-1]
        )
    if not args.prometheus:
        print(
            '"-": what is used and left is measured, not configured — pass --prometheus URL '
            "(docker compose serves one on http://127.0.0.1:9090) to read it"
        )
    return 0


def _as_json(line: BudgetLine) -> dict[str, str | None]:
    return {
        key: (str(value) if isinstance(value, Decimal) else value)
        for key, value in line.__dict__.items()
    }
