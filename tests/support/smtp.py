"""A real SMTP server (aiosmtpd) in the test's own event loop, on 127.0.0.1 and a free port:
the demo's catch-all `Mailbox`, which can also refuse mail and keeps each sender.

async with SmtpServer() as smtp:
    settings = NotifierSettings(smtp_host=smtp.host, smtp_port=smtp.port)
    ...
    message = smtp.messages[0]               # email.message.EmailMessage, parsed
    smtp.reply = "451 4.3.0 try again later"   # make the next DATA fail
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from pricealert_ops.devtools.mailbox import Mailbox


@dataclass(frozen=True)
class Envelope:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


class SmtpServer(Mailbox):
    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[Envelope] = []
        #: When set, DATA is answered with this line instead of accepting the message.
        self.reply: str | None = None

    @property
    def messages(self) -> list[EmailMessage]:
        return [e.message for e in self.envelopes]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reply is not None:
            return self.reply
        kept = len(self.received)
        answer = await super().handle_DATA(server, session, envelope)
        assert len(self.received) == kept + 1, "a message that does not parse"
        rcpt_tos, message = self.received[-1]
        self.envelopes.append(Envelope(envelope.mail_from, rcpt_tos, message))
        return answer
