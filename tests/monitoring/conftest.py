"""Fixtures of the monitoring tests: the repo's monitoring/ folder and the real binaries.

The Prometheus tools come from the Debian packages `prometheus` (prometheus,
promtool) and `prometheus-alertmanager` (amtool, alertmanager — installed as
`prometheus-alertmanager`). A missing binary FAILS the test: CI installs them.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from pricealert_ops.monitoring import REPO_MONITORING_DIR

_BINARIES = {
    "promtool": ("promtool",),
    "prometheus": ("prometheus",),
    "amtool": ("amtool",),
    "alertmanager": ("alertmanager", "prometheus-alertmanager"),
}
_PACKAGE = {
    "promtool": "prometheus",
    "prometheus": "prometheus",
    "amtool": "prometheus-alertmanager",
    "alertmanager": "prometheus-alertmanager",
}


def find_binary(tool: str) -> str:
    """Absolute path of a Prometheus tool, or a failed test naming the package to install."""
    for name in _BINARIES[tool]:
        found = shutil.which(name) or shutil.which(name, path="/usr/bin")
        if found:
            return found
    pytest.fail(
        f"{tool} not found on PATH or in /usr/bin: apt-get install -y {_PACKAGE[tool]}",
        pytrace=False,
    )


def free_port() -> int:
    """A loopback port the OS considers free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def monitoring_dir() -> Path:
    return REPO_MONITORING_DIR


@pytest.fixture(scope="session")
def promtool() -> str:
    return find_binary("promtool")


@pytest.fixture(scope="session")
def amtool() -> str:
    return find_binary("amtool")


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    return find_binary("prometheus")


@pytest.fixture(scope="session")
def alertmanager_binary() -> str:
    return find_binary("alertmanager")
