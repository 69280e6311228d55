"""Alertmanager: valid config, routing per plan 4.1/4.3, inhibition, and a live delivery test."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from pricealert_ops.monitoring import REPO_MONITORING_DIR
from pricealert_ops.monitoring.escalation import SEVERITIES, load_policy
from tests.monitoring.conftest import free_port
from tests.monitoring.webhook import WebhookReceiver, webhook_copy

CONFIG = REPO_MONITORING_DIR / "alertmanager" / "alertmanager.yml"
POLICY = load_policy(REPO_MONITORING_DIR / "escalation.yaml")


def expected_receivers() -> list[tuple[str, str | None, list[str]]]:
    """(severity, escalation level or None, receivers) for every pair of escalation.yaml."""
    pairs: list[tuple[str, str | None, list[str]]] = [
        (severity, None, POLICY.initial[severity]) for severity in SEVERITIES
    ]
    for severity, levels in POLICY.levels.items():
        pairs.extend((severity, str(level.level), [level.receiver]) for level in levels)
    return pairs


def test_the_watchdog_goes_to_the_dead_mans_switch_only(amtool: str) -> None:
    result = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={CONFIG}",
         "--verify.receivers=deadman", "alertname=PriceAlertWatchdog", "severity=none",
         "service=monitoring"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    route = next(
        r
        for r in yaml.safe_load(CONFIG.read_text(encoding="utf-8"))["route"]["routes"]
        if r["receiver"] == "deadman"
    )
    # Every minute, so "nothing for 10 minutes" means the pipeline is dead.
    assert (route["group_interval"], route["repeat_interval"]) == ("1m", "1m")


def _inhibited(source: dict[str, str], target: dict[str, str]) -> bool:
    """Whether an inhibit rule of the config mutes `target` while `source` fires."""
    import re

    def matches(matchers: list[str], labels: dict[str, str]) -> bool:
        for matcher in matchers:
            name, op, value = re.fullmatch(r'(\w+)(=~|!~|!=|=)"(.*)"', matcher).groups()  # type: ignore[union-attr]
            have = labels.get(name, "")
            ok = {"=": have == value, "!=": have != value,
                  "=~": re.fullmatch(value, have) is not None,
                  "!~": re.fullmatch(value, have) is None}[op]  # fmt: skip
            if not ok:
                return False
        return True

    rules = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))["inhibit_rules"]
    return any(
        matches(rule["source_matchers"], source)
        and matches(rule["target_matchers"], target)
        and all(source.get(k, "") == target.get(k, "") for k in rule.get("equal", []))
        for rule in rules
    )


def test_one_dead_api_target_does_not_mute_the_api_fleet_alerts() -> None:
    down = {"alertname": "PriceAlertTargetDown", "severity": "critical", "service": "api",
            "job": "api", "instance": "10.0.1.5:8000"}  # fmt: skip
    fleet = {"alertname": "PriceAlertApiErrorRateHigh", "severity": "high", "service": "api"}
    same_instance = {"alertname": "PriceAlertSomething", "severity": "medium",
                     "service": "api", "instance": "10.0.1.5:8000"}  # fmt: skip
    assert not _inhibited(down, fleet)
    assert _inhibited(down, same_instance)


@pytest.mark.parametrize("source_severity", ["critical", "high", "medium"])
def test_slo_burn_alerts_and_the_watchdog_are_never_inhibited(source_severity: str) -> None:
    for target in (
        {"alertname": "PriceAlertErrorBudgetBurn", "severity": "medium", "service": "api",
         "slo": "api-success", "burn": "ticket"},
        {"alertname": "PriceAlertWatchdog", "severity": "none", "service": "monitoring"},
    ):  # fmt: skip
        same = {**target, "severity": source_severity}
        down = {"alertname": "PriceAlertTargetDown", "severity": "critical",
                "service": target["service"], "instance": ""}  # fmt: skip
        assert not _inhibited(same, target)
        assert not _inhibited(down, target)
    # ...while an ordinary alert at two severities is still deduplicated.
    assert _inhibited(
        {"alertname": "PriceAlertDatabaseMemoryHigh", "severity": "high", "service": "postgres"},
        {"alertname": "PriceAlertDatabaseMemoryHigh", "severity": "medium", "service": "postgres"},
    )


def test_amtool_finds_the_config_valid(amtool: str) -> None:
    result = subprocess.run(
        [amtool, "check-config", str(CONFIG)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_message_templates_parse(amtool: str, tmp_path: Path) -> None:
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    config["templates"] = [str(CONFIG.parent / "templates" / "*.tmpl")]
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [amtool, "check-config", str(tmp_path / "alertmanager.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " - 1 templates" in result.stdout


def test_no_secret_is_committed_in_the_config() -> None:
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    secret_keys = {"slack_api_url", "smtp_auth_password", "routing_key", "service_key",
                   "api_url", "access_key", "secret_key", "auth_password"}  # fmt: skip

    def walk(node: Any, where: str) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in secret_keys:
                    yield f"{where}.{key}"
                yield from walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for i, item in enumerate(node):
                yield from walk(item, f"{where}[{i}]")

    assert list(walk(config, "config")) == []
    assert config["global"]["slack_api_url_file"].startswith("/etc/alertmanager/secrets/")


@pytest.mark.parametrize(
    ("severity", "escalation", "receivers"),
    expected_receivers(),
    ids=lambda v: str(v) if not isinstance(v, list) else ",".join(v),
)
def test_each_severity_and_escalation_reaches_the_plan_receivers(
    amtool: str, severity: str, escalation: str | None, receivers: list[str]
) -> None:
    labels = ["alertname=PriceAlertAnything", "service=api", f"severity={severity}"]
    if escalation:
        labels.append(f"escalation={escalation}")
    result = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={CONFIG}",
         f"--verify.receivers={','.join(receivers)}", *labels],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ",".join(receivers)


def _alert(name: str, severity: str, service: str, **extra: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "labels": {"alertname": name, "severity": severity, "service": service, **extra},
        "annotations": {"summary": f"test {name}"},
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(hours=1)).isoformat(),
    }


@pytest.fixture
def live_alertmanager(
    alertmanager_binary: str, tmp_path: Path
) -> Iterator[tuple[str, WebhookReceiver]]:
    with WebhookReceiver() as receiver:
        config = webhook_copy(yaml.safe_load(CONFIG.read_text(encoding="utf-8")), receiver.url)
        (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config))
        port = free_port()
        log = (tmp_path / "alertmanager.log").open("w")
        process = subprocess.Popen(
            [alertmanager_binary, f"--config.file={tmp_path / 'alertmanager.yml'}",
             f"--storage.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
             "--cluster.listen-address="],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail((tmp_path / "alertmanager.log").read_text())
                time.sleep(0.1)
            yield url, receiver
        finally:
            process.terminate()
            process.wait(timeout=10)
            log.close()


@pytest.mark.slow
def test_real_alertmanager_delivers_each_alert_to_its_receivers_and_inhibits_lower_ones(
    live_alertmanager: tuple[str, WebhookReceiver],
) -> None:
    url, receiver = live_alertmanager
    alerts = [
        _alert("PriceAlertJobDurationHigh", "low", "workers"),
        _alert("PriceAlertQueueBacklog", "medium", "workers"),
        _alert("PriceAlertScrapeSuccessLow", "high", "scraper"),
        _alert("PriceAlertScrapeSuccessLow", "high", "scraper", escalation="1"),
        _alert("PriceAlertScrapeSuccessLow", "high", "scraper", escalation="2"),
        _alert("PriceAlertPostgresDown", "critical", "postgres"),
        _alert("PriceAlertPostgresDown", "critical", "postgres", escalation="3"),
        # same alert at two severities: high inhibits medium
        _alert("PriceAlertDatabaseMemoryHigh", "high", "postgres2"),
        _alert("PriceAlertDatabaseMemoryHigh", "medium", "postgres2"),
        # a target down mutes only the alerts of its own instance, not the fleet's
        _alert("PriceAlertTargetDown", "critical", "api", job="api", instance="api:8000"),
        _alert("PriceAlertApiLatencyHigh", "medium", "api"),
        _alert("PriceAlertInstanceThing", "low", "api", instance="api:8000"),
        # burn alerts are never inhibited: page and ticket of one SLO both arrive
        _alert("PriceAlertErrorBudgetBurn", "critical", "api", slo="api-success", burn="page"),
        _alert("PriceAlertErrorBudgetBurn", "medium", "api", slo="api-success", burn="ticket"),
        # the watchdog reaches the dead-man's switch
        _alert("PriceAlertWatchdog", "none", "monitoring"),
    ]
    response = httpx.post(f"{url}/api/v2/alerts", json=alerts, timeout=5)
    assert response.status_code == 200, response.text
    expected = {
        ("slack", "PriceAlertJobDurationHigh", "low", None),
        ("slack", "PriceAlertQueueBacklog", "medium", None),
        ("oncall-email", "PriceAlertQueueBacklog", "medium", None),
        ("slack", "PriceAlertScrapeSuccessLow", "high", None),
        ("oncall-sms", "PriceAlertScrapeSuccessLow", "high", None),
        ("backup-oncall-sms", "PriceAlertScrapeSuccessLow", "high", "1"),
        ("team-lead", "PriceAlertScrapeSuccessLow", "high", "2"),
        ("pagerduty", "PriceAlertPostgresDown", "critical", None),
        ("incident", "PriceAlertPostgresDown", "critical", "3"),
        ("slack", "PriceAlertDatabaseMemoryHigh", "high", None),
        ("oncall-sms", "PriceAlertDatabaseMemoryHigh", "high", None),
        ("pagerduty", "PriceAlertTargetDown", "critical", None),
        ("slack", "PriceAlertApiLatencyHigh", "medium", None),
        ("oncall-email", "PriceAlertApiLatencyHigh", "medium", None),
        ("pagerduty", "PriceAlertErrorBudgetBurn", "critical", None),
        ("slack", "PriceAlertErrorBudgetBurn", "medium", None),
        ("oncall-email", "PriceAlertErrorBudgetBurn", "medium", None),
        ("deadman", "PriceAlertWatchdog", "none", None),
    }
    # group_wait is the real 30 s: every group is flushed once, at about the same time.
    delivered = receiver.wait_for(len(expected), timeout=120)
    got = {(path, a["alertname"], a["severity"], a.get("escalation")) for path, a in delivered}
    assert got == expected
    assert len(delivered) == len(expected)

    states = {
        (a["labels"]["alertname"], a["labels"]["severity"]): a["status"]
        for a in httpx.get(f"{url}/api/v2/alerts", timeout=5).json()
        if "escalation" not in a["labels"]
    }
    assert states[("PriceAlertDatabaseMemoryHigh", "medium")]["state"] == "suppressed"
    assert states[("PriceAlertDatabaseMemoryHigh", "medium")]["inhibitedBy"]
    assert states[("PriceAlertApiLatencyHigh", "medium")]["state"] == "active"
    assert states[("PriceAlertInstanceThing", "low")]["state"] == "suppressed"
    assert states[("PriceAlertErrorBudgetBurn", "medium")]["state"] == "active"
    assert states[("PriceAlertQueueBacklog", "medium")]["state"] == "active"
