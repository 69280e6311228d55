"""The four services as real processes: a price drop becomes exactly one signed webhook.

Everything is real: uvicorn and three arq workers under the supervisor, a fresh
PostgreSQL database, Redis, a shop and a receiver on loopback. Checks are
triggered through the API (`POST /v1/products/{id}/check`) so that nothing
waits for the product's interval.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis as sync_redis

from pricealert.queues import ALL_QUEUES
from pricealert_ops.devtools.receiver import Received, Receiver
from pricealert_ops.devtools.shop import Page, Shop
from pricealert_ops.devtools.stack import Api, Stack
from tests.e2e.conftest import eventually, product_page

pytestmark = pytest.mark.slow


async def watch_lamp_below(api: Api, shop: Shop, receiver: Receiver, threshold: str) -> str:
    """Sign up, add a webhook channel and the lamp at 100.00 USD, then a `below` rule; its id."""
    shop.serve("/p/lamp", product_page("Walnut desk lamp", "100.00"))
    await api.sign_up("ada@example.com")
    channel = await api.call("POST", "/v1/channels", {"kind": "webhook", "target": receiver.url})
    receiver.secret = channel["secret"]
    product = await api.call(
        "POST", "/v1/products", {"url": shop.url("/p/lamp"), "check_interval_seconds": 3600}
    )

    async def first_price() -> Any:
        seen = await api.call("GET", f"/v1/products/{product['id']}")
        return seen["price"] == "100.00"

    await eventually(first_price, "the first check to record 100.00 USD")
    await api.call(
        "POST",
        "/v1/alerts",
        {
            "product_id": product["id"],
            "kind": "below",
            "threshold": threshold,
            "channel_ids": [channel["id"]],
        },
    )
    return str(product["id"])


async def notifications(api: Api) -> list[dict[str, Any]]:
    page = await api.call("GET", "/v1/notifications")
    return list(page["items"])


async def all_sent(api: Api) -> list[dict[str, Any]] | None:
    found = await notifications(api)
    return found if found and all(n["status"] == "sent" for n in found) else None


def queues_empty(redis: sync_redis.Redis) -> bool:
    return all(redis.zcard(queue) == 0 for queue in ALL_QUEUES)


async def test_a_drop_below_the_threshold_sends_exactly_one_signed_webhook(
    stack: Stack, api: Api, shop: Shop, receiver: Receiver, e2e_redis: sync_redis.Redis
) -> None:
    product_id = await watch_lamp_below(api, shop, receiver, "90.00")

    shop.serve("/p/lamp", product_page("Walnut desk lamp", "84.90"))
    await api.call("POST", f"/v1/products/{product_id}/check")

    async def delivered() -> list[Received]:
        return receiver.received

    [webhook] = await eventually(delivered, "the webhook of the drop to 84.90")
    assert webhook.signature_valid
    body = webhook.json
    assert body["type"] == "price.alert"
    assert body["data"]["product"]["id"] == product_id
    assert body["data"]["product"]["url"] == shop.url("/p/lamp")
    assert body["data"]["alert"]["kind"] == "below"
    assert body["data"]["price"] == {
        "old": {"amount": "100.00", "currency": "USD"},
        "new": {"amount": "84.90", "currency": "USD"},
    }

    # The same price again is no news: the check completes and nothing follows it.
    before = (await api.call("GET", f"/v1/products/{product_id}"))["last_checked_at"]
    await api.call("POST", f"/v1/products/{product_id}/check")

    async def rechecked() -> bool:
        seen = await api.call("GET", f"/v1/products/{product_id}")
        return bool(seen["last_checked_at"] != before and seen["price"] == "84.90")

    await eventually(rechecked, "the second check of the unchanged price")
    [record] = await eventually(lambda: all_sent(api), "the delivery log to show it sent")

    async def settled() -> bool:
        return queues_empty(e2e_redis)

    await eventually(settled, "the queues to drain")
    assert len(receiver.received) == 1
    assert record["channel_kind"] == "webhook"
    assert record["rule_kind"] == "below"
    assert record["attempts"] == 1
    assert webhook.headers["webhook-id"] == record["id"]


async def test_a_notifier_killed_mid_delivery_and_a_flushed_redis_still_deliver_once_in_the_record(
    stack: Stack, api: Api, shop: Shop, receiver: Receiver, e2e_redis: sync_redis.Redis
) -> None:
    product_id = await watch_lamp_below(api, shop, receiver, "90.00")
    # The first attempt hangs (the notifier dies waiting); later ones are answered at once.
    receiver.answer(Page(status=200, delay=30), Page(status=204))
    shop.serve("/p/lamp", product_page("Walnut desk lamp", "84.90"))
    await api.call("POST", f"/v1/products/{product_id}/check")

    async def first_attempt() -> list[Received]:
        return receiver.received

    await eventually(first_attempt, "the first delivery attempt")
    killed = stack.kill("notifier")
    e2e_redis.flushdb()  # every job in flight is gone; PostgreSQL still knows

    [record] = await eventually(
        lambda: all_sent(api), "the sweeper to re-issue the delivery", within=90
    )
    await stack.wait_ready({"notifier": 2})  # the supervisor brought a new one up
    assert killed not in [c.pid for c in stack.children()]
    assert record["attempts"] == 2
    assert len(receiver.received) >= 2  # at-least-once to the receiver...
    assert {r.headers["webhook-id"] for r in receiver.received} == {record["id"]}  # ...one id
    assert all(r.signature_valid for r in receiver.received)
    assert receiver.received[-1].json["data"]["price"]["new"] == {
        "amount": "84.90",
        "currency": "USD",
    }
