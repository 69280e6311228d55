"""Real servers some operations tests start themselves, on free loopback ports.

- a private PostgreSQL cluster with `pg_stat_statements` preloaded (the shared
  test server does not preload it, and its configuration is not ours to change);
- Alertmanager, the Debian `prometheus-alertmanager` binary;
- Prometheus serving a history backfilled with promtool (OpenMetrics text).

All are started as child processes and stopped when the fixture ends.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

#: The newest installed PostgreSQL server binaries (Debian installs them per major version).
PG_BIN = max(
    Path("/usr/lib/postgresql").glob("*/bin"),
    key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    default=Path("/usr/lib/postgresql/15/bin"),
)


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_postgres(args: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI runs as root.
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@contextmanager
def postgres_with_pg_stat_statements() -> Iterator[str]:
    """A throwaway cluster that preloads pg_stat_statements; yields its server URL."""
    root = Path(tempfile.mkdtemp(prefix="pricealert-pgss-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(root, "postgres")
        data, port = root / "data", free_port()
        subprocess.run(
            _as_postgres(
                [str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
            ),
            check=True,
            capture_output=True,
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {root} "
            "-c shared_preload_libraries=pg_stat_statements -c fsync=off"
        )
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l",
                          str(root / "log"), "start"]),
            check=True,
            capture_output=True,
        )  # fmt: skip
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(
                _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
                check=False,
                capture_output=True,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def alertmanager() -> Iterator[str]:
    """A real Alertmanager with a do-nothing receiver; yields its base URL."""
    root = Path(tempfile.mkdtemp(prefix="pricealert-am-"))
    (root / "alertmanager.yml").write_text(
        "route:\n  receiver: nowhere\nreceivers:\n  - name: nowhere\n"
    )
    url = f"http://127.0.0.1:{free_port()}"
    with (root / "log").open("wb") as log:
        process = subprocess.Popen(
            ["prometheus-alertmanager", f"--config.file={root / 'alertmanager.yml'}",
             f"--storage.path={root}", f"--web.listen-address={url.removeprefix('http://')}",
             "--cluster.listen-address="],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_ready(f"{url}/-/ready", process, root / "log")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def backfilled_prometheus(root: Path, openmetrics: str) -> Iterator[str]:
    """A real Prometheus whose storage holds `openmetrics` (backfilled with promtool, kept
    10 years); yields its base URL."""
    (root / "history.om").write_text(openmetrics)
    (root / "prometheus.yml").write_text("global:\n  scrape_interval: 1m\n")
    subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=1000h",
         "--quiet", str(root / "history.om"), str(root / "data")],
        check=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{free_port()}"
    with (root / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(
            ["prometheus", f"--config.file={root / 'prometheus.yml'}",
             f"--storage.tsdb.path={root / 'data'}", "--storage.tsdb.retention.time=10y",
             f"--web.listen-address={url.removeprefix('http://')}"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_ready(f"{url}/-/ready", process, root / "prometheus.log")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, limit: float = 60) -> None:
    """Poll `url` until it answers 200; fail with the log if the process dies first."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)  # polling for startup, not an assertion
    raise RuntimeError(f"{url} was not ready within {limit:.0f} s")
