"""The risk class of a CloudFormation change set (plan 7.3), as pure functions.

Plan 7.3 pairs risk with a kind of change and its approval:

    low risk    → 標準変更 standard change   → チームレビュー team review
    medium risk → 通常変更 normal change     → 変更諮問委員会 change advisory board (CAB)
    high risk   → 緊急変更 emergency change  → 緊急承認 emergency approval

A diff can measure how much a change can break, not how urgent it is, so the
rules are (decided here; the README's Operations table repeats them):

- **standard** (low): every parameter that changes is in `STANDARD_PARAMETERS`
  (image tags, task counts and scaling bounds, on-call contacts), and every
  resource change is a `Modify` that CloudFormation traces to those parameters
  (or to a resource they changed) — no template edit, nothing added, removed
  or replaced except stateless resources replaced by those parameters (an ECS
  task definition is replaced on every image change).
- **normal** (medium): anything else that keeps data: a template edit, an
  added or removed stateless resource, any other parameter.
- **normal, data at risk** (high): a stateful resource (`STATEFUL_TYPES`: the
  database, Redis, buckets, log groups and stores, keys, vaults) is removed or
  may be replaced (`Replacement` True or Conditional, or not stated — moto and
  a few resource types leave it out, and unknown is read as possible). It goes
  to the CAB like any normal change and is refused unless the operator says
  `--allow-data-loss` after the CAB has seen the list.
- **emergency**: declared, never inferred — `--emergency` with a reason and an
  approver (緊急承認). The plan's "high risk" branch is read as ITIL reads an
  emergency change: one that cannot wait for the CAB. It is recorded for the
  after-the-fact review, whatever the diff's risk; data at risk still needs
  `--allow-data-loss`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Risk = Literal["low", "medium", "high"]
ChangeClass = Literal["standard", "normal", "emergency"]

#: Parameters whose change alone is a routine, pre-approved change.
STANDARD_PARAMETERS: frozenset[str] = frozenset(
    {
        # image tags
        "ImageUri",
        "LogRouterImageUri",
        "GrafanaImageUri",
        "PrometheusImage",
        "PostgresExporterImage",
        "RedisExporterImage",
        "RdsExporterImage",
        # task counts and scaling bounds
        "ApiMinCapacity",
        "ApiMaxCapacity",
        "WebMinCapacity",
        "WebMaxCapacity",
        "WorkerMinCapacity",
        "WorkerMaxCapacity",
        "WorkerBacklogPerTask",
        "DesiredCount",
        # the on-call rota
        "OnCallEmail",
        "TeamLeadEmail",
        "OnCallPhone",
        "BackupOnCallPhone",
        "TeamLeadPhone",
    }
)

#: Resource types that hold data: removing or replacing one loses it (or its address).
STATEFUL_TYPES: frozenset[str] = frozenset(
    {
        "AWS::RDS::DBInstance",
        "AWS::RDS::DBCluster",
        "AWS::ElastiCache::ReplicationGroup",
        "AWS::ElastiCache::CacheCluster",
        "AWS::S3::Bucket",
        "AWS::Logs::LogGroup",
        "AWS::OpenSearchService::Domain",
        "AWS::KMS::Key",
        "AWS::Backup::BackupVault",
        "AWS::EFS::FileSystem",
        "AWS::DynamoDB::Table",
        "AWS::APS::Workspace",
        "AWS::Cognito::UserPool",
        "AWS::SecretsManager::Secret",
    }
)

#: Exit codes of `pricealert deploy plan` (2 stays the CLI's "named error").
EXIT_CODES: dict[str, int] = {
    "none": 0,
    "standard": 0,
    "normal": 10,
    "emergency": 11,
    "refused": 3,
}
APPROVAL: dict[ChangeClass, str] = {
    "standard": "team review (チームレビュー), then deploy",
    "normal": "change advisory board (変更諮問委員会) before deploying",
    "emergency": "emergency approval (緊急承認) recorded; reviewed afterwards",
}
_RISK_ORDER: dict[Risk, int] = {"low": 0, "medium": 1, "high": 2}
#: Change sources that follow from another change rather than a template edit.
_FOLLOWING_SOURCES = frozenset({"ResourceReference", "ResourceAttribute", "Automatic"})


@dataclass(frozen=True)
class ResourceChange:
    """One row of a change set: what happens to which resource, and why."""

    logical_id: str
    resource_type: str
    action: str  # Add | Modify | Remove | Import | Dynamic
    replacement: str | None  # True | False | Conditional | None (not stated)
    scope: tuple[str, ...] = ()
    causes: tuple[tuple[str, str], ...] = ()  # (ChangeSource, CausingEntity)
    policy_action: str | None = None  # Delete | Retain | Snapshot | ReplaceAnd…

    @classmethod
    def from_api(cls, change: Mapping[str, Any]) -> ResourceChange:
        """A `Changes[].ResourceChange` of DescribeChangeSet."""
        rc = change["ResourceChange"]
        return cls(
            logical_id=rc["LogicalResourceId"],
            resource_type=rc.get("ResourceType", ""),
            action=rc.get("Action", ""),
            replacement=rc.get("Replacement"),
            scope=tuple(rc.get("Scope", ())),
            causes=tuple(
                (d.get("ChangeSource", ""), d.get("CausingEntity", ""))
                for d in rc.get("Details", ())
            ),
            policy_action=rc.get("PolicyAction"),
        )

    @property
    def stateful(self) -> bool:
        return self.resource_type in STATEFUL_TYPES

    @property
    def may_replace(self) -> bool:
        """Replacement is True, Conditional, or not stated (read as possible)."""
        return self.action == "Modify" and self.replacement != "False"

    @property
    def data_at_risk(self) -> bool:
        return self.stateful and (self.action == "Remove" or self.may_replace)


@dataclass(frozen=True)
class Assessment:
    """A change set's risk, its class under plan 7.3, and the reasons, one line each."""

    risk: Risk
    change_class: ChangeClass
    reasons: tuple[str, ...]
    data_at_risk: tuple[str, ...] = ()
    changed_parameters: tuple[str, ...] = ()
    refused: bool = False
    no_changes: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def approval(self) -> str:
        return APPROVAL[self.change_class]

    @property
    def exit_code(self) -> int:
        if self.refused:
            return EXIT_CODES["refused"]
        if self.no_changes:
            return EXIT_CODES["none"]
        return EXIT_CODES[self.change_class]


def _is_standard_change(change: ResourceChange) -> str | None:
    """None when the change is routine; else the reason it is not."""
    name = f"{change.logical_id} ({change.resource_type})"
    if change.action != "Modify":
        return f"{name}: {change.action}"
    if change.stateful and change.may_replace:
        return f"{name}: replacement {change.replacement or 'not stated'}"
    if not change.causes:
        return f"{name}: modified for reasons the change set does not state"
    for source, entity in change.causes:
        if source == "ParameterReference" and entity in STANDARD_PARAMETERS:
            continue
        if source in _FOLLOWING_SOURCES:
            continue
        return f"{name}: {source} {entity}".rstrip()
    return None


def assess(
    changes: Iterable[ResourceChange],
    changed_parameters: Iterable[str],
    *,
    emergency: bool = False,
    allow_data_loss: bool = False,
) -> Assessment:
    """Classify one stack's change set (its resource changes and the parameters that differ)."""
    rows = list(changes)
    parameters = tuple(sorted(changed_parameters))
    at_risk = tuple(
        f"{c.logical_id} ({c.resource_type}): "
        + ("removed" if c.action == "Remove" else f"replacement {c.replacement or 'not stated'}")
        + (f", deletion policy {c.policy_action}" if c.policy_action else "")
        for c in rows
        if c.data_at_risk
    )
    reasons: list[str] = []
    risk: Risk
    if at_risk:
        risk = "high"
        reasons += [f"data at risk: {line}" for line in at_risk]
    else:
        not_routine = [r for r in (_is_standard_change(c) for c in rows) if r is not None]
        not_routine += [
            f"parameter {p} is not a standard-change parameter"
            for p in parameters
            if p not in STANDARD_PARAMETERS
        ]
        risk = "medium" if not_routine else "low"
        reasons += not_routine or [
            "only standard parameters change: " + (", ".join(parameters) or "none")
        ]
    change_class: ChangeClass = "emergency" if emergency else _class_of(risk)
    refused = bool(at_risk) and not allow_data_loss
    if refused:
        reasons.append("refused: data at risk needs --allow-data-loss after the CAB has seen it")
    return Assessment(
        risk=risk,
        change_class=change_class,
        reasons=tuple(reasons),
        data_at_risk=at_risk,
        changed_parameters=parameters,
        refused=refused,
        no_changes=not rows and not parameters and not emergency,
    )


def _class_of(risk: Risk) -> ChangeClass:
    return "standard" if risk == "low" else "normal"


def combine(assessments: Iterable[Assessment]) -> Assessment:
    """The class of a deployment of several stacks: its riskiest stack's."""
    items = list(assessments)
    if not items:
        raise ValueError("no assessments to combine")
    worst = max(items, key=lambda a: (_RISK_ORDER[a.risk], not a.no_changes))
    emergency = any(a.change_class == "emergency" for a in items)
    return Assessment(
        risk=worst.risk,
        change_class="emergency" if emergency else _class_of(worst.risk),
        reasons=tuple(r for a in items for r in a.reasons),
        data_at_risk=tuple(d for a in items for d in a.data_at_risk),
        changed_parameters=tuple(sorted({p for a in items for p in a.changed_parameters})),
        refused=any(a.refused for a in items),
        no_changes=all(a.no_changes for a in items),
    )
