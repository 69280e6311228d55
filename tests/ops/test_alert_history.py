"""The quarter's alert history from a real Prometheus (`ALERTS` backfilled with promtool)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pricealert_ops.alert_review import alert_history

from .servers import backfilled_prometheus, free_port

Cli = Callable[..., tuple[int, str, str]]

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
#: (alert, severity, when it started, minutes it fired): what the backfilled ALERTS series say.
FIRINGS = [
    ("PriceAlertQueueBacklog", "high", NOW - timedelta(days=10), 20),
    ("PriceAlertQueueBacklog", "high", NOW - timedelta(days=5), 20),
    ("PriceAlertQueueBacklog", "high", NOW - timedelta(days=2), 20),
    ("PriceAlertHostCpuHigh", "low", NOW - timedelta(days=20), 120),
    ("PriceAlertApiErrorRate", "critical", NOW - timedelta(days=120), 30),  # last quarter
]
#: Backfilled samples carry no staleness markers: a series stays visible this long after its
#: last sample (Prometheus's lookback), so firing minutes may run over by up to this much.
LOOKBACK_MINUTES = 5


def _openmetrics() -> str:
    lines = ["# TYPE ALERTS gauge"]
    samples = []
    for alert, severity, start, minutes in FIRINGS:
        for half_minute in range(minutes * 2):
            at = int((start + timedelta(seconds=30 * half_minute)).timestamp())
            labels = f'alertname="{alert}",alertstate="firing",severity="{severity}"'
            samples.append((at, f"ALERTS{{{labels}}} 1 {at}"))
    lines += [line for _at, line in sorted(samples)]
    return "\n".join([*lines, "# EOF", ""])


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if shutil.which("prometheus") is None or shutil.which("promtool") is None:
        pytest.fail("needs prometheus and promtool: apt-get install -y prometheus", pytrace=False)
    with backfilled_prometheus(tmp_path_factory.mktemp("prometheus-alerts"), _openmetrics()) as url:
        yield url


def test_the_history_counts_each_firing_and_its_minutes_within_the_period(
    prometheus_url: str,
) -> None:
    history = alert_history(prometheus_url, days=91)

    assert [(h.alert, h.severity, h.firings) for h in history] == [
        ("PriceAlertQueueBacklog", "high", 3),
        ("PriceAlertHostCpuHigh", "low", 1),
    ]  # the one 120 days ago is outside the quarter
    minutes = {h.alert: h.firing_minutes for h in history}
    assert 60 <= minutes["PriceAlertQueueBacklog"] <= 60 + 3 * LOOKBACK_MINUTES
    assert 120 <= minutes["PriceAlertHostCpuHigh"] <= 120 + LOOKBACK_MINUTES


def test_a_longer_period_reaches_the_older_firing(prometheus_url: str) -> None:
    history = alert_history(prometheus_url, days=200)

    assert {h.alert: h.firings for h in history}["PriceAlertApiErrorRate"] == 1


def test_alert_review_prints_the_quarter(prometheus_url: str, tmp_path: Path, cli: Cli) -> None:
    rules, runbooks = tmp_path / "rules", tmp_path / "runbooks"
    rules.mkdir()
    runbooks.mkdir()

    code, out, _ = cli(
        "alert", "review", f"--rules-dir={rules}", f"--runbooks-dir={runbooks}",
        f"--prometheus={prometheus_url}",
    )  # fmt: skip

    assert code == 0, out
    assert "alerts fired over the last 91 days (Prometheus ALERTS): 2" in out
    assert "     3 × PriceAlertQueueBacklog [high], " in out


def test_alert_review_with_an_unreachable_prometheus_or_a_bad_period_is_a_named_error(
    tmp_path: Path, cli: Cli
) -> None:
    code, _, err = cli(
        "alert", "review", f"--rules-dir={tmp_path}", f"--prometheus=http://127.0.0.1:{free_port()}"
    )
    assert code == 2
    assert "error: prometheus_unreachable:" in err

    code, _, err = cli("alert", "review", f"--rules-dir={tmp_path}", "--days=0")
    assert code == 2
    assert "error: invalid_days:" in err
