"""The four services as real processes, and a real SMTP server: a stranger's address gets
nothing but a code, and an alert held for an unverified channel arrives once it is verified.

sign up → the code mailed by the notifier → verify the email → an email channel to another
address → its code → a price drop while it waits: the delivery is held → verify the channel
→ the held alert is delivered.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import redis as sync_redis

from pricealert_ops.devtools.shop import Shop
from pricealert_ops.devtools.stack import Api, Stack
from tests.e2e.conftest import E2E_REDIS_URL, eventually, product_page
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.slow

CODE = re.compile(r"code: ([0-9]{6})")


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    async with SmtpServer() as server:
        yield server


@pytest.fixture
async def mail_stack(
    fresh_database_url: str,
    e2e_redis: sync_redis.Redis,
    shop: Shop,
    smtp: SmtpServer,
    tmp_path: Path,
) -> AsyncIterator[Stack]:
    env = {"PRICEALERT_SMTP_HOST": smtp.host, "PRICEALERT_SMTP_PORT": str(smtp.port)}
    async with Stack(
        fresh_database_url, E2E_REDIS_URL, allowed_hosts=[shop.netloc()], env=env,
        log_dir=tmp_path,
    ) as running:  # fmt: skip
        yield running
    assert running.processes() == [], "the stack left processes behind"


def _text(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


async def _code_mailed_to(smtp: SmtpServer, address: str, already: int = 0) -> str:
    async def mailed() -> list[EmailMessage]:
        found = [e.message for e in smtp.envelopes if address in e.rcpt_tos]
        return found if len(found) > already else []

    emails = await eventually(mailed, f"a code mailed to {address}")
    match = CODE.search(_text(emails[-1]))
    assert match, _text(emails[-1])
    return match.group(1)


async def test_an_alert_held_for_an_unverified_email_channel_arrives_once_it_is_verified(
    mail_stack: Stack, shop: Shop, smtp: SmtpServer
) -> None:
    async with Api(mail_stack.api_url) as api:
        await api.sign_up("ada@example.com")
        code = await _code_mailed_to(smtp, "ada@example.com")
        me = await api.call("POST", "/v1/users/me/verify", {"code": code})
        assert me["email_verified_at"] is not None

        channel = await api.call(
            "POST", "/v1/channels", {"kind": "email", "target": "desk@example.com"}
        )
        assert channel["status"] == "pending_verification"
        channel_code = await _code_mailed_to(smtp, "desk@example.com")

        shop.serve("/p/lamp", product_page("Walnut desk lamp", "100.00"))
        product = await api.call(
            "POST", "/v1/products", {"url": shop.url("/p/lamp"), "check_interval_seconds": 3600}
        )

        async def first_price() -> bool:
            seen = await api.call("GET", f"/v1/products/{product['id']}")
            return bool(seen["price"] == "100.00")

        await eventually(first_price, "the first check to record 100.00 USD")
        await api.call(
            "POST",
            "/v1/alerts",
            {
                "product_id": product["id"],
                "kind": "below",
                "threshold": "90",
                "channel_ids": [channel["id"]],
            },
        )
        shop.serve("/p/lamp", product_page("Walnut desk lamp", "84.90"))
        await api.call("POST", f"/v1/products/{product['id']}/check")

        async def held() -> list[dict[str, Any]]:
            page = await api.call("GET", "/v1/notifications", None)
            return [n for n in page["items"] if n["status"] == "held"]

        [waiting] = await eventually(held, "the alert to be held for the unverified channel")
        assert [e.rcpt_tos for e in smtp.envelopes] == [["ada@example.com"], ["desk@example.com"]]

        verified = await api.call(
            "POST", f"/v1/channels/{channel['id']}/verify", {"code": channel_code}
        )
        assert (verified["status"], verified["released"]) == ("active", 1)

        async def sent() -> list[dict[str, Any]]:
            page = await api.call("GET", "/v1/notifications")
            return [n for n in page["items"] if n["status"] == "sent"]

        [delivered] = await eventually(sent, "the released alert to be sent")
    assert delivered["id"] == waiting["id"]
    alert = smtp.envelopes[-1]
    assert alert.rcpt_tos == ["desk@example.com"]
    assert "84.90 USD" in alert.message["Subject"]
