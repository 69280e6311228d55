"""What cfn-lint does not check in `infra/`: scaling, one image, secrets, cross-stack names."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file  # no type hints

from pricealert import queue_metrics_publisher as publisher
from pricealert.queues import EVALUATE_QUEUE, NOTIFY_QUEUE, SCRAPE_QUEUE
from pricealert.supervised import SERVICES, service_command

from .cfn import (
    INFRA,
    STACK_PARAMETERS,
    TEMPLATES,
    number,
    props,
    resolve,
    resources,
    template,
    walk,
)

#: The regions the stacks are deployed to: Tokyo, and Osaka for the DR copies.
REGIONS = ["ap-northeast-1", "ap-northeast-3"]
WORKER_QUEUES = {
    "ScraperService": SCRAPE_QUEUE,
    "EvaluatorService": EVALUATE_QUEUE,
    "NotifierService": NOTIFY_QUEUE,
}
#: Each task runs exactly what `pricealert run` runs (without the `python -m` prefix).
COMMANDS = {
    f"{service.capitalize()}TaskDefinition": service_command(service, host="0.0.0.0", port=8000)[2:]
    for service in SERVICES
}


def test_every_yaml_file_in_infra_is_a_known_template() -> None:
    assert sorted(p.stem for p in INFRA.glob("*.yaml")) == sorted(TEMPLATES)


@pytest.mark.parametrize("name", TEMPLATES)
def test_cfn_lint_finds_nothing(name: str) -> None:
    matches = lint_file(Path(INFRA / f"{name}.yaml"), ManualArgs(regions=REGIONS))

    assert [str(m) for m in matches] == []


# --- scaling -----------------------------------------------------------------------------


def _target_service(target: dict[str, Any]) -> tuple[str, str]:
    """(cluster, service) logical ids named by `service/${Cluster}/${Service.Name}`."""
    resource_id = target["Properties"]["ResourceId"]["Fn::Sub"]
    match = re.fullmatch(r"service/\$\{(\w+)\}/\$\{(\w+)\.Name\}", resource_id)
    assert match, resource_id
    return match[1], match[2]


def test_each_scalable_target_points_at_a_service_of_the_cluster_it_names() -> None:
    targets = resources("services", "AWS::ApplicationAutoScaling::ScalableTarget")
    all_resources = resources("services")

    for target in targets.values():
        cluster, service = _target_service(target)
        assert all_resources[cluster]["Type"] == "AWS::ECS::Cluster"
        assert all_resources[service]["Type"] == "AWS::ECS::Service"
        assert all_resources[service]["Properties"]["Cluster"] == {"Ref": cluster}
        assert target["Properties"]["ScalableDimension"] == "ecs:service:DesiredCount"


def test_every_service_has_exactly_one_scalable_target() -> None:
    targets = resources("services", "AWS::ApplicationAutoScaling::ScalableTarget")

    scaled = sorted(_target_service(t)[1] for t in targets.values())

    assert scaled == sorted(resources("services", "AWS::ECS::Service"))


@pytest.mark.parametrize(
    "logical_id", sorted(resources("services", "AWS::ApplicationAutoScaling::ScalableTarget"))
)
def test_min_capacity_is_at_least_one_and_at_most_max(logical_id: str) -> None:
    target = props("services", logical_id)

    minimum = number("services", target["MinCapacity"])
    maximum = number("services", target["MaxCapacity"])

    # At least one task: the workers' metric divides the backlog by the running tasks.
    assert 1 <= minimum <= maximum


def test_every_scaling_policy_belongs_to_a_scalable_target_in_the_stack() -> None:
    targets = resources("services", "AWS::ApplicationAutoScaling::ScalableTarget")
    policies = resources("services", "AWS::ApplicationAutoScaling::ScalingPolicy")

    for policy in policies.values():
        assert policy["Properties"]["ScalingTargetId"]["Ref"] in targets
    assert {p["Properties"]["ScalingTargetId"]["Ref"] for p in policies.values()} == set(targets)


def test_api_scaling_is_plan_6_1() -> None:
    target = props("services", "ApiScalableTarget")
    cpu = props("services", "ApiCpuScalingPolicy")["TargetTrackingScalingPolicyConfiguration"]
    requests = props("services", "ApiRequestCountScalingPolicy")[
        "TargetTrackingScalingPolicyConfiguration"
    ]

    assert (
        number("services", target["MinCapacity"]),
        number("services", target["MaxCapacity"]),
    ) == (2, 10)
    assert cpu["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
        "ECSServiceAverageCPUUtilization"
    )
    assert requests["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
        "ALBRequestCountPerTarget"
    )
    assert (cpu["TargetValue"], requests["TargetValue"]) == (70.0, 1000.0)
    for policy in (cpu, requests):
        assert (policy["ScaleOutCooldown"], policy["ScaleInCooldown"]) == (60, 300)


def test_the_request_count_label_names_the_load_balancer_and_the_api_target_group() -> None:
    label = props("services", "ApiRequestCountScalingPolicy")[
        "TargetTrackingScalingPolicyConfiguration"
    ]["PredefinedMetricSpecification"]["ResourceLabel"]
    api_target_groups = [
        lb["TargetGroupArn"]["Ref"] for lb in props("services", "ApiService")["LoadBalancers"]
    ]

    separator, parts = label["Fn::Join"]
    assert separator == "/"
    assert parts == [
        {"Fn::GetAtt": ["LoadBalancer", "LoadBalancerFullName"]},
        {"Fn::GetAtt": [api_target_groups[0], "TargetGroupFullName"]},
    ]


@pytest.mark.parametrize(("service", "queue"), sorted(WORKER_QUEUES.items()))
def test_workers_track_their_queue_backlog_per_running_task(service: str, queue: str) -> None:
    target_id = next(
        k
        for k, t in resources("services", "AWS::ApplicationAutoScaling::ScalableTarget").items()
        if _target_service(t)[1] == service
    )
    policy = next(
        p["Properties"]["TargetTrackingScalingPolicyConfiguration"]
        for p in resources("services", "AWS::ApplicationAutoScaling::ScalingPolicy").values()
        if p["Properties"]["ScalingTargetId"] == {"Ref": target_id}
    )
    queries = {q["Id"]: q for q in policy["CustomizedMetricSpecification"]["Metrics"]}
    backlog = queries["backlog"]["MetricStat"]["Metric"]
    tasks = queries["tasks"]["MetricStat"]["Metric"]

    # Exactly the names the publisher writes.
    assert (backlog["Namespace"], backlog["MetricName"]) == (
        publisher.NAMESPACE,
        publisher.METRIC_NAME,
    )
    assert backlog["Dimensions"] == [{"Name": publisher.DIMENSION_NAME, "Value": queue}]
    assert (tasks["Namespace"], tasks["MetricName"]) == (
        "ECS/ContainerInsights",
        "RunningTaskCount",
    )
    assert {"Name": "ServiceName", "Value": {"Fn::GetAtt": [service, "Name"]}} in tasks[
        "Dimensions"
    ]
    assert [q["Id"] for q in queries.values() if q["ReturnData"]] == ["backlog_per_task"]
    assert queries["backlog_per_task"]["Expression"] == "backlog / tasks"
    # Plan 6.3: workers scale at a queue length of 500 (per task).
    assert number("services", policy["TargetValue"]) == 500
    assert (policy["ScaleOutCooldown"], policy["ScaleInCooldown"]) == (60, 300)


def test_container_insights_is_on_for_the_running_task_count() -> None:
    settings = props("services", "Cluster")["ClusterSettings"]

    assert {"Name": "containerInsights", "Value": "enabled"} in settings


# --- one image, commands, health, logs, stop timeouts --------------------------------------


def _containers() -> list[tuple[str, str, dict[str, Any]]]:
    """Every application container (the FireLens log routers beside them are not the app)."""
    return [
        (name, logical_id, container)
        for name in ("services", "jobs")
        for logical_id, task in resources(name, "AWS::ECS::TaskDefinition").items()
        for container in task["Properties"]["ContainerDefinitions"]
        if "FirelensConfiguration" not in container
    ]


def _app(task: str) -> dict[str, Any]:
    (container,) = [c for _, lid, c in _containers() if lid == task]
    return container


def test_services_run_the_runtime_image_and_only_the_dump_the_ops_image() -> None:
    images = {lid: c["Image"] for _, lid, c in _containers()}

    assert len(images) == 8  # five services, three jobs
    assert images.pop("DumpTaskDefinition") == {"Ref": "OpsImageUri"}
    assert set(map(str, images.values())) == {str({"Ref": "ImageUri"})}


@pytest.mark.parametrize(("task", "command"), sorted(COMMANDS.items()))
def test_each_service_runs_its_own_command(task: str, command: list[str]) -> None:
    assert _app(task)["Command"] == command


def test_the_migration_task_runs_pricealert_migrate() -> None:
    assert _app("MigrateTaskDefinition")["Command"] == ["pricealert", "migrate"]


def test_the_api_health_check_asks_healthz_and_workers_ask_arq() -> None:
    api = _app("ApiTaskDefinition")
    web = _app("WebTaskDefinition")

    assert "http://127.0.0.1:8000/healthz" in api["HealthCheck"]["Command"][-1]
    assert "http://127.0.0.1:8080/healthz" in web["HealthCheck"]["Command"][-1]
    for task, command in COMMANDS.items():
        if command[0] == "arq":
            worker = _app(task)
            assert worker["HealthCheck"]["Command"] == ["CMD", "arq", "--check", command[-1]]


def test_workers_get_fargates_longest_stop_timeout_to_drain() -> None:
    for task, command in COMMANDS.items():
        expected = 120 if command[0] == "arq" else 30
        assert _app(task)["StopTimeout"] == expected


def test_every_container_logs_through_firelens_whose_router_logs_to_a_group_of_its_stack() -> None:
    # Where the lines go and for how long: tests/infra/test_monitoring_on_aws.py.
    for name, logical_id, container in _containers():
        assert container["LogConfiguration"] == {"LogDriver": "awsfirelens"}
        (router,) = [
            c
            for c in props(name, logical_id)["ContainerDefinitions"]
            if "FirelensConfiguration" in c
        ]
        group = router["LogConfiguration"]["Options"]["awslogs-group"]["Ref"]
        assert group in resources(name, "AWS::Logs::LogGroup")


# --- secrets -------------------------------------------------------------------------------

_SECRET_KEY = re.compile(r"password|secret|token|credential|api_?key", re.IGNORECASE)


def _is_secret_literal(value: Any) -> bool:
    """A literal where a secret would be: not a dynamic reference, not a Ref/GetAtt."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        text = value["Fn::Sub"]
        value = text if isinstance(text, str) else text[0]
    return isinstance(value, str) and not value.startswith("{{resolve:")


def _secret_literals(tree: Any) -> list[str]:
    return [
        ".".join((*path, str(key)))
        for path, key, value in walk(tree)
        if _SECRET_KEY.search(str(key)) and _is_secret_literal(value)
    ]


@pytest.mark.parametrize("name", TEMPLATES)
def test_no_resource_holds_a_secret_value(name: str) -> None:
    assert _secret_literals(template(name)["Resources"]) == []
    assert "MasterUserPassword" not in {key for _, key, _ in walk(template(name))}


@pytest.mark.parametrize("name", TEMPLATES)
def test_secret_parameters_only_say_where_a_secret_lives(name: str) -> None:
    for parameter in template(name).get("Parameters", {}):
        if _SECRET_KEY.search(parameter):
            assert parameter.endswith(("SecretArn", "SecretName")), parameter


def test_a_planted_password_would_be_found() -> None:
    # The check above must be able to fail.
    planted = {"Properties": {"MasterUserPassword": "hunter2", "AuthToken": {"Fn::Sub": "x"}}}

    assert _secret_literals(planted) == [
        "Properties.MasterUserPassword",
        "Properties.AuthToken",
    ]


def test_connection_strings_and_keys_reach_containers_only_as_secrets() -> None:
    sensitive = {"PRICEALERT_DATABASE_URL", "PRICEALERT_REDIS_URL", "PRICEALERT_SECRET_KEY"}
    for _, _, container in _containers():
        plain = {e["Name"] for e in container.get("Environment", [])}
        assert not plain & sensitive
        for secret in container.get("Secrets", []):
            assert secret["ValueFrom"]["Ref"].endswith("SecretArn")


# --- cross-stack names ----------------------------------------------------------------------


def _exports(name: str) -> set[str]:
    return {
        output["Export"]["Name"]["Fn::Sub"].removeprefix("${AWS::StackName}-")
        for output in template(name).get("Outputs", {}).values()
        if "Export" in output
    }


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_import_names_an_export_of_the_stack_it_points_at(name: str) -> None:
    for _, key, value in walk(template(name)):
        if key != "Fn::ImportValue":
            continue
        match = re.fullmatch(r"\$\{(\w+)\}-(\w+)", value["Fn::Sub"])
        assert match, value
        assert match[2] in _exports(STACK_PARAMETERS[match[1]]), value


def test_the_notifier_sends_through_ses_and_sns_with_its_role_not_a_stored_secret() -> None:
    notifier = _app("NotifierTaskDefinition")
    env = {item["Name"]: item["Value"] for item in notifier["Environment"]}
    assert env["PRICEALERT_EMAIL_BACKEND"] == "ses"
    assert "PRICEALERT_SMTP_PASSWORD" not in {item["Name"] for item in notifier["Secrets"]}
    statements = [
        statement
        for policy in props("services", "AppTaskRole")["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    allowed = {action for statement in statements for action in statement["Action"]}
    assert {"ses:SendRawEmail", "sns:Publish"} <= allowed


def test_the_web_ui_is_reached_by_its_host_name_and_scales_like_the_api() -> None:
    rule = props("services", "WebByHostName")
    assert rule["Conditions"] == [
        {"Field": "host-header", "HostHeaderConfig": {"Values": [{"Ref": "WebHostName"}]}}
    ]
    assert rule["Actions"][0]["TargetGroupArn"] == {"Ref": "WebTargetGroup"}
    # /metrics is answered by the ALB before any host is routed.
    assert props("services", "MetricsNotPublic")["Priority"] < rule["Priority"]
    web_target = props("services", "WebScalableTarget")
    assert (
        number("services", web_target["MinCapacity"]),
        number("services", web_target["MaxCapacity"]),
    ) == (2, 10)
    for policy, api_policy in (
        ("WebCpuScalingPolicy", "ApiCpuScalingPolicy"),
        ("WebRequestCountScalingPolicy", "ApiRequestCountScalingPolicy"),
    ):
        web_config = props("services", policy)["TargetTrackingScalingPolicyConfiguration"]
        api_config = props("services", api_policy)["TargetTrackingScalingPolicyConfiguration"]
        assert web_config["TargetValue"] == api_config["TargetValue"]
        assert (
            web_config["PredefinedMetricSpecification"]["PredefinedMetricType"]
            == (api_config["PredefinedMetricSpecification"]["PredefinedMetricType"])
        )
    environment = {e["Name"]: e["Value"] for e in _app("WebTaskDefinition")["Environment"]}
    assert environment["PRICEALERT_API_URL"] == {
        "Fn::Sub": "http://api.${EnvironmentName}.pricealert.internal:8000"
    }
    notifier = {e["Name"]: e["Value"] for e in _app("NotifierTaskDefinition")["Environment"]}
    assert notifier["PRICEALERT_WEB_BASE_URL"] == {"Fn::Sub": "https://${WebHostName}"}


ECS_SERVICES = [
    (name, logical_id) for name in TEMPLATES for logical_id in resources(name, "AWS::ECS::Service")
]


def test_every_template_with_services_is_checked_for_circuit_breakers() -> None:
    # The deploy path (infra/README.md) relies on ECS rolling a failed deployment back.
    assert {name for name, _ in ECS_SERVICES} == {"services", "jobs", "observability"}
    assert len(ECS_SERVICES) >= 8


@pytest.mark.parametrize(("name", "logical_id"), ECS_SERVICES)
def test_every_ecs_service_rolls_a_failed_deployment_back(name: str, logical_id: str) -> None:
    deployment = props(name, logical_id).get("DeploymentConfiguration", {})
    assert deployment.get("DeploymentCircuitBreaker") == {"Enable": True, "Rollback": True}
    # A rolling deployment (ECS), not CodeDeploy or external, is what the breaker watches.
    assert props(name, logical_id).get("DeploymentController", {"Type": "ECS"}) == {"Type": "ECS"}


def _forwarded_allow_ips(task: str) -> Any:
    (value,) = [e["Value"] for e in _app(task)["Environment"] if e["Name"] == "FORWARDED_ALLOW_IPS"]
    return value


@pytest.mark.parametrize("task", ["ApiTaskDefinition", "WebTaskDefinition"])
def test_x_forwarded_for_is_believed_from_the_vpc_only(task: str) -> None:
    assert "--proxy-headers" in _app(task)["Command"]
    assert _forwarded_allow_ips(task) == {
        "Fn::ImportValue": {"Fn::Sub": "${NetworkStackName}-VpcCidr"}
    }
    assert template("network")["Outputs"]["VpcCidr"]["Value"] == {"Ref": "VpcCidr"}
    attributes = {
        a["Key"]: a["Value"] for a in props("services", "LoadBalancer")["LoadBalancerAttributes"]
    }
    assert attributes["routing.http.xff_header_processing.mode"] == "append"


async def _client_seen(trusted: str, peer: str, forwarded: str) -> str:
    """The client address uvicorn's own proxy-headers middleware gives the app."""
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["client"][0])

    middleware = ProxyHeadersMiddleware(app, trusted_hosts=trusted)
    scope = {
        "type": "http",
        "scheme": "http",
        "client": (peer, 51234),
        "headers": [(b"x-forwarded-for", forwarded.encode())],
    }
    await middleware(scope, None, None)  # type: ignore[arg-type]
    return seen[0]


async def test_a_client_cannot_choose_its_address_through_the_alb() -> None:
    vpc = str(resolve("network", {"Ref": "VpcCidr"}))
    alb = "10.40.1.37"  # in the default public subnet A
    web = "10.40.33.20"  # a web task (private subnet A) passing on the person's address
    spoofed = "198.51.100.7, 203.0.113.9"  # the client wrote the first, the ALB appended its peer
    assert await _client_seen(vpc, alb, spoofed) == "203.0.113.9"
    assert await _client_seen(vpc, alb, "10.40.0.99, 203.0.113.9") == "203.0.113.9"
    assert await _client_seen(vpc, web, "203.0.113.9") == "203.0.113.9"
    # From outside the VPC the header is ignored; and "*" (before) took the client's word.
    assert await _client_seen(vpc, "203.0.113.50", spoofed) == "203.0.113.50"
    assert await _client_seen("*", alb, spoofed) == "198.51.100.7"
