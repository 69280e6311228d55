"""A real SMTP server (aiosmtpd) in the test's own event loop, on 127.0.0.1 and a free port.

async with SmtpServer() as smtp:
    settings = NotifierSettings(smtp_host=smtp.host, smtp_port=smtp.port)
    ...
    message = smtp.messages[0]               # email.message.EmailMessage, parsed
    smtp.reply = "451 4.3.0 try again later"   # make the next DATA fail
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from types import TracebackType
from typing import Any

from aiosmtpd.smtp import SMTP


@dataclass(frozen=True)
class Envelope:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


class SmtpServer:
    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.envelopes: list[Envelope] = []
        #: When set, DATA is answered with this line instead of accepting the message.
        self.reply: str | None = None
        self._server: asyncio.Server | None = None

    @property
    def messages(self) -> list[EmailMessage]:
        return [e.message for e in self.envelopes]

    async def __aenter__(self) -> SmtpServer:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self, hostname="smtp.test", loop=loop), self.host, 0
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reply is not None:
            return self.reply
        message = message_from_bytes(
            envelope.original_content or envelope.content, policy=policy.default
        )
        assert isinstance(message, EmailMessage)
        self.envelopes.append(Envelope(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"
