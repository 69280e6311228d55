"""SLO spec (`monitoring/slo.yaml`) → recording rules and burn-rate alerts; error budgets.

Ratio SLOs get one recording rule per window and the SRE workbook's multiwindow,
multi-burn-rate alerts: 1h/5m at 14.4× and 6h/30m at 6× page (critical), 1d/2h
at 3× and 3d/6h at 1× open a ticket (medium). Threshold SLOs get recording
rules and an alert when both the 1h and the 5m value are over the bound.
Every generated rule carries the `slo` and `service` labels.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from pricealert.errors import InvalidInput
from pricealert_ops.monitoring.yamlio import dump_yaml
from pricealert_ops.priorities import with_priority

RATIO_WINDOWS: Final = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
THRESHOLD_WINDOWS: Final = ("5m", "1h")
#: (severity, [(long window, short window, burn rate factor)]) per the SRE workbook.
BURN_RATE_ALERTS: Final = (
    ("critical", "page", (("1h", "5m", Decimal("14.4")), ("6h", "30m", Decimal(6)))),
    ("medium", "ticket", (("1d", "2h", Decimal(3)), ("3d", "6h", Decimal(1)))),
)
BURN_ALERT: Final = "PriceAlertErrorBudgetBurn"
THRESHOLD_ALERT: Final = "PriceAlertSLOThresholdBreached"
RUNBOOKS: Final = "monitoring/runbooks"
_DURATION = re.compile(r"^(\d+)([mhdw])$")
_HOURS_PER_UNIT: Final = {
    "m": Decimal(1) / 60,
    "h": Decimal(1),
    "d": Decimal(24),
    "w": Decimal(168),
}


class SLOSpecError(InvalidInput, code="invalid_slo_spec"):
    """`slo.yaml` is missing, malformed, or names an unknown SLO."""


def _windowed(value: str, info: ValidationInfo) -> str:
    if "$window" not in value:
        raise ValueError(f"{info.field_name} must use $window")
    return " ".join(value.split())


#: PromQL over `$window` (each generated rule puts its window there), on one line.
WindowedQuery = Annotated[str, AfterValidator(_windowed)]


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$")]
    service: str
    description: str


class RatioSLO(_Base):
    kind: Literal["ratio"]
    objective: Annotated[Decimal, Field(gt=0, lt=100)]
    sla: Decimal
    error_ratio: WindowedQuery

    @property
    def budget_ratio(self) -> Decimal:
        """Allowed error ratio: (100 - objective) / 100."""
        return (100 - self.objective) / 100


class ThresholdSLO(_Base):
    kind: Literal["threshold"]
    bound: Decimal
    sla_bound: Decimal
    unit: str
    value: WindowedQuery


class ExternalSLO(_Base):
    kind: Literal["external"]
    bound: Decimal
    sla_bound: Decimal
    unit: str
    source: str


SLO = Annotated[RatioSLO | ThresholdSLO | ExternalSLO, Field(discriminator="kind")]


class SLOSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    period: str
    slos: list[SLO]

    @field_validator("period")
    @classmethod
    def _period_is_duration(cls, value: str) -> str:
        period_hours(value)
        return value


def period_hours(period: str) -> Decimal:
    """Hours in a Prometheus-style duration such as `30d`, `12h`, `90m` or `4w`."""
    match = _DURATION.match(period.strip())
    if not match or int(match.group(1)) == 0:
        raise SLOSpecError(f"period {period!r} is not a duration like 30d, 12h, 90m or 4w")
    return int(match.group(1)) * _HOURS_PER_UNIT[match.group(2)]


def budget_minutes(objective: Decimal, hours: Decimal) -> Decimal:
    """Plan 9.2's error budget: allowed minutes = hours * 60 * (100 - slo) / 100."""
    return hours * 60 * (100 - objective) / 100


def load_spec(path: Path) -> SLOSpec:
    """Read and validate `slo.yaml`; a bad file is a named error, not a traceback."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SLOSpecError(f"cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise SLOSpecError(f"{path} is not YAML: {exc}") from exc
    try:
        spec = SLOSpec.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SLOSpecError(f"{path}: {where}: {first['msg']}") from exc
    names = [slo.name for slo in spec.slos]
    if len(set(names)) != len(names):
        raise SLOSpecError(f"{path}: SLO names must be unique")
    return spec


def error_ratio_record(window: str) -> str:
    """Name of the recording rule holding a ratio SLO's error ratio over `window`."""
    return f"pricealert:slo_errors:ratio_rate{window}"


def threshold_record(window: str) -> str:
    """Name of the recording rule holding a threshold SLO's value over `window`."""
    return f"pricealert:slo_value:{window}"


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _recorded(
    slo: RatioSLO | ThresholdSLO,
    record: Callable[[str], str],
    query: str,
    windows: tuple[str, ...],
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """The SLO's labels, and a recording rule per window: `query` over that window, recorded
    as `record(window)`."""
    labels = {"slo": slo.name, "service": slo.service}
    rules: list[dict[str, Any]] = [
        {"record": record(window), "expr": query.replace("$window", window), "labels": labels}
        for window in windows
    ]
    return labels, rules


def _ratio_rules(slo: RatioSLO) -> dict[str, Any]:
    labels, rules = _recorded(slo, error_ratio_record, slo.error_ratio, RATIO_WINDOWS)
    rules.append(
        {
            "record": "pricealert:slo_objective:ratio",
            "expr": _num(slo.objective / 100),
            "labels": labels,
        }
    )
    selector = f'{{slo="{slo.name}"}}'
    for severity, kind, pairs in BURN_RATE_ALERTS:
        clauses = []
        for long, short, factor in pairs:
            limit = _num(factor * slo.budget_ratio)
            clauses.append(
                f"({error_ratio_record(long)}{selector} > {limit}"
                f" and {error_ratio_record(short)}{selector} > {limit})"
            )
        windows = ", ".join(f"{long}/{short} at {_num(f)}x" for long, short, f in pairs)
        rules.append(
            {
                "alert": BURN_ALERT,
                "expr": "\nor\n".join(clauses) + "\n",
                "labels": {"severity": severity, "burn": kind, **labels},
                "annotations": {
                    "summary": f"SLO {slo.name} is burning its error budget ({kind})",
                    "description": (
                        f"{slo.description} Objective {_num(slo.objective)} %. The error ratio "
                        f"is {{{{ $value | humanizePercentage }}}} over one of the windows "
                        f"{windows} (budget {_num(slo.budget_ratio * 100)} %)."
                    ),
                    "runbook_url": f"{RUNBOOKS}/{BURN_ALERT}.md",
                },
            }
        )
    return {"name": f"slo-{slo.name}", "rules": rules}


def _threshold_rules(slo: ThresholdSLO) -> dict[str, Any]:
    labels, rules = _recorded(slo, threshold_record, slo.value, THRESHOLD_WINDOWS)
    selector = f'{{slo="{slo.name}"}}'
    for severity, bound, what in (("medium", slo.bound, "SLO"), ("high", slo.sla_bound, "SLA")):
        limit = _num(bound)
        rules.append(
            {
                "alert": THRESHOLD_ALERT,
                "expr": (
                    f"{threshold_record('1h')}{selector} > {limit}"
                    f" and {threshold_record('5m')}{selector} > {limit}"
                ),
                "labels": {"severity": severity, "bound": what.lower(), **labels},
                "annotations": {
                    "summary": f"{slo.name} is over its {what} bound of {limit} {slo.unit}",
                    "description": (
                        f"{slo.description} Over the last hour it is {{{{ $value }}}} "
                        f"{slo.unit}, above the {what} bound of {limit} {slo.unit}."
                    ),
                    "runbook_url": f"{RUNBOOKS}/{THRESHOLD_ALERT}.md",
                },
            }
        )
    return {"name": f"slo-{slo.name}", "rules": rules}


def generate_rules(spec: SLOSpec) -> dict[str, Any]:
    """The Prometheus rule file (as data) for every ratio and threshold SLO."""
    groups = []
    for slo in spec.slos:
        if isinstance(slo, RatioSLO):
            groups.append(_ratio_rules(slo))
        elif isinstance(slo, ThresholdSLO):
            groups.append(_threshold_rules(slo))
    for group in groups:
        group["rules"] = [with_priority(rule) for rule in group["rules"]]
    return {"groups": groups}


def render_rules(spec: SLOSpec) -> str:
    """`slo.generated.yml`: the generated rules with a do-not-edit header."""
    header = (
        "# Generated from monitoring/slo.yaml by `pricealert slo generate`; do not edit.\n"
        "# Burn-rate alerts follow the SRE workbook (multiwindow, multi-burn-rate).\n"
    )
    return header + dump_yaml(generate_rules(spec))
