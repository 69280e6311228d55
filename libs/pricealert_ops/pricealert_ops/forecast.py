"""Resource usage forecast (plan 6.2): trend + weekly (and daily) seasonality.

Two engines give the same shape of answer (`Forecast`: ds, yhat, yhat_lower,
yhat_upper for the history and the horizon):

- `prophet`, as the plan uses it, when the optional extra is installed
  (`pip install 'libs/pricealert_ops[forecast]'`): weekly seasonality of Fourier order 5,
  daily of order 10 for sub-daily data;
- `builtin`, always available: ordinary least squares on a linear trend plus
  the same Fourier terms, with the classic OLS prediction interval
  `yhat ± z·σ·sqrt(1 + x₀ᵀ(XᵀX)⁻¹x₀)`. It assumes the noise is roughly normal and
  the trend linear over the window — what capacity planning asks of it.

Seasonalities are fitted only when the data can show them, as Prophet decides:
weekly with at least two weeks of data, daily with sub-daily samples and at
least two days. A Fourier order is capped below the period's Nyquist limit, so
daily data never gets aliased weekly terms.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import NormalDist, median
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from pricealert.errors import InvalidInput

Engine = Literal["auto", "builtin", "prophet"]
Array = npt.NDArray[np.float64]

DAY = 86_400.0
#: (name, period in days, Fourier order) as the plan's Prophet model has them.
SEASONALITIES = (("weekly", 7.0, 5), ("daily", 1.0, 10))


class ForecastInputError(InvalidInput, code="invalid_forecast_input"):
    """The forecast's input cannot be read: a file without the `ds`/`y` header, or a time that is
    neither ISO 8601 nor Unix seconds."""


class ProphetMissing(InvalidInput, code="prophet_not_installed"):
    """Forecasting needs Prophet and pandas, which come with the `forecast` extra and are not
    installed here."""


@dataclass(frozen=True)
class Series:
    """A metric's observations: UTC timestamps and values, in time order."""

    ds: list[datetime]
    y: list[float]


@dataclass(frozen=True)
class Forecast:
    """The fitted history and the forecast horizon, with the uncertainty band."""

    ds: list[datetime]
    yhat: list[float]
    yhat_lower: list[float]
    yhat_upper: list[float]
    #: Index of the first row after the history.
    horizon_start: int
    engine: str
    #: Trend slope in units per day, and each seasonality's amplitude (half peak-to-peak).
    slope_per_day: float
    amplitudes: dict[str, float]


def sampling_step(series: Series) -> timedelta:
    """The typical spacing of the observations (median, robust to gaps)."""
    gaps = [(b - a).total_seconds() for a, b in zip(series.ds, series.ds[1:], strict=False)]
    return timedelta(seconds=median(gaps))


def active_seasonalities(series: Series) -> list[tuple[str, float, int]]:
    """The seasonalities the data can show, with Nyquist-capped Fourier orders."""
    span_days = (series.ds[-1] - series.ds[0]).total_seconds() / DAY
    step_days = sampling_step(series).total_seconds() / DAY
    active = []
    for name, period, order in SEASONALITIES:
        if span_days < 2 * period or step_days >= period:
            continue
        capped = min(order, math.floor((period / step_days - 1) / 2))
        if capped >= 1:
            active.append((name, period, capped))
    return active


def _design(days: Array, span: float, seasonalities: list[tuple[str, float, int]]) -> Array:
    columns = [np.ones_like(days), days / span]
    for _, period, order in seasonalities:
        for k in range(1, order + 1):
            angle = 2 * np.pi * k * days / period
            columns += [np.sin(angle), np.cos(angle)]
    return np.column_stack(columns)


def _future(series: Series, horizon: timedelta) -> list[datetime]:
    step = sampling_step(series)
    count = int(horizon / step)
    return [series.ds[-1] + step * (i + 1) for i in range(count)]


def validate(series: Series) -> None:
    """Refuse series that cannot be fitted, with a reason."""
    if len(series.ds) != len(series.y):
        raise ForecastInputError("timestamps and values differ in number")
    if len(series.ds) < 10:
        raise ForecastInputError(f"need at least 10 observations, got {len(series.ds)}")
    if any(b <= a for a, b in zip(series.ds, series.ds[1:], strict=False)):
        raise ForecastInputError("timestamps must be strictly increasing (duplicates?)")
    if not all(math.isfinite(v) for v in series.y):
        raise ForecastInputError("values must be finite numbers")


def fit_builtin(series: Series, horizon: timedelta, interval_width: float = 0.95) -> Forecast:
    """Least-squares trend + Fourier seasonality, with OLS prediction intervals."""
    validate(series)
    seasonalities = active_seasonalities(series)
    origin = series.ds[0]
    history_days = np.array([(d - origin).total_seconds() / DAY for d in series.ds])
    span = max(float(history_days[-1]), 1e-9)
    x = _design(history_days, span, seasonalities)
    y = np.array(series.y, dtype=np.float64)
    if len(y) <= x.shape[1] + 1:
        raise ForecastInputError(
            f"{len(y)} observations cannot fit {x.shape[1]} parameters; give a longer range"
        )
    solution, *_ = np.linalg.lstsq(x, y, rcond=None)
    beta: Array = np.asarray(solution, dtype=np.float64)
    residuals = y - x @ beta
    sigma = math.sqrt(float(residuals @ residuals) / (len(y) - x.shape[1]))
    xtx_inv = np.linalg.pinv(x.T @ x)

    future = _future(series, horizon)
    all_ds = series.ds + future
    all_days = np.array([(d - origin).total_seconds() / DAY for d in all_ds])
    x_all = _design(all_days, span, seasonalities)
    yhat = x_all @ beta
    leverage = np.einsum("ij,jk,ik->i", x_all, xtx_inv, x_all)
    half_width = NormalDist().inv_cdf(0.5 + interval_width / 2) * sigma * np.sqrt(1 + leverage)
    return Forecast(
        ds=all_ds,
        yhat=yhat.tolist(),
        yhat_lower=(yhat - half_width).tolist(),
        yhat_upper=(yhat + half_width).tolist(),
        horizon_start=len(series.ds),
        engine="builtin",
        slope_per_day=float(beta[1]) / span,
        amplitudes=_amplitudes(beta, seasonalities),
    )


def _amplitudes(beta: Array, seasonalities: list[tuple[str, float, int]]) -> dict[str, float]:
    # Evaluate each seasonal component over one period; half its range is its amplitude.
    amplitudes, offset = {}, 2
    for name, period, order in seasonalities:
        grid = np.linspace(0, period, 500, endpoint=False)
        component = np.zeros_like(grid)
        for k in range(1, order + 1):
            angle = 2 * np.pi * k * grid / period
            component += beta[offset] * np.sin(angle) + beta[offset + 1] * np.cos(angle)
            offset += 2
        amplitudes[name] = float(component.max() - component.min()) / 2
    return amplitudes


def prophet_available() -> bool:
    """Whether the optional Prophet engine can be imported."""
    try:
        importlib.import_module("prophet")
    except ImportError:
        return False
    return True


def fit_prophet(series: Series, horizon: timedelta, interval_width: float = 0.95) -> Forecast:
    """The plan's Prophet model (weekly order 5; daily order 10 for sub-daily data)."""
    validate(series)
    try:  # optional and untyped: imported by name
        pd: Any = importlib.import_module("pandas")
        prophet: Any = importlib.import_module("prophet")
    except ImportError as exc:
        raise ProphetMissing(
            "install the forecast extra: pip install 'libs/pricealert_ops[forecast]'"
        ) from exc
    model: Any = prophet.Prophet(
        interval_width=interval_width,
        weekly_seasonality=False,
        daily_seasonality=False,
        yearly_seasonality=False,
    )
    for name, period, order in active_seasonalities(series):
        model.add_seasonality(name=name, period=period, fourier_order=order)
    # Prophet wants naive timestamps: give it UTC.
    frame = pd.DataFrame({"ds": [d.replace(tzinfo=None) for d in series.ds], "y": series.y})
    model.fit(frame)
    future = _future(series, horizon)
    all_ds = series.ds + future
    predicted = model.predict(pd.DataFrame({"ds": [d.replace(tzinfo=None) for d in all_ds]}))
    trend = predicted["trend"].to_numpy()
    days = (all_ds[-1] - all_ds[0]).total_seconds() / DAY
    amplitudes = {
        name: float(predicted[name].max() - predicted[name].min()) / 2
        for name, _, _ in active_seasonalities(series)
    }
    return Forecast(
        ds=all_ds,
        yhat=predicted["yhat"].tolist(),
        yhat_lower=predicted["yhat_lower"].tolist(),
        yhat_upper=predicted["yhat_upper"].tolist(),
        horizon_start=len(series.ds),
        engine="prophet",
        slope_per_day=float(trend[-1] - trend[0]) / max(days, 1e-9),
        amplitudes=amplitudes,
    )


def forecast(
    series: Series, horizon: timedelta, *, interval_width: float = 0.95, engine: Engine = "auto"
) -> Forecast:
    """Forecast `series` over `horizon` with the chosen engine (`auto`: Prophet if installed)."""
    if not 0 < interval_width < 1:
        raise ForecastInputError(f"interval width must be between 0 and 1, not {interval_width}")
    validate(series)
    if horizon < sampling_step(series):
        raise ForecastInputError(
            f"the horizon must be at least one sampling step ({sampling_step(series)})"
        )
    if engine == "prophet" or (engine == "auto" and prophet_available()):
        return fit_prophet(series, horizon, interval_width)
    return fit_builtin(series, horizon, interval_width)
