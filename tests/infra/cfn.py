"""The CloudFormation templates in `infra/`, read with cfn-lint's decoder, and small resolvers."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import cfnlint.decode  # cfn-lint ships no type hints

INFRA = Path(__file__).resolve().parents[2] / "infra"
TEMPLATES = (
    "network", "dr-region", "data", "services", "jobs", "alarms", "paging",
    "logging", "observability", "amp.generated", "escalation.generated", "log-retention.generated",
)  # fmt: skip
#: Which template a `<Something>StackName` parameter points at (for Fn::ImportValue).
STACK_PARAMETERS = {
    "NetworkStackName": "network",
    "DataStackName": "data",
    "ServicesStackName": "services",
    "PagingStackName": "paging",
    "LoggingStackName": "logging",
    "AmpStackName": "amp.generated",
}


@cache
def template(name: str) -> dict[str, Any]:
    """The decoded template `infra/<name>.yaml` (intrinsics as `{"Ref": ...}` dicts)."""
    decoded, matches = cfnlint.decode.decode(str(INFRA / f"{name}.yaml"))
    assert not matches, matches
    assert isinstance(decoded, dict)
    return decoded


def resources(name: str, type_: str | None = None) -> dict[str, dict[str, Any]]:
    """The resources of a template, optionally only those of one type."""
    found: dict[str, dict[str, Any]] = template(name)["Resources"]
    return {k: v for k, v in found.items() if type_ is None or v["Type"] == type_}


def props(name: str, logical_id: str) -> dict[str, Any]:
    """The Properties of one resource."""
    result: dict[str, Any] = template(name)["Resources"][logical_id]["Properties"]
    return result


def resolve(name: str, value: Any) -> Any:
    """A value with `Ref`s to parameters replaced by the parameter's default."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        parameter = template(name).get("Parameters", {}).get(value["Ref"])
        if parameter is not None:
            return parameter.get("Default")
    return value


def number(name: str, value: Any) -> float:
    """A numeric property, through a parameter default when it is a `Ref`."""
    return float(resolve(name, value))


def walk(value: Any, path: tuple[str, ...] = ()) -> Any:
    """Every (path, key, value) in a nested template value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield path, key, item
            yield from walk(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, (*path, str(index)))
