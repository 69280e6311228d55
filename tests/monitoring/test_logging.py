"""Log shipping: the line shape, retention policies against plan 3.2, Fluent Bit routing."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pricealert_ops.monitoring.logshape import check_log_line, check_log_text
from pricealert_ops.monitoring.retention import UNROUTED, load_table

#: Ops plan 3.2, transcribed: (category, level) → days kept.
PLAN_3_2 = {
    ("application", "INFO"): 30,
    ("application", "WARNING"): 90,
    ("application", "ERROR"): 180,
    ("application", "CRITICAL"): 365,
    ("security", "INFO"): 365,
    ("security", "WARNING"): 365,
    ("security", "ERROR"): 365,
    ("access", "INFO"): 90,
    ("database", "INFO"): 90,
}
GOOD: dict[str, Any] = {
    "timestamp": "2026-01-31T09:15:02.123456Z",
    "level": "INFO",
    "logger": "services.scraper.tasks",
    "message": "scrape.finished",
    "module": "tasks",
    "function": "scrape_product",
    "line": 42,
    "service": "scraper",
    "category": "application",
    "job_id": "scrape:123",
    "job_try": 1,
    "queue": "pricealert:scrape",
}


def _policy(monitoring_dir: Path, family: str) -> dict[str, Any]:
    path = monitoring_dir / "logging" / "ism" / f"{family}.json"
    policy: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))["policy"]
    return policy


def _outputs(monitoring_dir: Path) -> list[tuple[re.Pattern[str], str]]:
    text = (monitoring_dir / "logging" / "outputs.generated.conf").read_text(encoding="utf-8")
    routes = []
    for section in text.split("[OUTPUT]")[1:]:
        fields = dict(line.split(None, 1) for line in section.strip().splitlines() if line.strip())
        routes.append((re.compile(fields["Match_Regex"]), fields["Logstash_Prefix"]))
    return routes


def _days(policy: dict[str, Any]) -> int:
    (transition,) = policy["states"][0]["transitions"]
    return int(transition["conditions"]["min_index_age"].removesuffix("d"))


def test_a_line_of_the_documented_shape_has_no_problems() -> None:
    assert check_log_line(GOOD) == []
    assert check_log_text(json.dumps(GOOD), require=("job_id", "job_try", "queue")) == []


def test_an_exception_line_with_request_and_user_ids_is_accepted() -> None:
    exception = {"type": "ValueError", "message": "bad", "traceback": "Traceback..."}
    line = {**GOOD, "level": "ERROR", "request_id": "r-1", "user_id": 7, "exception": exception}
    assert check_log_line(line) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"timestamp": "2026-01-31T09:15:02"}, "timestamp: '2026-01-31T09:15:02' is not UTC"),
        ({"timestamp": "2026-01-31T18:15:02+09:00"}, "is not UTC"),
        ({"timestamp": "yesterday"}, "is not ISO 8601"),
        ({"level": "info"}, "level: 'info' is not one of"),
        ({"level": "WARN"}, "level: 'WARN'"),
        ({"category": "audit"}, "category: 'audit' is not one of"),
        ({"line": "42"}, "line: missing or not a non-negative integer"),
        ({"service": ""}, "service: missing or not a non-empty string"),
        ({"exception": {"type": "ValueError"}}, "exception.message: must be a string"),
        ({"job_try": 0}, "job_try: must be an integer >= 1"),
        ({"user_id": 1.5}, "user_id: must be a string or an integer"),
    ],
)
def test_a_line_off_the_shape_names_its_problem(change: dict[str, Any], problem: str) -> None:
    problems = check_log_line({**GOOD, **change})
    assert any(problem in p for p in problems), problems


def test_missing_fields_and_non_json_output_are_problems() -> None:
    bare = {k: v for k, v in GOOD.items() if k not in ("logger", "function", "category")}
    problems = check_log_line(bare, require=("request_id",))
    assert {p.split(":")[0] for p in problems} == {"logger", "function", "category", "request_id"}
    assert check_log_text("Traceback (most recent call last):") == ["not JSON: Expecting value"]
    assert check_log_text("[1, 2]") == ["not a JSON object"]


def test_retention_table_is_plan_3_2(monitoring_dir: Path) -> None:
    table = load_table(monitoring_dir / "logging" / "retention.yaml")
    assert {(row.category, row.level): row.days for row in table.retention} == PLAN_3_2


@pytest.mark.parametrize(("category", "level"), sorted(PLAN_3_2))
def test_each_plan_row_has_a_policy_deleting_after_its_days(
    monitoring_dir: Path, category: str, level: str
) -> None:
    family = f"pricealert-{category}-{level.lower()}"
    policy = _policy(monitoring_dir, family)
    assert _days(policy) == PLAN_3_2[(category, level)]
    assert policy["states"][1]["actions"] == [{"delete": {}}]
    assert policy["ism_template"][0]["index_patterns"] == [f"{family}-*"]


@pytest.mark.parametrize("category", ["application", "security", "access", "database"])
@pytest.mark.parametrize("level", ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
def test_fluent_bit_routes_each_category_and_level_to_exactly_one_index_kept_long_enough(
    monitoring_dir: Path, category: str, level: str
) -> None:
    tag = f"pricealert.{category}.{level}"
    families = [family for pattern, family in _outputs(monitoring_dir) if pattern.search(tag)]
    assert len(families) == 1, f"{tag} goes to {families}"
    days = _days(_policy(monitoring_dir, families[0]))
    if (category, level) in PLAN_3_2:
        assert days == PLAN_3_2[(category, level)]
    else:  # an unlisted level is kept at least as long as the listed level below it
        below = [d for (c, lv), d in PLAN_3_2.items() if c == category]
        assert days >= min(below)


@pytest.mark.parametrize("tag", ["docker.api", "pricealert.audit.INFO", "pricealert.access.TRACE"])
def test_lines_without_a_known_category_or_level_are_kept_unrouted(
    monitoring_dir: Path, tag: str
) -> None:
    families = [family for pattern, family in _outputs(monitoring_dir) if pattern.search(tag)]
    assert families == [UNROUTED]


def test_fluent_bit_tags_records_by_category_and_level(monitoring_dir: Path) -> None:
    conf = (monitoring_dir / "logging" / "pipeline.conf").read_text(encoding="utf-8")
    rule = next(line for line in conf.splitlines() if line.strip().startswith("Rule"))
    _, key, regex, new_tag, keep = rule.split()
    table = load_table(monitoring_dir / "logging" / "retention.yaml")
    assert (key, new_tag, keep) == ("$category", "pricealert.$category.$level", "false")
    assert {c for c in table.categories if re.fullmatch(regex, c)} == set(table.categories)
    compose = (monitoring_dir / "logging" / "fluent-bit.conf").read_text(encoding="utf-8")
    assert "@INCLUDE pipeline.conf" in compose
    assert "@INCLUDE outputs.generated.conf" in compose


# --- the shipping configuration, fed real log lines -------------------------------------------

LOGGING = Path(__file__).resolve().parents[2] / "monitoring" / "logging"


def _real_lines() -> list[dict[str, Any]]:
    """One line per category and level, written by pricealert.logging as a service writes it."""
    import io
    import logging as std_logging

    from pricealert.logging import configure_logging, get_logger

    stream = io.StringIO()
    configure_logging("api", level="DEBUG", stream=stream)
    try:
        log = get_logger("tests.shipping")
        for category in ("application", "security", "access", "database"):
            for level in ("debug", "info", "warning", "error", "critical"):
                getattr(log, level)("shipping.sample", category=category)
        std_logging.getLogger("uvicorn.access").info("GET /v1/products 200")
    finally:
        std_logging.getLogger().handlers.clear()
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(
    ("config", "tag", "extra"),
    [
        ("fluent-bit.conf", "docker.api", {"source": "stdout", "container_name": "/api"}),
        ("firelens.conf", "api-firelens-5f0e8a", {"source": "stdout", "container_name": "api",
                                                  "ecs_cluster": "pricealert-production"}),
    ],
    ids=["compose", "ecs-firelens"],
)  # fmt: skip
def test_real_log_lines_land_in_the_index_family_their_category_and_level_are_kept_in(
    monitoring_dir: Path, config: str, tag: str, extra: dict[str, str]
) -> None:
    from tests.monitoring import fluentbit

    table = load_table(monitoring_dir / "logging" / "retention.yaml")
    sections = fluentbit.load(LOGGING / config, LOGGING)
    lines = _real_lines()
    assert len(lines) == 21

    for line in lines:
        record = {**extra, "log": json.dumps(line)}
        row = table.route(line["category"], line["level"])
        assert row is not None
        assert fluentbit.route(sections, tag, record) == [row.family], line
    # the uvicorn access line is category access, INFO
    assert lines[-1]["category"] == "access"


@pytest.mark.parametrize("config", ["fluent-bit.conf", "firelens.conf"])
def test_a_line_that_is_not_our_json_is_kept_unrouted(config: str) -> None:
    from tests.monitoring import fluentbit

    sections = fluentbit.load(LOGGING / config, LOGGING)
    tag = "docker.api" if config == "fluent-bit.conf" else "api-firelens-1"
    for line in ("Traceback (most recent call last):", '{"message": "no category"}'):
        record = {"log": line, "container_name": "api"}
        assert fluentbit.route(sections, tag, record) == [UNROUTED]


def test_compose_and_ecs_route_the_same_tags_to_the_same_families() -> None:
    from tests.monitoring import fluentbit

    def routes(name: str) -> list[tuple[str, str]]:
        return [(s.fields["Match_Regex"], s.fields["Logstash_Prefix"])
                for s in fluentbit.load(LOGGING / name, LOGGING) if s.kind == "OUTPUT"]  # fmt: skip

    assert routes("outputs.generated.conf") == routes("outputs-aws.generated.conf")
    aws = (LOGGING / "outputs-aws.generated.conf").read_text(encoding="utf-8")
    assert "HTTP_Passwd" not in aws  # the task role signs; no password on ECS
    assert aws.count("AWS_Auth           On") == len(routes("outputs-aws.generated.conf"))


def test_the_log_router_image_carries_the_files_firelens_conf_includes() -> None:
    dockerfile = (LOGGING / "Dockerfile").read_text(encoding="utf-8")
    (copy,) = [line for line in dockerfile.splitlines() if line.startswith("COPY ")]
    *files, target = copy.split()[1:]
    included = {
        Path(line.split()[1]).name
        for line in (LOGGING / "firelens.conf").read_text(encoding="utf-8").splitlines()
        if line.startswith("@INCLUDE") or "Parsers_File" in line
    }
    assert target == "/fluent-bit/etc/pricealert/"
    assert included | {"firelens.conf"} <= set(files)
    assert (LOGGING / "pipeline.conf").read_text(encoding="utf-8").count("[FILTER]") == 2


def test_compose_services_log_to_fluent_bit_under_the_tag_the_pipeline_matches() -> None:
    import fnmatch

    import yaml

    compose = yaml.safe_load((LOGGING.parents[1] / "docker-compose.yml").read_text())
    services = compose["services"]
    fluent_bit = services["fluent-bit"]
    pipeline = (LOGGING / "pipeline.conf").read_text(encoding="utf-8")
    match = re.search(r"Match\s+(\S+)", pipeline)[1]  # type: ignore[index]
    for name in ("migrate", "api", "web", "scraper", "evaluator", "notifier"):
        logging = services[name]["logging"]
        assert logging["driver"] == "fluentd", name
        assert logging["options"]["fluentd-async"] == "true"
        assert logging["options"]["fluentd-address"] == "127.0.0.1:24224"
        assert fnmatch.fnmatchcase(logging["options"]["tag"].replace("{{.Name}}", name), match)
    assert "127.0.0.1:24224:24224" in fluent_bit["ports"]


def test_compose_labels_the_database_host_for_the_database_rows() -> None:
    import yaml

    config = yaml.safe_load((LOGGING.parent / "prometheus" / "prometheus.yml").read_text())
    (node,) = [job for job in config["scrape_configs"] if job["job_name"] == "node"]
    roles = {target.get("labels", {}).get("role") for target in node["static_configs"]}
    assert roles == {"host", "database"}
