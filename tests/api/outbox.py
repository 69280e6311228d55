"""The notifier's side of verification, in the test's process: run the token jobs the API
queued through the real senders (aiosmtpd for email, moto's SNS for SMS), and read the
codes back out of what was really sent.

    outbox = Outbox(app, smtp)
    await outbox.run()                       # every queued SendOneTimeToken job
    code = outbox.code_for("me@example.com") # from the last email to that address
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage

import httpx
import pytest
from arq.connections import ArqRedis
from fastapi import FastAPI
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends

from pricealert.http import GuardedClient
from pricealert.queues import NOTIFY_QUEUE
from services.api.main import create_app
from services.api.settings import ApiSettings
from services.notifier.channels import build_senders
from services.notifier.delivery import Attempt
from services.notifier.tokens import TokenSender
from tests.notifier.conftest import AWS_REGION, notifier_settings
from tests.support.aws import moto_aws
from tests.support.smtp import SmtpServer

CODE = re.compile(r"code: ([0-9]{6})")
TOKEN = re.compile(r"(pat_[0-9a-f]{32}[A-Za-z0-9_-]{43})")


def text_of(message: EmailMessage) -> str:
    """The plain-text part of an email."""
    part = message.get_body(("plain",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


class Outbox:
    def __init__(self, app: FastAPI, smtp: SmtpServer) -> None:
        self.app = app
        self.smtp = smtp
        self.settings = notifier_settings(smtp_host=smtp.host, smtp_port=smtp.port)
        self.client = GuardedClient.from_settings(self.settings)
        self.sender = TokenSender(
            app.state.sessionmaker, self.settings, build_senders(self.settings, self.client)
        )

    async def queued(self) -> list[uuid.UUID]:
        """The tokens whose message the API queued, as job ids on the notify queue."""
        redis: ArqRedis = self.app.state.redis
        members = await redis.zrange(NOTIFY_QUEUE, 0, -1)
        ids = [m.decode() for m in members]
        return [uuid.UUID(i.removeprefix("token:")) for i in ids if i.startswith("token:")]

    async def run(self) -> list[Attempt]:
        """Run every queued token job once (as the notifier would), then drop them."""
        redis: ArqRedis = self.app.state.redis
        attempts = []
        for token_id in await self.queued():
            attempts.append(await self.sender.send(token_id))
            await redis.zrem(NOTIFY_QUEUE, f"token:{token_id}")
        return attempts

    def emails_to(self, address: str) -> list[EmailMessage]:
        return [e.message for e in self.smtp.envelopes if address in e.rcpt_tos]

    def code_for(self, address: str) -> str:
        """The code in the last email or SMS to `address`."""
        if address.startswith("+"):
            texts = [text for number, text in self.sms() if number == address]
            assert texts, f"no SMS to {address}"
            match = CODE.search(texts[-1])
        else:
            emails = self.emails_to(address)
            assert emails, f"no email to {address}"
            match = CODE.search(text_of(emails[-1]))
        assert match, "no code in the message"
        return match.group(1)

    def token_for(self, address: str) -> str:
        """The recovery token in the last email to `address`."""
        match = TOKEN.search(text_of(self.emails_to(address)[-1]))
        assert match, "no token in the email"
        return match.group(1)

    def sms(self) -> list[tuple[str, str]]:
        """Every SMS moto's SNS took: (number, text)."""
        messages = sns_backends[DEFAULT_ACCOUNT_ID][AWS_REGION].sms_messages.values()
        return [(number, text) for number, text, *_ in messages]

    async def aclose(self) -> None:
        await self.client.aclose()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with moto_aws(monkeypatch, AWS_REGION):
        yield


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    async with SmtpServer() as server:
        yield server


@pytest.fixture
async def outbox(app: FastAPI, smtp: SmtpServer, aws: None) -> AsyncIterator[Outbox]:
    box = Outbox(app, smtp)
    yield box
    await box.aclose()


@pytest.fixture
async def committing_app(
    api_settings: ApiSettings, fresh_database_url: str
) -> AsyncIterator[FastAPI]:
    """The app on a database of its own, committing for real: for behaviour that depends on
    a unit of work committing while the request's own rolls back (savepoints of one test
    transaction would roll both back)."""
    application = create_app(api_settings.model_copy(update={"database_url": fresh_database_url}))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def committing_client(committing_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=committing_app, client=("203.0.113.8", 51000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
