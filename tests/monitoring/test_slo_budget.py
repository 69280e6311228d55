"""`pricealert slo budget|generate`, and the rules running in a real Prometheus.

The live test starts the real `prometheus` binary on loopback with every rule
file of monitoring/prometheus/rules, scraping a tiny exporter (a real HTTP
server in this test) whose counters keep fixed error ratios; `slo budget`
then reads the generated recording rules through Prometheus's HTTP API.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

import pricealert.cli
from pricealert_ops.monitoring import REPO_MONITORING_DIR
from pricealert_ops.monitoring.budget import BudgetLine, PrometheusQueryError, budget_report
from pricealert_ops.monitoring.slo import load_spec
from tests.monitoring.conftest import free_port

SPEC = load_spec(REPO_MONITORING_DIR / "slo.yaml")


def run_cli(monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    return pricealert.cli.main(list(argv))


def test_budget_without_prometheus_prints_plan_9_2_minutes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(monkeypatch, "slo", "budget", "--period", "30d", "--format", "json") == 0
    lines = {line["slo"]: line for line in json.loads(capsys.readouterr().out)}
    assert Decimal(lines["api-availability"]["budget_minutes"]) == Decimal("43.2")
    assert Decimal(lines["api-success"]["budget_minutes"]) == Decimal("21.6")
    assert Decimal(lines["price-collection-success"]["budget_minutes"]) == Decimal("864")
    assert lines["api-mean-latency"]["budget_minutes"] is None
    assert Decimal(lines["web-page-load"]["budget_minutes"]) == Decimal("2160")  # 5 % of 30 d


def test_budget_text_output_names_every_slo(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(monkeypatch, "slo", "budget", "--period", "7d") == 0
    out = capsys.readouterr().out
    assert out.startswith("period 7d")
    for slo in SPEC.slos:
        assert slo.name in out
    assert "10.08 min" in out  # 99.9 % over 7 days


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (("slo", "budget", "--period", "soon"), "invalid_slo_spec"),
        (("slo", "budget", "--prometheus", "http://127.0.0.1:9"), "prometheus_unreachable"),
        (("slo", "budget", "--monitoring-dir", "/nonexistent"), "slo_spec_not_found"),
        (("slo",), "missing_action"),
    ],
)
def test_bad_input_is_a_named_error_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...],
    code: str,
) -> None:
    assert run_cli(monkeypatch, *argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {code}: ")
    assert "Traceback" not in err


def test_generate_writes_the_committed_rules(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "prometheus" / "rules").mkdir(parents=True)
    (tmp_path / "slo.yaml").write_text((REPO_MONITORING_DIR / "slo.yaml").read_text())
    assert run_cli(monkeypatch, "slo", "generate", "--monitoring-dir", str(tmp_path)) == 0
    written = tmp_path / "prometheus" / "rules" / "slo.generated.yml"
    committed = REPO_MONITORING_DIR / "prometheus" / "rules" / "slo.generated.yml"
    assert written.read_text() == committed.read_text()
    assert str(written) in capsys.readouterr().out


class FixedRatioExporter:
    """/api and /scraper serve counters that grow by fixed shares on every scrape."""

    def __init__(self) -> None:
        scrapes = {"/api": 0, "/scraper": 0}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path not in scrapes:
                    self.send_response(404)
                    self.end_headers()
                    return
                scrapes[self.path] += 1
                n = scrapes[self.path]
                body = _api_metrics(n) if self.path == "/api" else _scraper_metrics(n)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _api_metrics(n: int) -> str:
    # 1 in 10 000 requests is a 503 (api-success error ratio 0.0001); mean latency 0.1 s.
    labels = 'method="GET",handler="/v1/products"'
    return (
        "# TYPE http_requests_total counter\n"
        f'http_requests_total{{{labels},status="200"}} {9999 * n}\n'
        f'http_requests_total{{{labels},status="503"}} {n}\n'
        "# TYPE http_request_duration_seconds histogram\n"
        f'http_request_duration_seconds_bucket{{{labels},le="0.2"}} {10000 * n}\n'
        f'http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {10000 * n}\n'
        f"http_request_duration_seconds_sum{{{labels}}} {1000 * n}\n"
        f"http_request_duration_seconds_count{{{labels}}} {10000 * n}\n"
    )


def _scraper_metrics(n: int) -> str:
    # 1 check in 100 is blocked: collection error ratio 0.01, half the 2 % budget.
    return (
        "# TYPE pricealert_scrapes_total counter\n"
        f'pricealert_scrapes_total{{result="unchanged"}} {99 * n}\n'
        f'pricealert_scrapes_total{{result="blocked"}} {n}\n'
    )


@pytest.fixture(scope="module")
def live_prometheus(
    prometheus_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("prometheus")
    exporter = FixedRatioExporter()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(REPO_MONITORING_DIR / "prometheus" / "rules" / "*.yml")],
        "scrape_configs": [
            {"job_name": job, "metrics_path": f"/{job}",
             "static_configs": [{"targets": [exporter.address]}]}
            for job in ("api", "scraper")
        ],
    }  # fmt: skip
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (tmp / "prometheus.log").open("w")
    process = subprocess.Popen(
        [prometheus_binary, f"--config.file={tmp / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()
        exporter.close()
        if process.returncode not in (0, -15):
            pytest.fail((tmp / "prometheus.log").read_text())


def _measured(url: str) -> dict[str, BudgetLine]:
    """Budget lines once every SLO with data has a measurement (polls, up to 60 s)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            lines = {line.slo: line for line in budget_report(SPEC, "30d", url)}
        except PrometheusQueryError:  # Prometheus still starting up: ask again
            lines = {}
        ready = (
            lines
            and all(
                lines[name].error_ratio is not None
                for name in ("api-availability", "api-success", "price-collection-success")
            )
            and lines["api-mean-latency"].period_average is not None
        )
        if ready:
            return lines
        if time.monotonic() > deadline:
            pytest.fail(f"recording rules never produced data: {lines}")
        time.sleep(0.5)


@pytest.mark.slow
def test_budget_reads_what_is_left_from_a_real_prometheus(
    live_prometheus: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = _measured(live_prometheus)
    success, collection = lines["api-success"], lines["price-collection-success"]
    availability = lines["api-availability"]
    assert success.error_ratio == pytest.approx(Decimal("0.0001"), abs=Decimal("1e-12"))
    assert success.consumed == pytest.approx(Decimal("0.2"), abs=Decimal("1e-8"))
    assert success.remaining_minutes == pytest.approx(Decimal("17.28"), abs=Decimal("1e-6"))
    assert collection.consumed == pytest.approx(Decimal("0.5"), abs=Decimal("1e-8"))
    assert collection.remaining_minutes == pytest.approx(Decimal("432"), abs=Decimal("1e-5"))
    assert availability.consumed == 0
    assert availability.remaining_minutes == Decimal("43.2")
    assert lines["api-mean-latency"].period_average == pytest.approx(Decimal("0.1"))
    assert lines["alert-delay"].note == "no data in Prometheus"

    assert run_cli(monkeypatch, "slo", "budget", "--prometheus", live_prometheus) == 0
    out = capsys.readouterr().out
    success_row = next(row for row in out.splitlines() if row.startswith("api-success"))
    assert "20.00 %" in success_row
    assert "17.28 min" in success_row


@pytest.mark.slow
def test_every_rule_of_the_project_evaluates_without_error_in_a_real_prometheus(
    live_prometheus: str,
) -> None:
    deadline = time.monotonic() + 60
    while True:
        groups = httpx.get(f"{live_prometheus}/api/v1/rules", timeout=5).json()["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        if rules and all(rule["health"] != "unknown" for rule in rules):
            break
        if time.monotonic() > deadline:
            pytest.fail("rules were never evaluated")
        time.sleep(0.5)
    files = {Path(group["file"]).name for group in groups}
    assert files == {p.name for p in (REPO_MONITORING_DIR / "prometheus" / "rules").glob("*.yml")}
    failing = {rule["name"]: rule.get("lastError") for rule in rules if rule["health"] != "ok"}
    assert failing == {}
