"""The readable summary of a verdict (the JSON is `runner.verdict_json`)."""

from __future__ import annotations

from pricealert_ops.chaos.runner import Verdict


def summary(verdict: Verdict) -> str:
    """A few lines a person reads: the hypothesis, each invariant, what was done."""
    experiment, records = verdict.experiment, verdict.records
    lines = [
        f"{experiment.name}: {'PASSED' if verdict.passed else 'FAILED'}",
        f"  hypothesis: {experiment.hypothesis}",
        f"  method:     {experiment.method}",
        f"  run:        {records.ended - records.started:.0f} s, "
        f"{verdict.options.products} products, {verdict.options.instances} per worker service, "
        f"each price held {experiment.hold_seconds():.0f} s, "
        f"settle {records.bounds.settle_seconds:.0f} s",
    ]
    for check in verdict.checks:
        lines.append(f"  {'ok ' if check.holds else 'BAD'} {check.name}: {check.summary}")
    shown = records.actions[:6] + (["…"] if len(records.actions) > 6 else [])
    lines += [f"      {action}" for action in shown]
    if not verdict.passed:
        lines.append(f"  stack log: {verdict.log_path}")
    return "\n".join(lines)
