"""Dependency vulnerability audit (plan 7.1, monthly security patching) with pip-audit.

pip-audit asks PyPI's JSON API (`/pypi/<name>/<version>/json`) for each
installed distribution's known vulnerabilities. It reports a package it could
not look up as *skipped* — and still says "No known vulnerabilities found".
That would be a fake all-clear, so this audit refuses it: when no dependency
could be looked up at all, it raises `AuditSourceUnavailable`; when some were
skipped, the report lists them as not audited.

    AuditError                   base (`audit_failed`)
    ├── AuditToolMissing         pip-audit is not installed
    ├── AuditSourceUnreachable   the advisory service could not be reached
    └── AuditSourceUnavailable   it answered, but for none of the dependencies
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pricealert.errors import PriceAlertError

_NETWORK_FAILURES = ("ConnectionError", "ProxyError", "Max retries exceeded", "Timeout", "SSLError")


class AuditError(PriceAlertError, code="audit_failed"):
    """pip-audit failed without a report (its last line is in the message)."""


class AuditToolMissing(AuditError, code="pip_audit_missing"):
    """pip-audit is not installed here (`pip install pip-audit`)."""


class AuditSourceUnreachable(AuditError, code="audit_source_unreachable"):
    """pip-audit could not reach the vulnerability service (or did not finish in time): no result,
    not a clean one."""


class AuditSourceUnavailable(AuditError, code="audit_source_unavailable"):
    """The vulnerability service answered for none of the dependencies: a report that audited
    nothing is refused, not read as clean."""


@dataclass(frozen=True)
class Vulnerability:
    """One advisory against one installed distribution."""

    package: str
    version: str
    id: str
    aliases: list[str]
    fix_versions: list[str]


@dataclass(frozen=True)
class AuditResult:
    """What pip-audit could check, and what it found."""

    audited: int
    skipped: list[tuple[str, str]]
    vulnerabilities: list[Vulnerability]


def judge(report: dict[str, Any]) -> AuditResult:
    """Interpret pip-audit's JSON report; refuse one that audited nothing."""
    dependencies = report.get("dependencies", [])
    skipped = [(d["name"], d["skip_reason"]) for d in dependencies if "skip_reason" in d]
    audited = len(dependencies) - len(skipped)
    if dependencies and audited == 0:
        raise AuditSourceUnavailable(
            f"the vulnerability service answered for none of {len(dependencies)} dependencies "
            f"(first: {skipped[0][1]}); this is not a clean result"
        )
    vulnerabilities = [
        Vulnerability(
            d["name"], d["version"], v["id"], v.get("aliases", []), v.get("fix_versions", [])
        )
        for d in dependencies
        if "skip_reason" not in d
        for v in d.get("vulns", [])
    ]
    return AuditResult(audited, skipped, vulnerabilities)


def run_pip_audit(requirements: Path | None = None, *, timeout: float = 600) -> dict[str, Any]:
    """Run pip-audit on this environment (or a pinned requirements file); its JSON report."""
    args = [sys.executable, "-m", "pip_audit", "--format", "json", "--progress-spinner", "off"]
    if requirements is not None:
        # Pinned files are looked up as written: no resolver, no throwaway venv.
        args += ["--requirement", str(requirements), "--no-deps", "--disable-pip"]
    try:
        done = subprocess.run(  # noqa: S603 - our interpreter, fixed arguments
            args, capture_output=True, text=True, timeout=timeout, env=dict(os.environ), check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise AuditSourceUnreachable(f"pip-audit did not finish within {timeout:.0f} s") from exc
    if "No module named pip_audit" in done.stderr:
        raise AuditToolMissing("pip-audit is not installed: pip install pip-audit")
    try:
        report: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        if any(marker in done.stderr for marker in _NETWORK_FAILURES):
            raise AuditSourceUnreachable(
                f"cannot reach the vulnerability service: {tail[0]}"
            ) from None
        raise AuditError(f"pip-audit exited with {done.returncode}: {tail[0]}") from None
    return report


def format_audit(result: AuditResult) -> list[str]:
    """The readable audit report."""
    found = len(result.vulnerabilities)
    lines = [f"audited {result.audited} dependencies; {found} known vulnerabilities"]
    for v in result.vulnerabilities:
        fixes = ", ".join(v.fix_versions) or "no fix yet"
        aliases = f" ({', '.join(v.aliases)})" if v.aliases else ""
        lines.append(f"  {v.package} {v.version}: {v.id}{aliases} — fixed in {fixes}")
    if result.skipped:
        lines.append(f"not audited ({len(result.skipped)}):")
        lines += [f"  {name}: {reason}" for name, reason in result.skipped]
    return lines
