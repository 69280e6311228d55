"""The Prometheus path against a real `prometheus` binary, its history backfilled with promtool."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pricealert_ops.forecast import fit_builtin
from pricealert_ops.forecast_io import PrometheusQueryFailed, fetch_prometheus

from . import synthetic
from .servers import backfilled_prometheus

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture(autouse=True)
def _prometheus_installed() -> None:
    # CI installs them (.ci/run); a machine without them fails loudly rather than skipping.
    if shutil.which("prometheus") is None or shutil.which("promtool") is None:
        pytest.fail("needs prometheus and promtool: apt-get install -y prometheus", pytrace=False)


# Three weeks of 5-minute samples that end three hours ago: a realistic scrape history.
END = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
BEGIN = END - timedelta(days=21)
QUERY = 'sum(avg_over_time(pricealert_queue_length{queue="pricealert:scrape"}[1h]))'


def _openmetrics() -> str:
    lines = ["# TYPE pricealert_queue_length gauge"]
    data = synthetic.series(days=21, step=timedelta(minutes=5), start=BEGIN)
    for at, value in zip(data.ds, data.y, strict=True):
        stamp = int(at.timestamp())
        lines.append(f'pricealert_queue_length{{queue="pricealert:scrape"}} {value:.3f} {stamp}')
        lines.append(f'pricealert_queue_length{{queue="pricealert:notify"}} 7 {stamp}')
    return "\n".join([*lines, "# EOF", ""])


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus serving the backfilled history on a free loopback port."""
    with backfilled_prometheus(tmp_path_factory.mktemp("prometheus"), _openmetrics()) as url:
        yield url


def test_a_range_query_returns_the_backfilled_hourly_series(prometheus_url: str) -> None:
    start = BEGIN + timedelta(hours=1)

    series = fetch_prometheus(prometheus_url, QUERY, start, END, "1h")

    assert len(series.ds) == 21 * 24
    assert series.ds[0] == start
    assert series.y[100] == pytest.approx(synthetic.truth(series.ds[100], BEGIN), abs=15)


def test_forecast_from_prometheus_recovers_the_trend(prometheus_url: str) -> None:
    series = fetch_prometheus(prometheus_url, QUERY, BEGIN + timedelta(hours=1), END, "1h")

    result = fit_builtin(series, timedelta(days=7))

    assert result.slope_per_day == pytest.approx(synthetic.SLOPE_PER_DAY, abs=0.2)
    assert result.amplitudes["weekly"] == pytest.approx(synthetic.WEEKLY, rel=0.15)


def test_forecast_command_reads_prometheus(prometheus_url: str, tmp_path: Path, cli: Cli) -> None:
    code, out, _ = cli(
        "forecast", f"--prometheus={prometheus_url}", f"--query={QUERY}",
        f"--start={(BEGIN + timedelta(hours=1)).isoformat()}", f"--end={END.isoformat()}",
        "--step=1h", "--engine=builtin", "--horizon-days=7", "--metric-kind=queue_length",
        f"--out={tmp_path / 'f.csv'}", f"--plot={tmp_path / 'f.png'}",
    )  # fmt: skip

    assert code == 0, out
    assert "504 observations every 1:00:00" in out
    assert "tasks needed at the peak: 1 → run 1" in out  # ~300 jobs, 500 per task


def test_a_query_with_several_series_is_refused(prometheus_url: str) -> None:
    with pytest.raises(PrometheusQueryFailed, match="returned 2 series"):
        fetch_prometheus(prometheus_url, "pricealert_queue_length", BEGIN, END, "1h")


def test_a_malformed_query_reports_prometheus_own_error(prometheus_url: str) -> None:
    with pytest.raises(PrometheusQueryFailed, match="bad_data"):
        fetch_prometheus(prometheus_url, "sum(", BEGIN, END, "1h")
