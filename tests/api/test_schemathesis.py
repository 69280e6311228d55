"""schemathesis against the app's own OpenAPI, in-process: no server errors, and every
response conforms to the documented status codes, content types and schemas."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.api.main import create_app
from services.api.settings import ApiSettings

CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

#: Operations that fetch a shop page: a shop that fails is their documented 502/504.
FETCHING = frozenset({"/v1/products/preview"})


@schemathesis.check
def not_an_unexpected_server_error(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case[Any]
) -> bool | None:
    """A 5xx only where the operation documents it (a fetched shop's 502 and 504)."""
    assert response.status_code in (502, 504) or response.status_code < 500, (
        f"{case.operation.label} answered {response.status_code}"
    )
    return None


def _checks(path: str) -> list[Any]:
    if path in FETCHING:
        return [not_an_unexpected_server_error, *CHECKS[1:]]
    return CHECKS


@pytest.fixture(scope="module")
def fuzzed_app(template_database: str) -> Iterator[dict[str, Any]]:
    from tests.conftest import REDIS_BASE, async_url, clone_database, drop_database

    name = f"{template_database}_fuzz"
    clone_database(template_database, name)
    application = create_app(
        ApiSettings(
            environment="test",
            database_url=async_url(name),
            redis_url=f"{REDIS_BASE}/2",
            rate_limit_per_minute=1_000_000,
            signup_limit_per_hour=1_000_000,
        )
    )
    # The test client runs the app (and its lifespan) in a thread of its own.
    with asgi.get_client(application) as client:  # type: ignore[arg-type]
        signed_up = client.post("/v1/users", json={"email": "fuzz@example.com"})
        assert signed_up.status_code == 201, signed_up.text
        key = signed_up.json()["api_key"]
        product = client.post(
            "/v1/products",
            json={"url": "https://shop.example/fuzz"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert product.status_code == 201
        yield {"app": application, "client": client, "key": key}
    drop_database(name)


def _operations() -> list[Any]:
    # Operations are read from the app's own document; no database is needed for that.
    loaded = schemathesis.openapi.from_asgi("/openapi.json", create_app(ApiSettings()))
    return [result.ok() for result in loaded.get_all_operations()]  # type: ignore[union-attr]


OPERATIONS = _operations()


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_the_api_honours_its_openapi(operation: Any, fuzzed_app: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {fuzzed_app['key']}"}
    live = schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app["app"])
    target = live[operation.path][operation.method.upper()]

    @given(case=target.as_strategy())
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    def fuzz(case: schemathesis.Case[Any]) -> None:
        checks = _checks(operation.path)
        case.call_and_validate(session=fuzzed_app["client"], headers=headers, checks=checks)

    fuzz()
