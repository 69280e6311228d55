"""A catch-all SMTP server on loopback (aiosmtpd) for the demo: the notifier's mail to
anyone lands here, and the demo reads sign-in links and codes out of it.

    async with Mailbox() as mailbox:             # mailbox.port: an OS-assigned port
        ...PRICEALERT_SMTP_PORT=mailbox.port...
        link = await mailbox.wait_for(SIGN_IN_LINK, "demo@pricealert.example")
"""

from __future__ import annotations

import asyncio
import re
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, Final, Self

from aiosmtpd.smtp import SMTP

SIGN_IN_LINK: Final = re.compile(r"(https?://\S+/sign-in/confirm\?token=pat_[0-9a-f]{32}[\w-]{43})")
CODE: Final = re.compile(r"code: ([0-9]{6})")


class Mailbox:
    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.received: list[tuple[list[str], EmailMessage]] = []
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Self:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self, hostname="demo.mailbox", loop=loop), self.host, 0
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(
            envelope.original_content or envelope.content, policy=policy.default
        )
        if isinstance(message, EmailMessage):
            self.received.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    async def wait_for(
        self, pattern: re.Pattern[str], address: str, *, after: int = 0, within: float = 30.0
    ) -> str:
        """The first match of `pattern` in a plain-text mail to `address` (past the first
        `after` mails to it); TimeoutError after `within` seconds."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            mails = [m for rcpt, m in self.received if address in rcpt][after:]
            for mail in mails:
                body = mail.get_body(("plain",))
                if isinstance(body, EmailMessage):
                    match = pattern.search(str(body.get_content()))
                    if match:
                        return match.group(1)
            await asyncio.sleep(0.1)
        raise TimeoutError(f"no mail to {address} matching {pattern.pattern} in {within:.0f} s")

    def count(self, address: str) -> int:
        return sum(1 for rcpt, _ in self.received if address in rcpt)
