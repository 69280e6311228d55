"""Where forecast data comes from and goes: CSV, Prometheus `query_range`, CSV and PNG out.

Input CSV: a header row naming `ds` and `y` (other columns are ignored); `ds`
is ISO 8601 (naive times are taken as UTC) or Unix seconds. A Prometheus range
query must return exactly one series: aggregate it (`sum(...)`) first.
"""

from __future__ import annotations

import csv
import math
from datetime import UTC, datetime
from pathlib import Path

from pricealert_ops.capacity import CapacityPlan
from pricealert_ops.forecast import Forecast, ForecastInputError, Series

# Declared in pricealert_ops.prometheus; also importable from here, as before.
from pricealert_ops.prometheus import PrometheusQueryFailed as PrometheusQueryFailed
from pricealert_ops.prometheus import PrometheusUnreachable as PrometheusUnreachable
from pricealert_ops.prometheus import prometheus_api


def parse_time(text: str) -> datetime:
    """An ISO 8601 time (naive: UTC) or Unix seconds, as an aware UTC datetime."""
    text = text.strip()
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ForecastInputError(f"not a time: {text!r} (ISO 8601 or Unix seconds)") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def read_csv(path: Path) -> Series:
    """A series from a CSV file with `ds` and `y` columns."""
    try:
        with path.open(newline="", encoding="utf-8") as source:
            rows = list(csv.DictReader(source))
    except OSError as exc:
        raise ForecastInputError(f"cannot read {path}: {exc.strerror}") from exc
    if not rows or not {"ds", "y"} <= rows[0].keys():
        raise ForecastInputError(f"{path} needs a header with columns ds and y")
    points = []
    for line, row in enumerate(rows, start=2):
        try:
            value = float(row["y"])
        except (TypeError, ValueError) as exc:
            raise ForecastInputError(f"{path}:{line}: y is not a number: {row['y']!r}") from exc
        points.append((parse_time(row["ds"] or ""), value))
    points.sort()
    return Series([p[0] for p in points], [p[1] for p in points])


def fetch_prometheus(
    base_url: str, query: str, start: datetime, end: datetime, step: str, *, timeout: float = 30
) -> Series:
    """The one series a Prometheus range query returns."""
    params = {
        "query": query,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "step": step,
    }
    body = prometheus_api(base_url, "query_range", params, timeout=timeout, typed_by_user=True)
    data = body.get("data", {})
    if data.get("resultType") != "matrix":
        raise PrometheusQueryFailed(f"expected a matrix, got {data.get('resultType')!r}")
    result = data.get("result", [])
    if len(result) != 1:
        raise PrometheusQueryFailed(
            f"the query returned {len(result)} series; it must return one (wrap it in sum(...))"
        )
    points = [
        (datetime.fromtimestamp(float(ts), UTC), float(value))
        for ts, value in result[0]["values"]
        if math.isfinite(float(value))  # Prometheus sends NaN for 0/0 rates
    ]
    return Series([p[0] for p in points], [p[1] for p in points])


def write_csv(forecast: Forecast, path: Path, capacity: CapacityPlan | None = None) -> None:
    """Write ds, yhat, yhat_lower, yhat_upper (and tasks, with a capacity plan)."""
    with path.open("w", newline="", encoding="utf-8") as target:
        writer = csv.writer(target)
        writer.writerow(
            ["ds", "yhat", "yhat_lower", "yhat_upper"] + (["tasks"] if capacity else [])
        )
        for i, ds in enumerate(forecast.ds):
            row = [
                ds.isoformat(),
                f"{forecast.yhat[i]:.6g}",
                f"{forecast.yhat_lower[i]:.6g}",
                f"{forecast.yhat_upper[i]:.6g}",
            ]
            writer.writerow(row + ([str(capacity.per_row[i])] if capacity else []))


def write_plot(forecast: Forecast, series: Series, path: Path, title: str) -> None:
    """A PNG of the observations, the forecast and its uncertainty band."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never a display
    import matplotlib.pyplot as plt

    all_x, observed_x = _plot_days(forecast.ds), _plot_days(series.ds)

    figure, axes = plt.subplots(figsize=(12, 5))
    try:
        axes.fill_between(
            all_x,
            forecast.yhat_lower,
            forecast.yhat_upper,
            color="tab:blue",
            alpha=0.2,
            label="uncertainty band",
        )
        axes.plot(all_x, forecast.yhat, color="tab:blue", linewidth=1.2, label="forecast")
        axes.scatter(observed_x, series.y, s=3, color="black", label="observed")
        axes.axvline(all_x[forecast.horizon_start - 1], color="grey", linestyle="--")
        axes.xaxis_date()
        axes.set_title(f"{title} ({forecast.engine})")
        axes.set_xlabel("time (UTC)")
        axes.legend(loc="upper left")
        figure.autofmt_xdate()
        figure.savefig(path, dpi=100, bbox_inches="tight")
    finally:
        plt.close(figure)


def _plot_days(times: list[datetime]) -> list[float]:
    # Matplotlib's date axis counts days since its default epoch, 1970-01-01 UTC.
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return [(t - epoch).total_seconds() / 86_400 for t in times]
