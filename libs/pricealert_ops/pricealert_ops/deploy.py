"""`pricealert deploy plan`: a CloudFormation change set per stack, never executed.

For each stack of `infra/` named on the command line this creates a change set
(an UPDATE of the running stack, or a CREATE when there is none yet) with the
template from the checkout and the parameters given — the others keep their
running values, as `aws cloudformation deploy` does —, waits for CloudFormation
to compute it, and reads every change back: the resource, the action, whether
it is replaced, the scope and what caused it. `change_risk.assess` then gives
the plan 7.3 class. The change set is left for review; after approval
`pricealert deploy apply` runs exactly that change set (`apply_change_set`),
waits for the stack to settle (ECS's circuit breaker rolls a failed service
deployment back) and then backs the deployed configuration up (plan 5.1). A
change set with no changes is deleted: it could not be executed anyway.

An emergency change (`--emergency`) is recorded for its after-the-fact review
(`pricealert_ops.change_records`).

Refusals are `DeployPlanError`s with a stable `code`: `unknown_stack`,
`invalid_parameter`, `missing_parameter`, `template_too_large`,
`change_set_failed`, `wait_timed_out`, `aws_error`; applying adds
`change_set_not_executable` and `deploy_failed`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pricealert_ops.change_risk import Assessment, ResourceChange, assess
from pricealert_ops.errors import Refusal
from pricealert_ops.monitoring.aws import load_template

#: CloudFormation refuses a TemplateBody over this many bytes (TemplateURL then).
MAX_TEMPLATE_BODY = 51_200
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
_NO_CHANGES = ("didn't contain changes", "No updates are to be performed")


class DeployPlanError(Refusal):
    """A plan refused or failed, with a stable `code`."""


@dataclass(frozen=True)
class StackRequest:
    """One stack to plan: `infra/<template>.yaml` deployed as `pricealert-<env>-<short>`."""

    short_name: str
    stack_name: str
    template_path: Path


@dataclass
class StackPlan:
    """What CloudFormation would do to one stack, and its class."""

    stack_name: str
    change_set_type: str  # CREATE | UPDATE
    change_set_id: str | None
    changes: list[ResourceChange]
    changed_parameters: dict[str, tuple[str | None, str]]  # name → (running, new)
    assessment: Assessment
    status_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def stack_request(infra_dir: Path, short_name: str, environment: str) -> StackRequest:
    """The stack as infra/README.md deploys it: `services` is `infra/services.yaml` deployed
    as `pricealert-<env>-services`; `amp` is `amp.generated.yaml`; `dr` is `dr-region.yaml`."""
    candidates = ["dr-region"] if short_name == "dr" else [short_name, f"{short_name}.generated"]
    for stem in candidates:
        path = infra_dir / f"{stem}.yaml"
        if path.is_file() and "/" not in short_name:
            return StackRequest(short_name, f"pricealert-{environment}-{short_name}", path)
    known = sorted(
        "dr" if p.stem == "dr-region" else p.stem.removesuffix(".generated")
        for p in infra_dir.glob("*.yaml")
    )
    raise DeployPlanError("unknown_stack", f"no template for {short_name!r}; known: {known}")


def parse_parameters(pairs: Sequence[str]) -> dict[str, str]:
    """`Key=Value` pairs from the command line."""
    found: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or not key.isalnum():
            raise DeployPlanError("invalid_parameter", f"{pair!r}: give Key=Value")
        found[key] = value
    return found


def plan_stack(
    cloudformation: Any,
    request: StackRequest,
    parameters: Mapping[str, str],
    *,
    change_set_name: str,
    emergency: bool = False,
    allow_data_loss: bool = False,
    s3: Any = None,
    template_bucket: str | None = None,
    timeout_s: float = 600.0,
    poll_s: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> StackPlan:
    """Create the change set of one stack, wait for it, read it back and classify it."""
    body = request.template_path.read_text(encoding="utf-8")
    declared: dict[str, Any] = load_template(request.template_path).get("Parameters", {})
    running = _running_parameters(cloudformation, request.stack_name)
    change_set_type = "CREATE" if running is None else "UPDATE"
    api_parameters: list[dict[str, Any]] = []
    changed: dict[str, tuple[str | None, str]] = {}
    for name, spec in declared.items():
        if name in parameters:
            api_parameters.append({"ParameterKey": name, "ParameterValue": parameters[name]})
            before = None if running is None else running.get(name)
            if before != parameters[name] and running is not None:
                # A NoEcho parameter reads back as ****: whether it changes is unknown.
                shown = "****" if str(spec.get("NoEcho", "")).lower() == "true" else None
                changed[name] = (before, shown or parameters[name])
        elif running is not None and name in running:
            api_parameters.append({"ParameterKey": name, "UsePreviousValue": True})
        elif "Default" not in spec:
            raise DeployPlanError(
                "missing_parameter", f"{request.stack_name}: {name} has no default: give {name}=…"
            )
    call: dict[str, Any] = {
        "StackName": request.stack_name,
        "ChangeSetName": change_set_name,
        "ChangeSetType": change_set_type,
        "Parameters": api_parameters,
        "Capabilities": CAPABILITIES,
        "Description": "pricealert deploy plan" + (" (emergency)" if emergency else ""),
    }
    call.update(_template_argument(body, request, s3, template_bucket))
    unchanged = StackPlan(
        request.stack_name, change_set_type, None, [], {}, assess([], [], emergency=emergency)
    )
    try:
        created = cloudformation.create_change_set(**call)
    except ClientError as exc:
        # moto (not AWS) refuses an unchanged update the way UpdateStack does.
        if any(marker in str(exc) for marker in _NO_CHANGES):
            unchanged.status_reason = str(exc)
            return unchanged
        raise DeployPlanError("aws_error", str(exc)) from exc
    except BotoCoreError as exc:
        raise DeployPlanError("aws_error", str(exc)) from exc
    with _aws_errors():
        described = _wait(cloudformation, created["Id"], timeout_s, poll_s, sleep)
    reason = described.get("StatusReason")
    if described["Status"] == "FAILED":
        if reason and any(marker in reason for marker in _NO_CHANGES):
            # AWS's answer: a FAILED change set that could never be executed.
            with _aws_errors():
                cloudformation.delete_change_set(ChangeSetName=created["Id"])
            unchanged.status_reason = reason
            return unchanged
        raise DeployPlanError("change_set_failed", f"{request.stack_name}: {reason}")
    changes = [
        ResourceChange.from_api(c)
        for c in _all_changes(cloudformation, created["Id"], described)
        if c.get("Type", "Resource") == "Resource"
    ]
    assessment = assess(changes, changed, emergency=emergency, allow_data_loss=allow_data_loss)
    return StackPlan(
        request.stack_name, change_set_type, created["Id"], changes, changed, assessment, reason
    )


def _running_parameters(cloudformation: Any, stack_name: str) -> dict[str, str] | None:
    """The running stack's parameters, or None when it does not exist (or was never created)."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise DeployPlanError("aws_error", str(exc)) from exc
    except BotoCoreError as exc:
        raise DeployPlanError("aws_error", str(exc)) from exc
    if not stacks or stacks[0]["StackStatus"] == "REVIEW_IN_PROGRESS":
        return None
    return {p["ParameterKey"]: p.get("ParameterValue", "") for p in stacks[0].get("Parameters", [])}


def _template_argument(
    body: str, request: StackRequest, s3: Any, bucket: str | None
) -> dict[str, str]:
    if len(body.encode()) <= MAX_TEMPLATE_BODY:
        return {"TemplateBody": body}
    if s3 is None or not bucket:
        raise DeployPlanError(
            "template_too_large",
            f"{request.template_path.name} is over {MAX_TEMPLATE_BODY} bytes: give --s3-bucket",
        )
    digest = hashlib.sha256(body.encode()).hexdigest()[:16]
    key = f"deploy-plan/{request.stack_name}/{digest}.yaml"
    with _aws_errors():
        s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
    return {"TemplateURL": f"https://{bucket}.s3.amazonaws.com/{key}"}


def _wait(
    cloudformation: Any,
    change_set_id: str,
    timeout_s: float,
    poll_s: float,
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    waited = 0.0
    while True:
        described: dict[str, Any] = cloudformation.describe_change_set(ChangeSetName=change_set_id)
        if described["Status"] in ("CREATE_COMPLETE", "FAILED"):
            return described
        if waited >= timeout_s:
            raise DeployPlanError(
                "wait_timed_out", f"{change_set_id} still {described['Status']} after {waited}s"
            )
        sleep(poll_s)
        waited += poll_s


def _all_changes(
    cloudformation: Any, change_set_id: str, first: dict[str, Any]
) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = list(first.get("Changes", []))
    token = first.get("NextToken")
    while token:
        page = cloudformation.describe_change_set(ChangeSetName=change_set_id, NextToken=token)
        changes += page.get("Changes", [])
        token = page.get("NextToken")
    return changes


#: Where a stack rests after an execution: it worked, or it is back where it was.
_DEPLOYED = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE"})
_SETTLED_BADLY = frozenset(
    {"CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_ROLLBACK_COMPLETE",
     "UPDATE_ROLLBACK_FAILED", "UPDATE_FAILED", "DELETE_COMPLETE", "DELETE_FAILED"}
)  # fmt: skip


def apply_change_set(
    cloudformation: Any,
    stack_name: str,
    change_set_name: str,
    *,
    timeout_s: float = 3600.0,
    poll_s: float = 15.0,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Execute a planned change set and wait until the stack has settled; its final status.

    Only a change set that was computed and not yet run is executed (what was reviewed
    is what runs); a stack that ends rolled back or failed is a `deploy_failed` error.
    """
    with _aws_errors():
        described = cloudformation.describe_change_set(
            ChangeSetName=change_set_name, StackName=stack_name
        )
    if described["Status"] != "CREATE_COMPLETE" or described.get("ExecutionStatus") not in (
        None,
        "AVAILABLE",
    ):
        raise DeployPlanError(
            "change_set_not_executable",
            f"{change_set_name} of {stack_name} is {described['Status']}/"
            f"{described.get('ExecutionStatus')}: plan again",
        )
    with _aws_errors():
        cloudformation.execute_change_set(ChangeSetName=change_set_name, StackName=stack_name)
    waited = 0.0
    while True:
        with _aws_errors():
            (stack,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
        status = str(stack["StackStatus"])
        if status in _DEPLOYED:
            return status
        if status in _SETTLED_BADLY:
            reason = stack.get("StackStatusReason") or "see the stack's events"
            raise DeployPlanError("deploy_failed", f"{stack_name} ended {status}: {reason}")
        if waited >= timeout_s:
            raise DeployPlanError(
                "wait_timed_out", f"{stack_name} still {status} after {waited:.0f}s"
            )
        sleep(poll_s)
        waited += poll_s


class _aws_errors:  # a context manager that reads as a clause
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        if isinstance(exc, ClientError | BotoCoreError):
            raise DeployPlanError("aws_error", str(exc)) from exc


def plan_as_dict(plan: StackPlan) -> dict[str, Any]:
    """A plan as JSON-ready data (`--json`, emergency records)."""
    a = plan.assessment
    return {
        "stack": plan.stack_name,
        "change_set_type": plan.change_set_type,
        "change_set_id": plan.change_set_id,
        "risk": a.risk,
        "class": a.change_class,
        "refused": a.refused,
        "no_changes": a.no_changes,
        "reasons": list(a.reasons),
        "changed_parameters": {
            k: {"running": v[0], "new": v[1]} for k, v in plan.changed_parameters.items()
        },
        "changes": [asdict(c) for c in plan.changes],
    }
