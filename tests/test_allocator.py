"""glibc's allocator fixed for large buffers (`pricealert.allocator`): bursts of page-sized
buffers reuse the heap instead of faulting fresh memory in, measured in a fresh process."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pricealert.allocator import tune_allocator, tune_for
from pricealert.settings import PriceAlertSettings

_PROBE = """
import sys
from pricealert.allocator import tune_allocator
from tests.support.allocation import burst_faults
tuned = tune_allocator(int(sys.argv[1]), int(sys.argv[2]))
print(tuned, burst_faults())
"""


def _fresh_process(mmap_threshold: int, trim_threshold: int) -> tuple[bool, float]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(mmap_threshold), str(trim_threshold)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    tuned, faults = done.stdout.split()
    return tuned == "True", float(faults)


def test_fixed_thresholds_keep_a_burst_of_pages_in_the_heap() -> None:
    settings = PriceAlertSettings()
    untuned, untuned_faults = _fresh_process(0, 0)
    tuned, tuned_faults = _fresh_process(
        settings.malloc_mmap_threshold_bytes, settings.malloc_trim_threshold_bytes
    )
    assert (untuned, tuned) == (False, True)
    # 40 × 300 KB mapped or grown afresh each burst: ~3 000 faults; kept in the heap: ~none
    assert untuned_faults > 1_000
    assert tuned_faults < 50


def test_zero_leaves_glibcs_own_allocator() -> None:
    assert tune_allocator(0, 32 * 2**20) is False


def test_the_settings_name_the_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRICEALERT_MALLOC_MMAP_THRESHOLD_BYTES", "0")
    assert tune_for(PriceAlertSettings()) is False  # switched off
    assert PriceAlertSettings().malloc_mmap_threshold_bytes == 0
    monkeypatch.setenv("PRICEALERT_MALLOC_MMAP_THRESHOLD_BYTES", str(64 * 2**20))
    with pytest.raises(ValueError, match="less than or equal"):  # glibc's ceiling: 32 MiB
        PriceAlertSettings()
