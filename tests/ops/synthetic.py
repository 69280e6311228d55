"""Synthetic metrics with a known trend and seasonality, for the forecast tests."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np

from pricealert_ops.forecast import Series

START = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday
BASE, SLOPE_PER_DAY, WEEKLY, DAILY, NOISE = 200.0, 2.0, 30.0, 10.0, 3.0


def truth(at: datetime, start: datetime = START) -> float:
    """The noiseless value at `at`, for a series that began at `start`."""
    days = (at - start).total_seconds() / 86_400
    return (
        BASE
        + SLOPE_PER_DAY * days
        + WEEKLY * math.sin(2 * math.pi * days / 7)
        + DAILY * math.sin(2 * math.pi * days)
    )


def series(
    days: int, step: timedelta = timedelta(hours=1), seed: int = 7, start: datetime = START
) -> Series:
    """`days` of observations every `step` from `start`, with normal noise of sd `NOISE`."""
    noise = np.random.default_rng(seed)
    count = int(timedelta(days=days) / step)
    times = [start + step * i for i in range(count)]
    values = [truth(t, start) + float(noise.normal(0, NOISE)) for t in times]
    return Series(times, values)
