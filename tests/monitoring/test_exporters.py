"""The exporters compose and AWS run, run here for real against PostgreSQL and Redis.

The Debian packages `prometheus-postgres-exporter` (0.11.1) and
`prometheus-redis-exporter` (1.45.0) are the versions docker-compose.yml and
infra/observability.yaml pin. Each is started on loopback against a real server
and scraped: every metric `exporters.yml` lists for it must be there, the custom
PostgreSQL queries must load and scrape without error (no clash with a built-in
collector), and Redis run with a maxmemory must report it, so the 70 % rule has
a denominator.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import PG_HOST, clone_database, drop_database
from tests.monitoring.conftest import free_port

MONITORING = Path(__file__).resolve().parents[2] / "monitoring"
COMPOSE = MONITORING.parent / "docker-compose.yml"
EXPORTERS = yaml.safe_load((MONITORING / "exporters.yml").read_text(encoding="utf-8"))["exporters"]
PINNED = {"postgres-exporter": "v0.11.1", "redis-exporter": "v1.45.0"}


def _binary(name: str) -> str:
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found: apt-get install -y {name}", pytrace=False)
    return found


def _scrape(
    url: str, process: subprocess.Popen[bytes], within: float = 20.0
) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    deadline = time.monotonic() + within
    while True:
        try:
            text = httpx.get(url, timeout=5).text
            break
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        # The parser names a counter exposed without `_total` by its family name.
        samples.setdefault(family.name, {})
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


@contextmanager
def _run(command: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def exporter_database(template_database: str) -> Iterator[str]:
    name = f"{template_database}_exporter"
    clone_database(template_database, name)
    yield name
    drop_database(name)


def test_compose_pins_the_exporter_versions_tested_here() -> None:
    services = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    for service, version in PINNED.items():
        assert services[service]["image"].endswith(f":{version}"), services[service]["image"]


def test_postgres_exporter_serves_every_listed_metric_with_our_queries_and_no_error(
    exporter_database: str,
) -> None:
    port = free_port()
    env = {
        "DATA_SOURCE_NAME": f"postgresql://{PG_HOST}/{exporter_database}?sslmode=disable",
        "PATH": "/usr/bin:/bin",
    }
    queries = MONITORING / "exporters" / "postgres-queries.yaml"
    command = [_binary("prometheus-postgres-exporter"), f"--web.listen-address=127.0.0.1:{port}",
               f"--extend.query-path={queries}"]  # fmt: skip
    with _run(command, env) as process:
        samples = _scrape(f"http://127.0.0.1:{port}/metrics", process)
        second = _scrape(f"http://127.0.0.1:{port}/metrics", process)  # the queries run per scrape

    assert list(samples["pg_up"].values()) == [1.0]
    assert set(second["pg_exporter_user_queries_load_error"].values()) == {0.0}
    assert list(second["pg_exporter_last_scrape_error"].values()) == [0.0]
    missing = [m for m in EXPORTERS["postgres_exporter"]["metrics"] if m not in second]
    assert missing == []
    tables = {dict(k)["relname"] for k in second["pricealert_table_n_live_tup"]}
    assert {"product", "price_history"} <= tables


def test_redis_exporter_reports_maxmemory_so_the_ratio_rule_has_a_denominator(
    tmp_path: Path,
) -> None:
    redis_port, exporter_port = free_port(), free_port()
    server = [_binary("redis-server"), "--port", str(redis_port), "--bind", "127.0.0.1",
              "--save", "", "--appendonly", "no", "--maxmemory", "64mb",
              "--maxmemory-policy", "noeviction", "--dir", str(tmp_path)]  # fmt: skip
    exporter = [_binary("prometheus-redis-exporter"),
                f"--web.listen-address=127.0.0.1:{exporter_port}",
                f"--redis.addr=redis://127.0.0.1:{redis_port}"]  # fmt: skip
    env = {"PATH": "/usr/bin:/bin"}
    with _run(server, env), _run(exporter, env) as process:
        _scrape(f"http://127.0.0.1:{exporter_port}/metrics", process)
        samples = _scrape(f"http://127.0.0.1:{exporter_port}/metrics", process)

    assert list(samples["redis_up"].values()) == [1.0]
    assert list(samples["redis_memory_max_bytes"].values()) == [64 * 1024 * 1024]
    used = next(iter(samples["redis_memory_used_bytes"].values()))
    assert 0 < used < 64 * 1024 * 1024
    missing = [m for m in EXPORTERS["redis_exporter"]["metrics"] if m not in samples]
    assert missing == []


def test_compose_redis_runs_with_a_maxmemory_and_noeviction() -> None:
    command = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]["redis"]["command"]
    settings = dict(zip(command[1::2], command[2::2], strict=False))
    assert settings["--maxmemory-policy"] == "noeviction"
    assert settings["--maxmemory"].endswith(("mb", "gb"))
    assert int(settings["--maxmemory"][:-2]) > 0
