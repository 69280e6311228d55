"""keep_parser_memory(): a worker stops faulting the parser's heap in again for every page."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Run in a fresh interpreter: the setting is process-wide and the point is the
# difference it makes to a process that parses page after page. The probe
# parses and drops pages (what `extract` does first): whether glibc trims
# without the setting also depends on what else a process allocates between
# pages, so the rest of extraction is left out to keep the effect visible.
_PROBE = textwrap.dedent(
    """
    import resource, sys
    from scripts.bench.bench_extract import build_page
    from pricealert.extract import Page, keep_parser_memory

    body = build_page("jp_yodobashi_like.html", 220)
    url = "https://www.yodobashi.com/product/1/"
    kept = keep_parser_memory() if sys.argv[1] == "keep" else False
    for _ in range(5):
        Page(body, url, None)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        Page(body, url, None)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    print(kept, faults / 20)
    """
)


def _faults_per_page(mode: str) -> tuple[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, mode],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout.split()
    return out[0], float(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_process_that_keeps_parser_memory_does_not_fault_it_in_per_page() -> None:
    kept, kept_faults = _faults_per_page("keep")
    _, default_faults = _faults_per_page("default")
    assert kept == "True"
    # A 220 KB page's tree is ~1.7 MB: ~430 fresh 4 KB pages a page without it.
    assert kept_faults < 10 < default_faults
