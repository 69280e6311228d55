"""Email: a text part and an HTML part, sent by SMTP (aiosmtplib) or Amazon SES.

The HTML shows the price history as an inline PNG (drawn by
`pricealert.charts.price_chart_png`: the API's SVG chart rasterised, carried in the message as a
`multipart/related` part and referenced by `cid:`), followed by the same facts
as text. Inline SVG was dropped: Gmail and Outlook desktop strip it. A link to
the API's `chart.svg` was not an option either: it needs an API key, which a
mail client does not send. Nothing in the HTML depends on the picture, so a
reader who blocks images still gets every fact and link.

`Message-ID` is derived from the notification id, so a re-delivery after a
crash (at-least-once) is the same message to clients that dedupe on it.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from html import escape

import aiosmtplib

from pricealert.charts import EMAIL_HEIGHT, EMAIL_WIDTH
from services.notifier.channels import (
    Delivery,
    DeliveryFailed,
    PermanentFailure,
    TransientFailure,
)
from services.notifier.channels.aws import call, ses_client
from services.notifier.message import Message, render
from services.notifier.settings import NotifierSettings


def build_email(delivery: Delivery, settings: NotifierSettings) -> EmailMessage:
    """The MIME message (multipart/alternative: text, then HTML with its chart related)."""
    message = render(delivery.payload, settings.public_base_url)
    email = EmailMessage()
    email["Subject"] = message.subject
    email["From"] = settings.email_from
    email["To"] = delivery.target
    email["Date"] = formatdate(usegmt=True)
    domain = parseaddr(settings.email_from)[1].rpartition("@")[2] or "pricealert"
    email["Message-ID"] = f"<{delivery.notification_id}@{domain}>"
    email.set_content(message.text)
    chart_id = f"chart-{delivery.notification_id}@{domain}" if delivery.chart_png else None
    email.add_alternative(_html(message, chart_id), subtype="html")
    html_part = email.get_body(("html",))
    if delivery.chart_png and chart_id and isinstance(html_part, EmailMessage):
        html_part.add_related(
            delivery.chart_png, maintype="image", subtype="png", cid=f"<{chart_id}>",
            filename="price-history.png", disposition="inline",
        )  # fmt: skip
    return email


def _fact(line: str) -> str:
    """A line of the message; one that is a link (a sign-in link) is a link in HTML too."""
    if line.startswith(("https://", "http://")) and " " not in line:
        return f'<a href="{escape(line)}">{escape(line)}</a>'
    return escape(line)


def _html(message: Message, chart_id: str | None) -> str:
    facts = "".join(f"<li>{_fact(line)}</li>" for line in message.lines)
    links = []
    if message.product_url:
        links.append(f'<a href="{escape(message.product_url)}">Open the product page</a>')
    if message.history_url:
        links.append(f'<a href="{escape(message.history_url)}">Price history</a>')
    chart = (
        f'<div style="margin:12px 0"><img src="cid:{escape(chart_id)}" width="{EMAIL_WIDTH}" '
        f'height="{EMAIL_HEIGHT}" alt="Price history"></div>'
        if chart_id
        else ""
    )
    return (
        '<!doctype html><html><body style="font-family:sans-serif;color:#222">'
        f'<h2 style="font-size:18px">{escape(message.subject)}</h2>'
        f"{chart}<ul>{facts}</ul><p>{' · '.join(links)}</p>"
        f'<p style="color:#888;font-size:12px">{escape(message.footer)}</p>'
        "</body></html>"
    )


class EmailSender:
    def __init__(self, settings: NotifierSettings) -> None:
        self.settings = settings
        self._ses = (
            ses_client(region=settings.aws_region, endpoint_url=settings.ses_endpoint_url)
            if settings.email_backend == "ses"
            else None
        )

    async def send(self, delivery: Delivery) -> None:
        """Hand the email to SMTP or SES."""
        if "@" not in delivery.target:
            raise PermanentFailure(f"not an email address: {delivery.target!r}")
        email = build_email(delivery, self.settings)
        if self._ses is not None:
            await call(
                self._ses.send_raw_email,
                Source=self.settings.email_from,
                Destinations=[delivery.target],
                RawMessage={"Data": email.as_bytes()},
            )
            return
        await self._smtp(email)

    async def _smtp(self, email: EmailMessage) -> None:
        settings = self.settings
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        try:
            await aiosmtplib.send(
                email,
                hostname=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_username,
                password=password,
                use_tls=settings.smtp_tls,
                start_tls=settings.smtp_starttls,
                timeout=settings.smtp_timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise _by_code(min(r.code for r in exc.recipients), str(exc)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _by_code(exc.code, f"{exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise TransientFailure(f"SMTP: {type(exc).__name__}: {exc}") from exc


def _by_code(code: int, reason: str) -> DeliveryFailed:
    """SMTP replies: 4xx try again later, 5xx never."""
    if 400 <= code < 500:
        return TransientFailure(f"SMTP {reason}")
    return PermanentFailure(f"SMTP {reason}")
