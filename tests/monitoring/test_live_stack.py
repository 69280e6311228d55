"""Live wiring: the real services running, the real Prometheus scraping them with every rule.

Starts the four services as processes (the supervisor `make run` uses), then the
`prometheus` binary on loopback with monitoring/prometheus/rules and a scrape
config pointing at the services' /metrics. Every target must be up and every rule
must evaluate without error; the metric names rules and dashboards use must be
exported by the live services (or an exporter, or a recording rule); every log
line each service wrote must have DESIGN.md's shape.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from pricealert_ops.devtools.stack import WORKERS, Stack, free_metrics_base
from pricealert_ops.monitoring.logshape import check_log_line
from pricealert_ops.monitoring.promql import known_metric_names, unknown_metrics
from tests.conftest import REDIS_BASE, async_url, clone_database, drop_database
from tests.monitoring.conftest import free_port
from tests.monitoring.test_metric_names import panel_expressions, rule_expressions

pytestmark = pytest.mark.slow
REDIS_DB = 15
SERVICES = ("api", *WORKERS)
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}


@pytest.fixture(scope="module")
async def stack(template_database: str) -> AsyncIterator[Stack]:

    name = f"{template_database}_live"
    clone_database(template_database, name)
    redis_url = f"{REDIS_BASE}/{REDIS_DB}"
    async with Stack(async_url(name), redis_url, metrics_port_base=free_metrics_base()) as running:
        yield running
    drop_database(name)


@pytest.fixture(scope="module")
async def prometheus(
    stack: Stack,
    prometheus_binary: str,
    monitoring_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[str]:
    work = tmp_path_factory.mktemp("prometheus")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in sorted((monitoring_dir / "prometheus/rules").glob("*.yml"))],
        "scrape_configs": [
            {
                "job_name": service,
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [urlsplit(stack.metrics_url(service)).netloc]}],
            }
            for service in SERVICES
        ],
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    with (work / "prometheus.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            prometheus_binary,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


async def _poll(url: str, ready: Any, within: float = 60.0) -> Any:
    deadline = time.monotonic() + within
    last: Any = None
    async with httpx.AsyncClient(timeout=5.0) as client:
        while time.monotonic() < deadline:
            try:
                last = (await client.get(url)).json()["data"]
                if ready(last):
                    return last
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            await asyncio.sleep(0.5)
    raise AssertionError(f"{url} did not get there within {within:.0f} s; last answer: {last}")


async def test_prometheus_scrapes_every_service_and_every_rule_evaluates(prometheus: str) -> None:
    targets = await _poll(
        f"{prometheus}/api/v1/targets",
        lambda data: (
            len(data["activeTargets"]) == len(SERVICES)
            and all(t["health"] == "up" for t in data["activeTargets"])
        ),
    )
    assert sorted(t["labels"]["job"] for t in targets["activeTargets"]) == sorted(SERVICES)

    def evaluated(data: dict[str, Any]) -> bool:
        rules = [rule for group in data["groups"] for rule in group["rules"]]
        return (
            bool(rules)
            and all(rule.get("lastEvaluation", "").startswith("20") for rule in rules)
            and all(rule["evaluationTime"] > 0 or rule["health"] != "unknown" for rule in rules)
        )

    groups = (await _poll(f"{prometheus}/api/v1/rules", evaluated))["groups"]
    unhealthy = {
        rule["name"]: rule.get("lastError")
        for group in groups
        for rule in group["rules"]
        if rule["health"] != "ok"
    }
    assert unhealthy == {}
    assert sum(len(group["rules"]) for group in groups) > 50


async def test_every_metric_rules_and_panels_name_is_exported_by_the_running_services(
    stack: Stack, monitoring_dir: Path
) -> None:
    live: set[str] = set()
    async with httpx.AsyncClient(timeout=5.0) as client:
        for service in SERVICES:
            exposition = (await client.get(stack.metrics_url(service))).text
            for family in text_string_to_metric_families(exposition):
                live.add(family.name)
                live.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ()))
                live.update(sample.name for sample in family.samples)
    known = known_metric_names(monitoring_dir, live)
    assert unknown_metrics(rule_expressions(), known) == {}
    assert unknown_metrics(panel_expressions(), known) == {}


async def test_every_service_writes_only_log_lines_of_the_documented_shape(stack: Stack) -> None:
    async with httpx.AsyncClient() as client:
        await client.get(f"{stack.api_url}/v1/products")  # a 401: an access and a security line
    lines = stack.log_path.read_text(errors="replace").splitlines()
    not_json = [line for line in lines if not line.startswith("{")]
    assert not_json == []
    records = stack.log_records()
    problems = {
        f"{record.get('service')}:{record.get('message')}": found
        for record in records
        if (found := check_log_line(record))
    }
    assert problems == {}
    assert {record["service"] for record in records} >= {"supervisor", *SERVICES}
