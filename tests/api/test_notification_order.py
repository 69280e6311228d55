"""The delivery log read as a log: newest first, a page at a time."""

from __future__ import annotations

import httpx

from tests.api.conftest import ApiUser


async def test_the_log_reads_newest_first_across_pages(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    channel = await client.post(
        "/v1/channels",
        json={"kind": "webhook", "target": "https://hooks.example.com/pa"},
        headers=alice.auth,
    )
    ids = []
    for _ in range(3):
        test = await client.post(f"/v1/channels/{channel.json()['id']}/test", headers=alice.auth)
        assert test.status_code == 202, test.text
        ids.append(test.json()["notification_id"])

    first = await client.get(
        "/v1/notifications", params={"order": "desc", "limit": 2}, headers=alice.auth
    )
    second = await client.get(
        "/v1/notifications",
        params={"order": "desc", "limit": 2, "cursor": first.json()["next_cursor"]},
        headers=alice.auth,
    )
    oldest_first = await client.get("/v1/notifications", headers=alice.auth)

    newest_first = [n["id"] for n in first.json()["items"] + second.json()["items"]]
    assert newest_first == ids[::-1]
    assert second.json()["next_cursor"] is None
    assert [n["id"] for n in oldest_first.json()["items"]] == ids
    bad = await client.get("/v1/notifications", params={"order": "up"}, headers=alice.auth)
    assert (bad.status_code, bad.json()["field"]) == (422, "order")
