"""The benchmarks' shared helpers: reading a plan's scans, stopping a server they started."""

from __future__ import annotations

import signal
import subprocess
import sys

from scripts.bench.common import plan_scans, stop_process


def test_plan_scans_names_every_index_and_full_scan_below_the_top_node() -> None:
    plan = {
        "Node Type": "Nested Loop",
        "Plans": [
            {"Node Type": "Seq Scan", "Relation Name": "product"},
            {
                "Node Type": "Bitmap Heap Scan",
                "Relation Name": "price",
                "Plans": [{"Node Type": "Bitmap Index Scan", "Index Name": "ix_price_product"}],
            },
            {"Node Type": "Index Scan", "Index Name": "pk_alert", "Relation Name": "alert"},
            {"Node Type": "Seq Scan"},
        ],
    }
    assert plan_scans(plan) == ({"ix_price_product", "pk_alert"}, {"product", "?"})
    assert plan_scans({"Node Type": "Result"}) == (set(), set())


def _started(code: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-c", f"{code}\nprint('ready', flush=True)\nimport time\ntime.sleep(60)"],
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == b"ready\n"
    return process


def _close(process: subprocess.Popen[bytes]) -> None:
    assert process.stdout is not None
    process.stdout.close()


def test_stop_process_ends_a_server_by_sigterm() -> None:
    process = _started("")
    stop_process(process)
    _close(process)
    assert process.returncode == -signal.SIGTERM


def test_stop_process_kills_a_server_that_ignores_sigterm_past_the_grace() -> None:
    process = _started("import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)")
    stop_process(process, grace=0.5)
    _close(process)
    assert process.returncode == -signal.SIGKILL
