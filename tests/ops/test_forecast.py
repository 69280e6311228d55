"""The forecast recovers a known trend and seasonality, and its band covers what follows."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from pricealert_ops import capacity
from pricealert_ops.forecast import (
    Forecast,
    ForecastInputError,
    Series,
    active_seasonalities,
    fit_builtin,
    forecast,
)
from pricealert_ops.forecast_io import PrometheusUnreachable, fetch_prometheus

from . import synthetic
from .servers import free_port
from .synthetic import DAILY, NOISE, SLOPE_PER_DAY, WEEKLY

Cli = Callable[..., tuple[int, str, str]]


def test_builtin_engine_recovers_trend_and_seasonal_amplitudes_from_hourly_data() -> None:
    result = fit_builtin(synthetic.series(days=56), timedelta(days=7))

    assert result.slope_per_day == pytest.approx(SLOPE_PER_DAY, abs=0.1)
    assert result.amplitudes["weekly"] == pytest.approx(WEEKLY, rel=0.08)
    assert result.amplitudes["daily"] == pytest.approx(DAILY, rel=0.1)


def test_the_band_covers_a_held_out_week_at_about_its_stated_rate() -> None:
    history = synthetic.series(days=63)
    cut = len(history.ds) - 7 * 24
    train = Series(history.ds[:cut], history.y[:cut])

    result = fit_builtin(train, timedelta(days=7), interval_width=0.95)

    future = range(result.horizon_start, len(result.ds))
    assert [result.ds[i] for i in future] == history.ds[cut:]
    inside = [
        result.yhat_lower[i] <= history.y[cut + n] <= result.yhat_upper[i]
        for n, i in enumerate(future)
    ]
    assert sum(inside) / len(inside) >= 0.88
    # ... and not by being uselessly wide: about ±1.96 noise sd.
    widths = [(result.yhat_upper[i] - result.yhat_lower[i]) / 2 for i in future]
    assert max(widths) < 2.5 * NOISE


def test_daily_samples_get_weekly_seasonality_below_nyquist_and_no_daily() -> None:
    data = synthetic.series(days=70, step=timedelta(days=1))

    assert active_seasonalities(data) == [("weekly", 7.0, 3)]


def test_a_few_days_of_hourly_data_get_only_daily_seasonality() -> None:
    data = synthetic.series(days=5)

    assert [name for name, _, _ in active_seasonalities(data)] == ["daily"]


def test_too_few_observations_are_a_named_error() -> None:
    data = synthetic.series(days=1, step=timedelta(hours=4))

    with pytest.raises(ForecastInputError, match="at least 10"):
        forecast(data, timedelta(days=1), engine="builtin")


def test_a_horizon_shorter_than_one_step_is_a_named_error() -> None:
    with pytest.raises(ForecastInputError, match="sampling step"):
        forecast(synthetic.series(days=20), timedelta(minutes=5), engine="builtin")


def _flat_forecast(uppers: list[float]) -> Forecast:
    times = synthetic.series(days=1).ds[: len(uppers)]
    return Forecast(times, uppers, uppers, uppers, 1, "test", 0.0, {})


def test_task_count_is_the_upper_bound_over_the_per_task_load_within_bounds() -> None:
    rule = capacity.rule_for("queue_length")

    plan = capacity.plan_capacity(_flat_forecast([9999, 1200, 1501, 300]), rule)

    assert plan.peak_upper == 1501  # the history row (9999) is not the future
    assert (plan.needed, plan.tasks) == (4, 4)
    assert plan.per_row[1:] == [3, 4, 1]
    assert not plan.exceeds_max


def test_a_peak_beyond_the_maximum_is_flagged() -> None:
    rule = capacity.rule_for("requests")  # 1000 per task, 2..10

    plan = capacity.plan_capacity(_flat_forecast([0, 12_500]), rule)

    assert (plan.needed, plan.tasks) == (13, 10)
    assert plan.exceeds_max
    assert "WARNING" in "\n".join(capacity.format_capacity(plan))


def test_forecast_command_writes_csv_plot_and_task_counts(tmp_path: Path, cli: Cli) -> None:
    data = synthetic.series(days=28)
    source = tmp_path / "queue.csv"
    with source.open("w", newline="") as target:
        writer = csv.writer(target)
        writer.writerow(["ds", "y"])
        writer.writerows((t.isoformat(), f"{v:.3f}") for t, v in zip(data.ds, data.y, strict=True))
    out, plot = tmp_path / "forecast.csv", tmp_path / "forecast.png"

    code, printed, _ = cli(
        "forecast", f"--csv={source}", "--engine=builtin", "--horizon-days=7",
        "--metric-kind=queue_length", "--per-task=50", f"--out={out}", f"--plot={plot}",
    )  # fmt: skip

    assert code == 0, printed
    with out.open() as written:
        rows = list(csv.DictReader(written))
    assert list(rows[0]) == ["ds", "yhat", "yhat_lower", "yhat_upper", "tasks"]
    assert len(rows) == len(data.ds) + 7 * 24
    assert plot.read_bytes().startswith(b"\x89PNG")
    assert "fitted seasonalities: weekly, daily" in printed
    # The peak of the horizon is about 200 + 2·35 + 30 + 10 (+ band) → ceil(/50) = 7.
    assert "tasks needed at the peak: 7 → run 7" in printed


def test_forecast_of_a_malformed_csv_is_a_named_error(tmp_path: Path, cli: Cli) -> None:
    source = tmp_path / "bad.csv"
    source.write_text("ds,y\n2025-01-01T00:00:00Z,12\n2025-01-01T01:00:00Z,many\n")

    code, _, err = cli("forecast", f"--csv={source}", f"--out={tmp_path / 'f.csv'}")

    assert code == 2
    assert "error: invalid_forecast_input:" in err
    assert "bad.csv:3" in err


def test_an_unreachable_prometheus_is_a_named_error(cli: Cli) -> None:
    code, _, err = cli("forecast", f"--prometheus=http://127.0.0.1:{free_port()}", "--query=up")

    assert code == 2
    assert "error: prometheus_unreachable:" in err
    with pytest.raises(PrometheusUnreachable):
        fetch_prometheus(
            f"http://127.0.0.1:{free_port()}",
            "up",
            synthetic.START,
            synthetic.START + timedelta(days=1),
            "1h",
        )


@pytest.mark.filterwarnings("ignore:The inplace keyword")  # inside Prophet, with pandas 3
def test_prophet_engine_recovers_the_same_trend_and_seasonality_when_installed() -> None:
    pytest.importorskip("prophet", reason="the optional forecast extra is not installed")

    result = forecast(synthetic.series(days=28), timedelta(days=7), engine="prophet")

    assert result.engine == "prophet"
    assert result.slope_per_day == pytest.approx(SLOPE_PER_DAY, abs=0.3)
    assert result.amplitudes["weekly"] == pytest.approx(WEEKLY, rel=0.1)
    assert result.amplitudes["daily"] == pytest.approx(DAILY, rel=0.1)
    assert len(result.ds) == (28 + 7) * 24
    assert all(
        lo <= y <= hi
        for lo, y, hi in zip(result.yhat_lower, result.yhat, result.yhat_upper, strict=True)
    )
