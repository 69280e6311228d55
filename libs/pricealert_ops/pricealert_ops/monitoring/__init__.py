"""Monitoring as code: the generators and checks behind `monitoring/`.

Hand-written sources (rule files, `slo.yaml`, `escalation.yaml`,
`logging/retention.yaml`, dashboards) live in the repository's `monitoring/`
folder; this package turns the tables into generated files and checks that
what rules and panels name really exists:

- `metrics_doc`  the metrics contract rendered as `monitoring/metrics.md`
- `slo`          SLO spec, recording rules and burn-rate alerts, error budgets
- `escalation`   plan 4.3's escalation as re-firing alert variants
- `retention`    plan 3.2's retention table as ISM policies and Fluent Bit routes
- `promql`       metric names a PromQL expression uses, and which are unknown
- `logshape`     the JSON log line shape of DESIGN.md
- `generated`    every generated file, to write or to check for staleness
"""

from __future__ import annotations

from pathlib import Path

#: The repository's `monitoring/` folder when running from a checkout.
REPO_MONITORING_DIR = Path(__file__).resolve().parents[4] / "monitoring"


def default_monitoring_dir() -> Path:
    """`./monitoring` when it exists (operators run from the repo root), else the checkout's."""
    here = Path("monitoring")
    return here if (here / "slo.yaml").is_file() else REPO_MONITORING_DIR
