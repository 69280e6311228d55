from __future__ import annotations

from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis
from fastapi import FastAPI

from pricealert.queues import NOTIFY_QUEUE
from tests.api.conftest import ApiUser


async def _product(client: httpx.AsyncClient, user: ApiUser) -> str:
    response = await client.post(
        "/v1/products", json={"url": "https://shop.example/p/1"}, headers=user.auth
    )
    return str(response.json()["id"])


async def _channel(
    client: httpx.AsyncClient, user: ApiUser, kind: str, target: str
) -> dict[str, Any]:
    response = await client.post(
        "/v1/channels", json={"kind": kind, "target": target}, headers=user.auth
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_a_webhook_channel_gets_a_signing_secret_shown_once(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    created = await _channel(client, alice, "webhook", "https://hooks.example.com/in")
    assert created["secret"].startswith("whsec_")
    listed = (await client.get("/v1/channels", headers=alice.auth)).json()["items"]
    assert listed[0]["id"] == created["id"]
    assert "secret" not in listed[0]
    email = await _channel(client, alice, "email", "Me@Example.com")
    assert email["secret"] is None
    assert email["target"] == "me@example.com"


@pytest.mark.parametrize(
    ("kind", "target"),
    [
        ("email", "nope"),
        ("sms", "090-1234-5678"),
        ("sms", "+0123"),
        ("slack", "not a url"),
        ("webhook", "ftp://x.example/"),
        ("webhook", "https://u:p@x.example/"),
        ("pigeon", "https://x.example/"),
    ],
)
async def test_channel_targets_must_fit_their_kind(
    client: httpx.AsyncClient, alice: ApiUser, kind: str, target: str
) -> None:
    response = await client.post(
        "/v1/channels", json={"kind": kind, "target": target}, headers=alice.auth
    )
    assert response.status_code == 422


async def test_testing_a_channel_queues_a_delivery_that_shows_in_the_log(
    client: httpx.AsyncClient, alice: ApiUser, app: FastAPI
) -> None:
    channel = await _channel(client, alice, "slack", "https://hooks.slack.com/services/T/B/x")
    response = await client.post(f"/v1/channels/{channel['id']}/test", headers=alice.auth)
    assert response.status_code == 202
    notification_id = response.json()["notification_id"]
    redis: ArqRedis = app.state.redis
    assert await redis.zscore(NOTIFY_QUEUE, f"deliver:{notification_id}") is not None
    log = (await client.get("/v1/notifications", headers=alice.auth)).json()["items"]
    assert [(n["id"], n["status"], n["rule_kind"]) for n in log] == [
        (notification_id, "pending", "test")
    ]
    pending = await client.get("/v1/notifications", params={"status": "sent"}, headers=alice.auth)
    assert pending.json()["items"] == []


async def test_alert_lifecycle(client: httpx.AsyncClient, alice: ApiUser) -> None:
    product_id = await _product(client, alice)
    channel = await _channel(client, alice, "email", "a@example.com")
    created = await client.post(
        "/v1/alerts",
        json={
            "product_id": product_id,
            "kind": "below",
            "threshold": "1280",
            "channel_ids": [channel["id"]],
            "cooldown_seconds": 600,
        },
        headers=alice.auth,
    )
    assert created.status_code == 201, created.text
    alert = created.json()
    assert alert["threshold"] == "1280"
    assert alert["channel_ids"] == [channel["id"]]
    assert alert["product_id"] == product_id

    patched = await client.patch(
        f"/v1/alerts/{alert['id']}", json={"threshold": 999.5, "enabled": False}, headers=alice.auth
    )
    assert patched.status_code == 200
    assert patched.json()["threshold"] == "999.5"
    assert patched.json()["enabled"] is False
    listed = (await client.get("/v1/alerts", headers=alice.auth)).json()["items"]
    assert [a["id"] for a in listed] == [alert["id"]]
    assert (await client.delete(f"/v1/alerts/{alert['id']}", headers=alice.auth)).status_code == 204
    assert (await client.get(f"/v1/alerts/{alert['id']}", headers=alice.auth)).status_code == 404


@pytest.mark.parametrize(
    ("kind", "threshold", "fragment"),
    [
        ("below", None, "needs a threshold"),
        ("below", "-5", "greater than 0"),
        ("below", "abc", ""),
        ("below", "NaN", ""),
        ("below", "Infinity", ""),
        ("drop_percent", "0", "between 0 and 100"),
        ("drop_percent", "100", "between 0 and 100"),
        ("change", "5", "takes no threshold"),
        ("sideways", None, ""),
    ],
)
async def test_alert_thresholds_are_checked_against_the_kind(
    client: httpx.AsyncClient, alice: ApiUser, kind: str, threshold: str | None, fragment: str
) -> None:
    product_id = await _product(client, alice)
    channel = await _channel(client, alice, "email", "a@example.com")
    body: dict[str, object] = {
        "product_id": product_id,
        "kind": kind,
        "channel_ids": [channel["id"]],
    }
    if threshold is not None:
        body["threshold"] = threshold
    response = await client.post("/v1/alerts", json=body, headers=alice.auth)
    assert response.status_code == 422, response.text
    assert fragment in response.json()["detail"]


async def test_an_alert_cannot_use_another_users_channel_or_product(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser
) -> None:
    alice_product = await _product(client, alice)
    alice_channel = await _channel(client, alice, "email", "a@example.com")
    bob_product = await _product(client, bob)
    bob_channel = await _channel(client, bob, "email", "b@example.com")
    with_bobs_channel = await client.post(
        "/v1/alerts",
        json={"product_id": alice_product, "kind": "change", "channel_ids": [bob_channel["id"]]},
        headers=alice.auth,
    )
    assert with_bobs_channel.status_code == 422
    assert with_bobs_channel.json()["field"] == "channel_ids"
    on_bobs_product = await client.post(
        "/v1/alerts",
        json={"product_id": bob_product, "kind": "change", "channel_ids": [alice_channel["id"]]},
        headers=alice.auth,
    )
    assert on_bobs_product.status_code == 404
