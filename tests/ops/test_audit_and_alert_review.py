"""`audit` (pip-audit, for real) and `alert review` (temp rule trees, a real Alertmanager)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from pricealert_ops.audit import AuditSourceUnavailable, format_audit, judge

from .servers import alertmanager, free_port

Cli = Callable[..., tuple[int, str, str]]

# pip-audit's JSON report format (`pip-audit --format json`), as it writes it.
VULNERABLE_REPORT = {
    "dependencies": [
        {"name": "jinja2", "version": "2.10", "vulns": [
            {"id": "PYSEC-2019-217", "fix_versions": ["2.10.1"], "aliases": ["CVE-2019-10906"],
             "description": "sandbox escape"},
        ]},
        {"name": "httpx", "version": "0.28.1", "vulns": []},
        {"name": "pricealert",
         "skip_reason": "Dependency not found on PyPI and could not be audited: pricealert"},
    ],
    "fixes": [],
}  # fmt: skip


def test_audit_lists_vulnerabilities_with_their_fixes_and_what_it_could_not_audit() -> None:
    result = judge(VULNERABLE_REPORT)

    assert result.audited == 2
    assert [(v.package, v.id, v.fix_versions) for v in result.vulnerabilities] == [
        ("jinja2", "PYSEC-2019-217", ["2.10.1"])
    ]
    text = "\n".join(format_audit(result))
    assert "jinja2 2.10: PYSEC-2019-217 (CVE-2019-10906) — fixed in 2.10.1" in text
    assert "not audited (1):\n  pricealert:" in text


def test_audit_refuses_to_call_a_report_clean_when_nothing_could_be_looked_up() -> None:
    report = {
        "dependencies": [
            {"name": "httpx", "skip_reason": "Dependency not found on PyPI: httpx (0.28.1)"},
        ]
    }

    with pytest.raises(AuditSourceUnavailable, match="none of 1 dependencies"):
        judge(report)


def test_audit_of_a_known_vulnerable_pin_never_reports_clean(tmp_path: Path, cli: Cli) -> None:
    # Real pip-audit against PyPI. Where PyPI's per-version JSON API is served, requests
    # 2.19.0's advisories are listed (exit 1); where it is not, the audit says it could not
    # look anything up (exit 2). Either way it must not say "0 known vulnerabilities".
    pinned = tmp_path / "requirements.txt"
    pinned.write_text("requests==2.19.0\n")

    code, out, err = cli("audit", f"--requirement={pinned}")

    if code == 1:
        assert "requests 2.19.0: " in out
    else:
        assert code == 2
        assert "error: audit_source_unavailable:" in err or "audit_source_unreachable" in err


def test_audit_without_network_to_the_advisory_service_is_a_named_error(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    pinned = tmp_path / "requirements.txt"
    pinned.write_text("urllib3==1.26.0\n")
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{free_port()}")  # nobody listens
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no cached answers

    code, _, err = cli("audit", f"--requirement={pinned}")

    assert code == 2
    assert "error: audit_source_unreachable:" in err


RULES = """
groups:
  - name: api
    rules:
      - alert: Documented
        expr: up == 0
        annotations:
          runbook_url: monitoring/runbooks/Documented.md
      - alert: LinkedToNothing
        expr: up == 0
        annotations:
          runbook_url: https://git.example/pricealert/blob/main/monitoring/runbooks/Gone.md
      - alert: FoundByName
        expr: up == 0
      - alert: Undocumented
        expr: up == 0
      - record: job:up:sum
        expr: sum(up)
"""


@pytest.fixture
def rule_tree(tmp_path: Path) -> tuple[Path, Path]:
    rules, runbooks = tmp_path / "rules", tmp_path / "runbooks"
    rules.mkdir()
    runbooks.mkdir()
    (rules / "app.yml").write_text(RULES)
    (runbooks / "Documented.md").write_text("# Documented\n")
    (runbooks / "FoundByName.md").write_text("# FoundByName\n")
    return rules, runbooks


def test_alert_review_lists_alerts_without_a_runbook(
    rule_tree: tuple[Path, Path], cli: Cli
) -> None:
    rules, runbooks = rule_tree

    code, out, _ = cli("alert", "review", f"--rules-dir={rules}", f"--runbooks-dir={runbooks}")

    assert code == 1
    assert "4 alerting rules; 2 without a runbook here" in out
    assert "LinkedToNothing (app.yml): runbook_url https://git.example/" in out
    assert "Undocumented (app.yml): no runbook_url and no runbook file" in out
    assert "Documented (app.yml)" not in out
    assert "FoundByName" not in out


def test_alert_review_of_invalid_rules_is_a_named_error(tmp_path: Path, cli: Cli) -> None:
    (tmp_path / "broken.yml").write_text("groups: [\n")

    code, _, err = cli("alert", "review", f"--rules-dir={tmp_path}")

    assert code == 2
    assert "error: alert_rules_unreadable:" in err


@pytest.fixture(scope="module")
def alertmanager_url() -> Iterator[str]:
    if shutil.which("prometheus-alertmanager") is None:
        pytest.fail("needs Alertmanager: apt-get install -y prometheus-alertmanager", pytrace=False)
    with alertmanager() as url:
        yield url


def test_alert_review_counts_the_alerts_alertmanager_holds(
    alertmanager_url: str, rule_tree: tuple[Path, Path], cli: Cli
) -> None:
    now = datetime.now(UTC)
    posted = [
        {"labels": {"alertname": "Undocumented", "severity": "high", "instance": f"api-{n}"},
         "startsAt": (now - timedelta(minutes=n)).isoformat()}
        for n in (1, 5, 9)
    ] + [
        {"labels": {"alertname": "Documented", "severity": "low"}, "startsAt": now.isoformat()}
    ]  # fmt: skip
    httpx.post(f"{alertmanager_url}/api/v2/alerts", json=posted, timeout=10).raise_for_status()
    rules, runbooks = rule_tree

    code, out, _ = cli(
        "alert", "review", f"--rules-dir={rules}", f"--runbooks-dir={runbooks}",
        f"--alertmanager={alertmanager_url}",
    )  # fmt: skip

    assert code == 1
    assert "alerts Alertmanager holds now: 4" in out
    lines = out.splitlines()
    first = lines.index("alerts Alertmanager holds now: 4") + 1
    assert lines[first].split(" since ")[0] == "     3 × Undocumented [high]"
    assert lines[first + 1].startswith("     1 × Documented [low]")


def test_alert_review_with_an_unreachable_alertmanager_is_a_named_error(
    rule_tree: tuple[Path, Path], cli: Cli
) -> None:
    rules, runbooks = rule_tree

    code, _, err = cli(
        "alert", "review", f"--rules-dir={rules}", f"--runbooks-dir={runbooks}",
        f"--alertmanager=http://127.0.0.1:{free_port()}",
    )  # fmt: skip

    assert code == 2
    assert "error: alertmanager_unreachable:" in err
