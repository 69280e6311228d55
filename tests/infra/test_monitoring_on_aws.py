"""Production runs the operations plan: scraping, /metrics kept private, logs shipped and kept.

Everything here is read from the templates (cfn-lint's decoder) and, where a real
binary exists, handed to it: the collector's Prometheus config to `promtool`, the
AMP Alertmanager definition to `amtool`, the inline Lambdas to a real HTTP server
on loopback standing in for OpenSearch.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import shutil
import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from pricealert_ops.monitoring import REPO_MONITORING_DIR
from pricealert_ops.monitoring.alerts import SOURCES, load_source
from pricealert_ops.monitoring.aws import CLOUDWATCH_ROUTE, RULE_FILES
from pricealert_ops.monitoring.escalation import SEVERITIES, load_policy
from pricealert_ops.monitoring.retention import load_table

from .cfn import TEMPLATES, props, resources, template

ECS_TEMPLATES = ("services", "jobs", "observability")
POLICY = load_policy(REPO_MONITORING_DIR / "escalation.yaml")
TABLE = load_table(REPO_MONITORING_DIR / "logging" / "retention.yaml")


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found (Debian packages prometheus, prometheus-alertmanager)")
    return found


# --- scraping: every task, and only the collector on the metrics ports ----------------------


def _ingress(group: str) -> list[dict[str, Any]]:
    inline = props("network", group).get("SecurityGroupIngress", [])
    separate = [
        r["Properties"]
        for r in resources("network", "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Ref": group}
    ]
    return [*inline, *separate]


def test_only_the_collector_reaches_the_workers_metrics_port() -> None:
    port = {"Ref": "MetricsPort"}
    rules = [r for r in _ingress("ServiceSecurityGroup") if r["FromPort"] == port]
    assert rules == [
        {
            "GroupId": {"Ref": "ServiceSecurityGroup"},
            "Description": "worker /metrics, collector only",
            "IpProtocol": "tcp",
            "FromPort": port,
            "ToPort": port,
            "SourceSecurityGroupId": {"Ref": "CollectorSecurityGroup"},
        }
    ]
    workers = [
        c
        for t in ("Scraper", "Evaluator", "Notifier")
        for c in props("services", f"{t}TaskDefinition")["ContainerDefinitions"][:1]
    ]
    for container in workers:
        env = {e["Name"]: e["Value"] for e in container["Environment"]}
        assert env["PRICEALERT_METRICS_PORT"] == str(
            template("network")["Parameters"]["MetricsPort"]["Default"]
        )


def test_the_service_tasks_admit_nothing_but_the_load_balancer_and_the_collector() -> None:
    rules = _ingress("ServiceSecurityGroup")
    sources = {str(r.get("SourceSecurityGroupId") or r.get("CidrIp")) for r in rules}
    assert sources == {
        str({"Ref": "LoadBalancerSecurityGroup"}),
        str({"Ref": "CollectorSecurityGroup"}),
        str({"Ref": "ServiceSecurityGroup"}),  # the web UI's tasks calling the API
    }
    (own,) = [r for r in rules if r.get("SourceSecurityGroupId") == {"Ref": "ServiceSecurityGroup"}]
    assert (own["FromPort"], own["ToPort"]) == (8000, 8000)
    assert "SecurityGroupIngress" not in props("network", "CollectorSecurityGroup")


def test_the_load_balancer_answers_metrics_itself_before_any_forward() -> None:
    rule = props("services", "MetricsNotPublic")
    (condition,) = rule["Conditions"]
    (action,) = rule["Actions"]
    assert rule["ListenerArn"] == {"Ref": "Listener"}
    assert rule["Priority"] == 1
    assert "/metrics" in condition["PathPatternConfig"]["Values"]
    assert "/metrics/*" in condition["PathPatternConfig"]["Values"]
    assert (action["Type"], action["FixedResponseConfig"]["StatusCode"]) == (
        "fixed-response",
        "404",
    )
    # the redirect listener only redirects; nothing else reaches a target
    assert props("services", "HttpRedirectListener")["DefaultActions"][0]["Type"] == "redirect"


def test_every_service_registers_each_task_in_cloud_map_under_its_name() -> None:
    for logical_id, service in resources("services", "AWS::ECS::Service").items():
        (registry,) = service["Properties"]["ServiceRegistries"]
        discovery = registry["RegistryArn"]["Fn::GetAtt"][0]
        assert props("services", discovery)["Name"] == service["Properties"]["ServiceName"], (
            logical_id
        )
        assert props("services", discovery)["DnsConfig"]["DnsRecords"] == [{"Type": "A", "TTL": 10}]


def _collector_config() -> tuple[str, dict[str, str]]:
    (prometheus,) = [
        c
        for c in props("observability", "CollectorTaskDefinition")["ContainerDefinitions"]
        if c["Name"] == "prometheus"
    ]
    (env,) = [e for e in prometheus["Environment"] if e["Name"] == "PROMETHEUS_CONFIG"]
    text, variables = env["Value"]["Fn::Sub"]
    values = {
        "EnvironmentName": "production",
        "AWS::Region": "ap-northeast-1",
        "Namespace": "production.pricealert.internal",
        "RedisPrimary": "master.pricealert.cache.amazonaws.com",
        "RedisReader": "replica.pricealert.cache.amazonaws.com",
        "AmpEndpoint": "https://aps-workspaces.ap-northeast-1.amazonaws.com/workspaces/ws-1/",
    }
    assert set(variables) <= set(values)
    for name, value in values.items():
        text = text.replace(f"${{{name}}}", value)
    return text, values


def test_the_collectors_prometheus_config_is_valid_for_the_real_promtool(tmp_path: Path) -> None:
    text, _ = _collector_config()
    (tmp_path / "prometheus.yml").write_text(text)
    result = subprocess.run(
        [_tool("promtool"), "check", "config", "--syntax-only", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_collector_scrapes_every_task_of_every_service_under_the_rules_job_names() -> None:
    text, values = _collector_config()
    config = yaml.safe_load(text)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    ports = {"api": 8000, "web": 8080}
    for service in ("api", "web", "scraper", "evaluator", "notifier"):
        (sd,) = jobs[service]["dns_sd_configs"]
        assert sd["names"] == [f"{service}.{values['Namespace']}"]
        assert sd["port"] == ports.get(service, 9100)
    # every job a rule selects exists on AWS (node: compose/self-hosted only)
    selected = {
        m
        for name in SOURCES
        for m in re.findall(r'job="(\w+)"', json.dumps(load_source(REPO_MONITORING_DIR, name)))
    }
    assert selected - set(jobs) <= {"node"}
    assert {"postgres", "redis", "rds"} <= set(jobs)
    assert config["remote_write"][0]["url"].endswith("/api/v1/remote_write")
    assert config["remote_write"][0]["sigv4"] == {"region": "ap-northeast-1"}


def test_the_collector_reads_the_database_and_redis_it_is_allowed_to() -> None:
    for group, port in (("DatabaseSecurityGroup", 5432), ("RedisSecurityGroup", 6379)):
        sources = {
            str(r["SourceSecurityGroupId"]) for r in _ingress(group) if r["FromPort"] == port
        }
        assert str({"Ref": "CollectorSecurityGroup"}) in sources


# --- logs --------------------------------------------------------------------------------------


def _task_definitions() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name in ECS_TEMPLATES:
        for logical_id, task in resources(name, "AWS::ECS::TaskDefinition").items():
            yield name, logical_id, task["Properties"]


def test_every_ecs_task_ships_its_logs_through_one_firelens_router() -> None:
    count = 0
    for name, logical_id, task in _task_definitions():
        routers = [c for c in task["ContainerDefinitions"] if "FirelensConfiguration" in c]
        assert [c["Name"] for c in routers] == ["log-router"], logical_id
        (router,) = routers
        assert router["Image"] == {"Ref": "LogRouterImageUri"}
        assert router["FirelensConfiguration"]["Options"]["config-file-value"] == (
            "/fluent-bit/etc/pricealert/firelens.conf"
        )
        assert router["LogConfiguration"]["LogDriver"] == "awslogs"
        for container in task["ContainerDefinitions"]:
            if container is router:
                continue
            count += 1
            assert container["LogConfiguration"] == {"LogDriver": "awsfirelens"}, (
                logical_id,
                container["Name"],
            )
            assert {"ContainerName": "log-router", "Condition": "START"} in container["DependsOn"]
        role = task["TaskRoleArn"]["Fn::GetAtt"][0]
        shipping = {"Fn::ImportValue": {"Fn::Sub": "${LoggingStackName}-ShipLogsPolicyArn"}}
        assert shipping in props(name, role)["ManagedPolicyArns"], logical_id
    assert count == 14  # 5 services, 3 jobs, the collector (5 containers), Grafana


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_cloudwatch_log_group_keeps_what_the_retention_table_says(name: str) -> None:
    for logical_id, group in resources(name, "AWS::Logs::LogGroup").items():
        category, level = group["Metadata"]["LogRetention"].split(".")
        row = TABLE.route(category, level)
        assert row is not None, logical_id
        assert group["Properties"]["RetentionInDays"] == row.days, logical_id


@pytest.mark.parametrize("name", TEMPLATES)
def test_no_lambda_writes_to_a_log_group_that_keeps_logs_forever(name: str) -> None:
    groups = resources(name, "AWS::Logs::LogGroup")
    for logical_id, function in resources(name, "AWS::Lambda::Function").items():
        assert function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"] in groups, logical_id


def test_the_database_index_family_is_the_tables_and_rds_logs_are_subscribed() -> None:
    family = template("logging")["Parameters"]["DatabaseLogIndexFamily"]["Default"]
    assert {TABLE.route("database", level).family for level in TABLE.levels} == {family}  # type: ignore[union-attr]
    subscription = props("logging", "RdsLogSubscription")
    assert subscription["LogGroupName"] == props("data", "DatabaseLogGroup")["LogGroupName"]
    assert subscription["DestinationArn"] == {"Fn::GetAtt": ["RdsLogForwarder", "Arn"]}


def test_every_ism_policy_is_applied_on_aws() -> None:
    policies = props("log-retention.generated", "IsmPolicies")["Policies"]
    files = sorted((REPO_MONITORING_DIR / "logging" / "ism").glob("*.json"))
    assert sorted(policies) == [p.stem for p in files]
    for path in files:
        assert json.loads(policies[path.stem]) == json.loads(path.read_text(encoding="utf-8"))


def test_the_runbooks_search_index_families_that_exist() -> None:
    families = {row.family for row in TABLE.retention} | {"pricealert-unrouted"}
    named = set()
    for page in (REPO_MONITORING_DIR / "runbooks").glob("*.md"):
        named |= set(
            re.findall(r"`(pricealert-[a-z]+-[a-z]+)-\*`", page.read_text(encoding="utf-8"))
        )
    assert named, "no runbook names an index"
    assert named <= families, named - families


class FakeOpenSearch:
    """A real HTTP server on loopback answering like OpenSearch's ISM and _bulk APIs."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.policies: dict[str, dict[str, Any]] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                fake.requests.append((self.command, self.path, dict(self.headers), body))
                name = self.path.split("?")[0].removeprefix("/_plugins/_ism/policies/")
                if self.path.startswith("/_plugins/_ism/policies/"):
                    if self.command == "GET":
                        if name in fake.policies:
                            self._answer(200, {"_id": name, "_seq_no": 7, "_primary_term": 1})
                        else:
                            self._answer(404, {"error": "not found"})
                        return
                    fake.policies[name] = json.loads(body)
                    self._answer(201 if "if_seq_no" not in self.path else 200, {"_id": name})
                elif self.path == "/_bulk":
                    self._answer(200, {"errors": False, "items": []})
                else:
                    self._answer(404, {})

            do_GET = do_PUT = do_POST = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def opensearch(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenSearch]:
    fake = FakeOpenSearch()
    for name, value in {
        "ENDPOINT": fake.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "ap-northeast-1",
    }.items():
        monkeypatch.setenv(name, value)
    yield fake
    fake.close()


def _function(logical_id: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    sent: list[tuple[str, str | None]] = []
    recorder = types.ModuleType("cfnresponse")
    recorder.SUCCESS, recorder.FAILED = "SUCCESS", "FAILED"  # type: ignore[attr-defined]
    recorder.send = lambda e, c, status, d, p, **kw: sent.append((status, kw.get("reason")))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cfnresponse", recorder)
    namespace: dict[str, Any] = {}
    exec(compile(props("logging", logical_id)["Code"]["ZipFile"], logical_id, "exec"), namespace)  # noqa: S102 - our template
    namespace["sent"] = sent
    return namespace


def test_the_ism_function_creates_then_updates_every_policy_signed(
    opensearch: FakeOpenSearch, monkeypatch: pytest.MonkeyPatch
) -> None:
    function = _function("IsmFunction", monkeypatch)
    policies = props("log-retention.generated", "IsmPolicies")["Policies"]
    event = {"RequestType": "Create", "ResourceProperties": {"Policies": policies}}

    function["handler"](event, None)
    function["handler"]({**event, "RequestType": "Update"}, None)

    assert function["sent"] == [("SUCCESS", None), ("SUCCESS", None)]
    assert opensearch.policies == {name: json.loads(text) for name, text in policies.items()}
    puts = [path for method, path, _, _ in opensearch.requests if method == "PUT"]
    assert len(puts) == 2 * len(policies)
    assert all("if_seq_no=7&if_primary_term=1" in p for p in puts[len(policies) :])
    assert all(
        h["Authorization"].startswith("AWS4-HMAC-SHA256") for _, _, h, _ in opensearch.requests
    )


#: RDS's log_line_prefix (%t:%r:%u@%d:[%p]:) before the pid.
PREFIX = "2025-12-04 00:00:00 UTC:10.0.1.5(5432):pricealert@pricealert:"


def test_the_rds_forwarder_indexes_each_postgres_line_as_a_database_document(
    opensearch: FakeOpenSearch, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "INDEX_FAMILY", template("logging")["Parameters"]["DatabaseLogIndexFamily"]["Default"]
    )
    function = _function("RdsLogForwarder", monkeypatch)
    payload = {
        "messageType": "DATA_MESSAGE",
        "logGroup": "/aws/rds/instance/price-alert-production/postgresql",
        "logEvents": [
            {
                "id": "1",
                "timestamp": 1764806400000,
                "message": f"{PREFIX}[123]:LOG:  duration: 812.3 ms  statement: SELECT 1",
            },
            {
                "id": "2",
                "timestamp": 1764806401000,
                "message": f"{PREFIX}[124]:ERROR:  deadlock detected",
            },
        ],
    }
    data = base64.b64encode(gzip.compress(json.dumps(payload).encode())).decode()

    assert function["handler"]({"awslogs": {"data": data}}, None) == {"indexed": 2}

    ((method, path, headers, body),) = opensearch.requests
    lines = [json.loads(line) for line in body.decode().splitlines()]
    assert (method, path, headers["Content-Type"]) == ("POST", "/_bulk", "application/x-ndjson")
    assert lines[0] == {"index": {"_index": "pricealert-database-info-2025.12.04", "_id": "1"}}
    assert (lines[1]["level"], lines[1]["category"], lines[1]["service"]) == (
        "INFO",
        "database",
        "postgres",
    )
    assert lines[1]["message"].startswith("duration: 812.3 ms")
    assert (lines[3]["level"], lines[3]["message"]) == ("ERROR", "deadlock detected")
    assert lines[1]["timestamp"] == "2025-12-04T00:00:00Z"


# --- the rules and routing AMP runs ------------------------------------------------------------


def test_amp_runs_the_very_rule_files_monitoring_check_tests() -> None:
    rules_dir = REPO_MONITORING_DIR / "prometheus" / "rules"
    for name in RULE_FILES:
        data = props("amp.generated", f"{name.capitalize()}Rules")["Data"]
        assert data == (rules_dir / f"{name}.generated.yml").read_text(encoding="utf-8")
    assert {p.name for p in rules_dir.glob("*.yml")} == {f"{n}.generated.yml" for n in RULE_FILES}


def _amp_alertmanager(tmp_path: Path) -> Path:
    body, variables = props("amp.generated", "Workspace")["AlertManagerDefinition"]["Fn::Sub"]
    for name in variables:
        body = body.replace(f"${{{name}}}", f"arn:aws:sns:ap-northeast-1:123456789012:{name}")
    body = body.replace("${AWS::Region}", "ap-northeast-1")
    document = yaml.safe_load(body)
    assert set(document) == {"alertmanager_config", "template_files"}
    config = yaml.safe_load(document["alertmanager_config"])
    for name, text in document["template_files"].items():
        (tmp_path / f"{name}.tmpl").write_text(text)
    config["templates"] = [str(tmp_path / "*.tmpl")]
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config))
    return tmp_path / "alertmanager.yml"


def test_the_amp_alertmanager_definition_is_valid_for_the_real_amtool(tmp_path: Path) -> None:
    path = _amp_alertmanager(tmp_path)
    result = subprocess.run(
        [_tool("amtool"), "check-config", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(path.read_text())
    assert all(set(r) <= {"name", "sns_configs"} for r in config["receivers"])  # AMP: SNS only


def _routes(amtool: str, config: Path, labels: list[str]) -> str:
    result = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={config}", *labels],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip()


def test_amp_routes_every_alert_exactly_as_compose_does(tmp_path: Path) -> None:
    amtool = _tool("amtool")
    aws = _amp_alertmanager(tmp_path)
    compose = REPO_MONITORING_DIR / "alertmanager" / "alertmanager.yml"
    cases = [["alertname=PriceAlertWatchdog", "severity=none", "service=monitoring"]]
    for severity in SEVERITIES:
        cases.append(["alertname=X", "service=api", f"severity={severity}"])
        for level in POLICY.levels.get(severity, []):
            cases.append(
                ["alertname=X", "service=api", f"severity={severity}", f"escalation={level.level}"]
            )
    for labels in cases:
        assert _routes(amtool, aws, labels) == _routes(amtool, compose, labels), labels
    aws_config, compose_config = (
        yaml.safe_load(aws.read_text()),
        yaml.safe_load(compose.read_text()),
    )
    assert aws_config["inhibit_rules"] == compose_config["inhibit_rules"]
    assert [r for r in aws_config["route"]["routes"] if r != CLOUDWATCH_ROUTE] == compose_config[
        "route"
    ]["routes"]


def test_on_aws_a_row_a_cloudwatch_alarm_pages_for_is_not_paged_twice(tmp_path: Path) -> None:
    aws = _amp_alertmanager(tmp_path)
    labels = [
        "alertname=PriceAlertDatabaseCpuHigh",
        "service=postgres",
        "severity=high",
        "cloudwatch_alarm=rds-cpu",
    ]
    assert _routes(_tool("amtool"), aws, labels) == "cloudwatch-pages"
    assert _routes(_tool("amtool"), aws, [*labels, "escalation=2"]) == "cloudwatch-pages"


OPERATOR = {">=": "GreaterThan", ">": "GreaterThan", "<=": "LessThanOrEqualTo", "<": "LessThan"}


def test_each_cloudwatch_alarm_label_names_an_alarm_with_the_same_threshold_and_severity() -> None:
    alarms = {
        a["Properties"]["AlarmName"]["Fn::Sub"].removeprefix("pricealert-${EnvironmentName}-"): a
        for a in resources("alarms", "AWS::CloudWatch::Alarm").values()
    }
    seen = set()
    for name in SOURCES:
        for group in load_source(REPO_MONITORING_DIR, name)["groups"]:
            for rule in group["rules"]:
                label = rule.get("labels", {}).get("cloudwatch_alarm")
                if not label:
                    continue
                seen.add(label)
                alarm = alarms[label]
                assert alarm["Metadata"]["Escalation"]["Severity"] == rule["labels"]["severity"], (
                    label
                )
                if "threshold" not in rule:  # a state (a failed backup), not a level
                    continue
                comparison = re.search(r"(>=|<=|>|<)\s*\$threshold", rule["expr"])[1]  # type: ignore[index]
                assert alarm["Properties"]["Threshold"] == rule["threshold"], label
                assert alarm["Properties"]["ComparisonOperator"].startswith(
                    OPERATOR[comparison][:8]
                ), label
    assert seen == {"rds-cpu", "rds-disk", "rds-free-memory", "redis-memory", "backup-dump-failed"}


def test_grafana_on_aws_has_the_dashboards_and_the_datasource_uid_they_name() -> None:
    grafana = REPO_MONITORING_DIR / "grafana"
    dockerfile = (grafana / "Dockerfile").read_text(encoding="utf-8")
    assert "COPY dashboards /var/lib/grafana/dashboards" in dockerfile
    assert "COPY provisioning/dashboards /etc/grafana/provisioning/dashboards" in dockerfile
    datasource = yaml.safe_load((grafana / "provisioning-aws/datasources/amp.yml").read_text())[
        "datasources"
    ][0]
    compose = yaml.safe_load((grafana / "provisioning/datasources/prometheus.yml").read_text())[
        "datasources"
    ][0]
    assert datasource["uid"] == compose["uid"]
    assert datasource["jsonData"]["sigV4Auth"] is True
    (container,) = [
        c
        for c in props("observability", "GrafanaTaskDefinition")["ContainerDefinitions"]
        if c["Name"] == "grafana"
    ]
    env = {e["Name"] for e in container["Environment"]}
    assert {"AMP_QUERY_URL", "AWS_REGION"} <= env


def test_the_generated_templates_are_what_monitoring_gives() -> None:
    from pricealert_ops.monitoring.generated import stale_generated

    stale = [p for p in stale_generated(REPO_MONITORING_DIR) if p.parts[:2] == ("..", "infra")]
    assert stale == [], "run `make monitoring-generate`"


def test_operators_read_the_logs_in_dashboards_with_an_admin_created_login() -> None:
    domain = props("logging", "LogStore")
    assert domain["CognitoOptions"]["Enabled"] is True
    assert domain["CognitoOptions"]["UserPoolId"] == {"Ref": "OperatorsUserPool"}
    pool = props("logging", "OperatorsUserPool")
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["MfaConfiguration"] == "ON"
    assert props("logging", "OperatorsIdentityPool")["AllowUnauthenticatedIdentities"] is False
    (policy,) = props("logging", "OperatorRole")["Policies"]
    actions = {a for s in policy["PolicyDocument"]["Statement"] for a in s["Action"]}
    assert actions == {"es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost"}  # no delete, no put
    ingress = props("network", "LogStoreSecurityGroup")["SecurityGroupIngress"]
    assert {"Ref": "OperatorCidr"} in [rule.get("CidrIp") for rule in ingress]
