"""URLs that can never be fetched or delivered to are refused at creation, with the guard's
reason; Slack channels point at Slack."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.api.conftest import ApiUser


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "not a public address (cloud metadata)"),
        ("http://10.0.0.1/item", "not a public address (private)"),
        ("http://127.0.0.1:8080/", "not a public address (loopback)"),
        ("http://[fe80::1]/", "not a public address (link-local)"),
        ("http://2130706433/", "non-canonical spelling"),
        ("http://0x7f.1/", "non-canonical spelling"),
        ("http://[::ffff:127.0.0.1]/", "not a public address (IPv4-mapped)"),
        ("http://localhost/", "loopback"),
        ("http://shop.example:6379/", "port 6379 is Redis"),
    ],
)
async def test_a_product_url_that_can_never_be_fetched_is_refused_with_the_reason(
    client: httpx.AsyncClient, alice: ApiUser, url: str, reason: str
) -> None:
    response = await client.post("/v1/products", json={"url": url}, headers=alice.auth)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert reason in problem["detail"]
    assert problem["detail"].startswith("this URL can never be fetched: ")
    assert problem["field"] == "url"
    listed = await client.get("/v1/products", headers=alice.auth)
    assert listed.json()["items"] == []


async def test_allowed_hosts_let_a_local_shop_be_watched(
    app: FastAPI, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    app.state.settings.fetch_allowed_hosts = ["127.0.0.1:8080"]
    response = await client.post(
        "/v1/products", json={"url": "http://127.0.0.1:8080/p/1"}, headers=alice.auth
    )
    assert response.status_code == 201, response.text
    elsewhere = await client.post(
        "/v1/products", json={"url": "http://127.0.0.1:8081/p/1"}, headers=alice.auth
    )
    assert elsewhere.status_code == 422


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/hook",
        "http://192.168.1.10/hook",
        "http://0x7f.1/hook",
        "https://hooks.example:22/hook",
    ],
)
async def test_a_webhook_the_guard_would_refuse_at_delivery_is_refused_at_creation(
    client: httpx.AsyncClient, alice: ApiUser, target: str
) -> None:
    response = await client.post(
        "/v1/channels", json={"kind": "webhook", "target": target}, headers=alice.auth
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("target can never be delivered to: ")
    assert response.json()["field"] == "target"


@pytest.mark.parametrize(
    "target",
    [
        "https://hooks.slack.com/services/T000/B000/XXXX",
        "https://hooks.slack.com/workflows/T000/A000/123/abc",
        "https://hooks.slack.com/triggers/T000/123/abc",
        "https://hooks.slack-gov.com/services/T000/B000/XXXX",
    ],
)
async def test_slack_channels_accept_slacks_webhook_urls(
    client: httpx.AsyncClient, alice: ApiUser, target: str
) -> None:
    response = await client.post(
        "/v1/channels", json={"kind": "slack", "target": target}, headers=alice.auth
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "active"


@pytest.mark.parametrize(
    "target",
    [
        "https://hooks.example.com/services/T/B/x",  # not Slack
        "http://hooks.slack.com/services/T/B/x",  # not https
        "https://hooks.slack.com:8443/services/T/B/x",
        "https://hooks.slack.com/api/chat.postMessage",  # not a webhook path
        "https://evil.example/?https://hooks.slack.com/services/T/B/x",
        "https://hooks.slack.com.evil.example/services/T/B/x",
    ],
)
async def test_slack_channels_refuse_anything_else(
    client: httpx.AsyncClient, alice: ApiUser, target: str
) -> None:
    response = await client.post(
        "/v1/channels", json={"kind": "slack", "target": target}, headers=alice.auth
    )
    assert response.status_code == 422, response.text
    assert "Slack incoming-webhook URL" in response.json()["detail"]


async def test_an_allowlisted_host_may_stand_in_for_slack(
    app: FastAPI, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    app.state.settings.fetch_allowed_hosts = ["127.0.0.1"]
    response = await client.post(
        "/v1/channels",
        json={"kind": "slack", "target": "http://127.0.0.1:9000/services/T/B/x"},
        headers=alice.auth,
    )
    assert response.status_code == 201, response.text
