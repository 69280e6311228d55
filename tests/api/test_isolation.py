"""Generated over every route with a path id: another user's objects are 404, never 403."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

from tests.api.conftest import ApiUser

_SAMPLE_BODIES = {
    ("PATCH", "/v1/products/{product_id}"): {"check_interval_seconds": 3600},
    ("PATCH", "/v1/alerts/{alert_id}"): {"enabled": False},
    ("POST", "/v1/channels/{channel_id}/verify"): {"code": "123456"},
}


async def _objects_of(client: httpx.AsyncClient, user: ApiUser) -> dict[str, str]:
    product = await client.post(
        "/v1/products", json={"url": "https://shop.example/p/isolated"}, headers=user.auth
    )
    channel = await client.post(
        "/v1/channels", json={"kind": "webhook", "target": "https://h.example/x"}, headers=user.auth
    )
    alert = await client.post(
        "/v1/alerts",
        json={
            "product_id": product.json()["id"],
            "kind": "change",
            "channel_ids": [channel.json()["id"]],
        },
        headers=user.auth,
    )
    key = await client.post("/v1/api-keys", json={"name": "second"}, headers=user.auth)
    return {
        "product_id": product.json()["id"],
        "channel_id": channel.json()["id"],
        "alert_id": alert.json()["id"],
        "key_id": key.json()["id"],
    }


async def test_every_route_with_a_path_id_hides_other_users_objects(
    app: FastAPI, client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser
) -> None:
    alices = await _objects_of(client, alice)
    checked: list[str] = []
    # The OpenAPI document lists every route, however routers are nested.
    for template, operations in app.openapi()["paths"].items():
        if "{" not in template or not template.startswith("/v1/"):
            continue  # /problems/{code} is public documentation
        params = re.findall(r"{(\w+)}", template)
        assert set(params) <= set(alices), f"no object of alice's for {template}: add one"
        path = template.format(**alices)
        for method in sorted(m.upper() for m in operations):
            body = _SAMPLE_BODIES.get((method, template))
            response = await client.request(method, path, json=body, headers=bob.auth)
            assert response.status_code == 404, f"{method} {template}: {response.status_code}"
            assert response.headers["content-type"] == "application/problem+json"
            checked.append(f"{method} {template}")
    assert len(checked) >= 12
    for path in ("/v1/products/{product_id}", "/v1/alerts/{alert_id}"):
        assert (await client.get(path.format(**alices), headers=alice.auth)).status_code == 200
