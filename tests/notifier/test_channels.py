"""Email via a real SMTP server and SES (moto), SMS via SNS (moto), Slack via a receiver."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pricealert.charts import EMAIL_HEIGHT, EMAIL_WIDTH, EMAIL_ZOOM
from pricealert.models import Notification
from pricealert_ops.devtools.receiver import Receiver
from services.notifier.channels import PermanentFailure, TransientFailure
from services.notifier.channels.aws import call
from services.notifier.delivery import Notifier
from services.notifier.message import render, short_text
from tests import factories as make
from tests.factories import T0, pending
from tests.notifier.conftest import AWS_REGION, make_notifier, notifier_settings
from tests.support.smtp import SmtpServer


def alert_payload(watch_id: uuid.UUID, title: str = "Walnut desk lamp") -> dict[str, Any]:
    return {
        "type": "price.alert",
        "timestamp": "2026-11-01T13:00:00Z",
        "data": {
            "notification_id": str(uuid.uuid4()),
            "alert": {
                "id": str(uuid.uuid4()),
                "kind": "below",
                "threshold": "90",
                "reason": "price 89.50 USD is at or below 90",
            },
            "product": {"id": str(watch_id), "url": "https://shop.example/p/lamp", "title": title},
            "price": {
                "old": {"amount": "100", "currency": "USD"},
                "new": {"amount": "89.50", "currency": "USD"},
            },
            "in_stock": {"old": True, "new": True},
            "detected_at": "2026-11-01T13:00:00Z",
        },
    }


async def stored(sm: async_sessionmaker[AsyncSession], key: uuid.UUID) -> Notification:
    async with sm() as session:
        row = await session.get(Notification, key)
    assert row is not None
    return row


async def test_an_email_arrives_with_a_text_part_and_an_html_part_with_the_chart(
    db_session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    notifier: Notifier,
    smtp: SmtpServer,
) -> None:
    owner = await make.user(db_session)
    item = await make.product(db_session, "100", at=T0)
    await make.observe(db_session, item, "89.50", at=T0 + timedelta(hours=1))
    mail = await make.channel(db_session, owner, "email", "buyer@example.com")
    note = await pending(
        db_session, mail, owner, alert_payload(uuid.uuid4()), product_id=item.id, rule_kind="below"
    )

    assert (await notifier.deliver(note.id)).outcome == "sent"

    [envelope] = smtp.envelopes
    assert envelope.rcpt_tos == ["buyer@example.com"]
    message = envelope.message
    assert message["Subject"] == "Walnut desk lamp is now 89.50 USD (your target: 90 or less)"
    assert message["Message-ID"] == f"<{note.id}@pricealert.example>"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    assert "Now: 89.50 USD (in stock)" in text.get_content()
    assert "Before: 100 USD" in text.get_content()
    assert "https://shop.example/p/lamp" in text.get_content()
    assert "Walnut desk lamp is now 89.50 USD" in html.get_content()
    # The chart is an inline PNG the HTML points at (Gmail and Outlook strip inline SVG).
    [image] = [part for part in message.walk() if part.get_content_type() == "image/png"]
    cid = image["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html.get_content()
    png = image.get_content()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    # The API's chart, rasterised at twice the size the HTML shows it.
    size = (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big"))
    assert size == (EMAIL_WIDTH * EMAIL_ZOOM, EMAIL_HEIGHT * EMAIL_ZOOM)
    assert f'width="{EMAIL_WIDTH}" height="{EMAIL_HEIGHT}"' in html.get_content()


async def test_an_email_without_history_has_no_chart(
    db_session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    notifier: Notifier,
    smtp: SmtpServer,
) -> None:
    owner = await make.user(db_session)
    mail = await make.channel(db_session, owner, "email", "buyer@example.com")
    note = await pending(db_session, mail, owner)  # a channel test: no product

    assert (await notifier.deliver(note.id)).outcome == "sent"

    [envelope] = smtp.envelopes
    html = envelope.message.get_body(("html",))
    assert html is not None
    assert "cid:" not in html.get_content()
    assert not [p for p in envelope.message.walk() if p.get_content_maintype() == "image"]


async def test_smtp_4xx_retries_and_5xx_fails(
    db_session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    notifier: Notifier,
    smtp: SmtpServer,
) -> None:
    owner = await make.user(db_session)
    mail = await make.channel(db_session, owner, "email", "buyer@example.com")
    later = await pending(db_session, mail, owner)
    never = await pending(db_session, mail, owner)

    smtp.reply = "451 4.3.0 Try again later"
    assert (await notifier.deliver(later.id)).outcome == "retry"
    smtp.reply = "554 5.7.1 Message rejected"
    assert (await notifier.deliver(never.id)).outcome == "failed"

    assert (await stored(sessionmaker, never.id)).last_error == "SMTP 554 5.7.1 Message rejected"
    assert smtp.envelopes == []


async def test_an_unreachable_smtp_server_is_a_transient_failure(
    db_session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    owner = await make.user(db_session)
    mail = await make.channel(db_session, owner, "email", "buyer@example.com")
    note = await pending(db_session, mail, owner)
    async with SmtpServer() as closed_soon:
        port = closed_soon.port  # free once the server is gone
    nobody, client = make_notifier(
        sessionmaker, notifier_settings(smtp_port=port, smtp_timeout_seconds=2)
    )
    try:
        assert (await nobody.deliver(note.id)).outcome == "retry"
    finally:
        await client.aclose()


async def test_email_through_ses_is_sent_as_the_same_mime_message(
    db_session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], aws: None
) -> None:
    import boto3

    boto3.client("ses", region_name=AWS_REGION).verify_email_identity(
        EmailAddress="alerts@pricealert.example"
    )
    owner = await make.user(db_session)
    mail = await make.channel(db_session, owner, "email", "buyer@example.com")
    note = await pending(db_session, mail, owner, alert_payload(uuid.uuid4()))
    ses, client = make_notifier(sessionmaker, notifier_settings(email_backend="ses"))
    try:
        assert (await ses.deliver(note.id)).outcome == "sent"
    finally:
        await client.aclose()

    [raw] = ses_backends[DEFAULT_ACCOUNT_ID][AWS_REGION].sent_messages
    assert "buyer@example.com" in raw.destinations
    assert "Content-Type: text/html" in raw.raw_data
    assert "Walnut desk lamp is now 89.50 USD" in raw.raw_data


async def test_ses_refusing_an_unverified_sender_fails_the_notification(
    db_session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], aws: None
) -> None:
    owner = await make.user(db_session)
    mail = await make.channel(db_session, owner, "email", "buyer@example.com")
    note = await pending(db_session, mail, owner)
    ses, client = make_notifier(sessionmaker, notifier_settings(email_backend="ses"))
    try:
        assert (await ses.deliver(note.id)).outcome == "failed"
    finally:
        await client.aclose()
    assert (await stored(sessionmaker, note.id)).last_error.startswith("MessageRejected")  # type: ignore[union-attr]


async def test_an_sms_goes_to_the_number_through_sns_in_one_segment(
    db_session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], aws: None
) -> None:
    owner = await make.user(db_session)
    phone = await make.channel(db_session, owner, "sms", "+819012345678")
    note = await pending(db_session, phone, owner, alert_payload(uuid.uuid4()))
    sms, client = make_notifier(sessionmaker, notifier_settings())
    try:
        assert (await sms.deliver(note.id)).outcome == "sent"
    finally:
        await client.aclose()

    [(number, text)] = sns_backends[DEFAULT_ACCOUNT_ID][AWS_REGION].sms_messages.values()
    assert number == "+819012345678"
    assert text.startswith("PriceAlert: Walnut desk lamp is now 89.50 USD")
    assert len(text) <= 160


async def test_an_sms_to_a_number_that_is_not_e164_fails(
    db_session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], aws: None
) -> None:
    owner = await make.user(db_session)
    phone = await make.channel(db_session, owner, "sms", "090-1234-5678")
    note = await pending(db_session, phone, owner)
    sms, client = make_notifier(sessionmaker, notifier_settings())
    try:
        assert (await sms.deliver(note.id)).outcome == "failed"
    finally:
        await client.aclose()
    assert (
        await stored(sessionmaker, note.id)
    ).last_error == "not an E.164 phone number: '090-1234-5678'"


async def test_aws_errors_about_the_target_are_permanent_and_throttling_is_transient() -> None:
    def refusing(code: str) -> Any:
        def publish(**_kwargs: Any) -> None:
            raise ClientError({"Error": {"Code": code, "Message": "nope"}}, "Publish")

        return publish

    with pytest.raises(PermanentFailure, match="InvalidParameter: nope"):
        await call(refusing("InvalidParameter"))
    with pytest.raises(TransientFailure, match="Throttling"):
        await call(refusing("Throttling"))


def test_a_long_title_still_fits_one_sms_segment() -> None:
    text = short_text(render(alert_payload(uuid.uuid4(), title="Lamp " * 60), "https://api.test"))
    assert len(text) == 160
    assert text.endswith("...")


async def test_slack_gets_a_readable_message_with_links(
    db_session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    notifier: Notifier,
    receiver: Receiver,
) -> None:
    owner = await make.user(db_session)
    slack = await make.channel(db_session, owner, "slack", receiver.url)
    watch_id = uuid.uuid4()
    note = await pending(db_session, slack, owner, alert_payload(watch_id))

    assert (await notifier.deliver(note.id)).outcome == "sent"

    [got] = receiver.received
    body = got.json
    assert body["text"] == "Walnut desk lamp is now 89.50 USD (your target: 90 or less)"
    headline = body["blocks"][0]["text"]["text"]
    subject = "Walnut desk lamp is now 89.50 USD (your target: 90 or less)"
    assert headline == f"*<https://shop.example/p/lamp|{subject}>*"
    assert f"https://api.pricealert.test/v1/products/{watch_id}/prices" in str(body["blocks"])
    assert "Now: 89.50 USD (in stock)" in body["blocks"][1]["text"]["text"]
    assert (await stored(sessionmaker, note.id)).status == "sent"


def _with_stock(payload: dict[str, Any], old: str | None, new: str | None) -> dict[str, Any]:
    payload["data"]["alert"].update(kind="back_in_stock", threshold=None)
    payload["data"]["in_stock"] = {"old": False, "new": True}
    payload["data"]["availability"] = {"old": old, "new": new}
    return payload


def test_a_message_says_the_availability_and_what_it_was() -> None:
    message = render(_with_stock(alert_payload(uuid.uuid4()), "PreOrder", "LimitedAvailability"),
                     "https://api.test")  # fmt: skip
    assert message.subject == "Walnut desk lamp is back in stock (89.50 USD)"
    assert "Now: 89.50 USD (in stock, limited availability)" in message.lines
    assert "Before: 100 USD (pre-order)" in message.lines


def test_a_payload_stored_before_availability_existed_still_reads_from_in_stock() -> None:
    payload = alert_payload(uuid.uuid4())
    payload["data"]["in_stock"] = {"old": False, "new": True}
    assert "availability" not in payload["data"]
    message = render(payload, "https://api.test")
    assert "Now: 89.50 USD (in stock)" in message.lines
    assert "Before: 100 USD (out of stock)" in message.lines


def test_an_unknown_stock_is_said_as_unknown_now_and_left_out_before() -> None:
    payload = _with_stock(alert_payload(uuid.uuid4()), None, None)
    payload["data"]["in_stock"] = {"old": None, "new": None}
    message = render(payload, "https://api.test")
    assert "Now: 89.50 USD (unknown)" in message.lines
    assert "Before: 100 USD" in message.lines
