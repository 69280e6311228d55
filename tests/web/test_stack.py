"""The whole stack as real processes (the supervisor `make run` uses: API, web UI, scraper,
evaluator, notifier), a loopback shop, a signed-webhook receiver and a real SMTP server,
driven from Debian's chromium as a person would: sign in by the emailed link, add the
shop's product, add a webhook and an alert, and watch the alert arrive in the activity
log when the price drops — without reloading (the page fetches new rows itself).

With PRICEALERT_WEB_SCREENSHOTS=DIR set (`make web-screenshots`), the main pages are
photographed into DIR for the README."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis as sync_redis
from playwright.async_api import Browser, expect
from playwright.async_api import Page as BrowserPage

from pricealert_ops.devtools.receiver import Receiver
from pricealert_ops.devtools.shop import Shop
from pricealert_ops.devtools.stack import Stack
from tests.conftest import REDIS_BASE
from tests.e2e.conftest import product_page
from tests.support.smtp import SmtpServer
from tests.web.conftest import LINK, Console, _text

pytestmark = [pytest.mark.slow, pytest.mark.browser]

WEB_REDIS_URL = f"{REDIS_BASE}/5"
SCREENSHOTS = os.environ.get("PRICEALERT_WEB_SCREENSHOTS")


@pytest.fixture
async def stack_parts() -> AsyncIterator[tuple[Shop, Receiver, SmtpServer]]:
    async with Shop(record=False) as shop, Receiver() as receiver, SmtpServer() as smtp:
        await shop.listen("127.0.0.1")
        await receiver.start()
        yield shop, receiver, smtp


@pytest.fixture
async def stack(
    fresh_database_url: str, stack_parts: tuple[Shop, Receiver, SmtpServer], tmp_path: Path
) -> AsyncIterator[Stack]:
    shop, receiver, smtp = stack_parts
    client = sync_redis.Redis.from_url(WEB_REDIS_URL)
    client.flushdb()
    env = {"PRICEALERT_SMTP_HOST": smtp.host, "PRICEALERT_SMTP_PORT": str(smtp.port)}
    try:
        async with Stack(
            fresh_database_url, WEB_REDIS_URL, allowed_hosts=[shop.netloc(), receiver.netloc],
            env=env, log_dir=tmp_path,
        ) as running:  # fmt: skip
            try:
                yield running
            finally:
                # Shown by pytest only when the test fails: what the services said.
                print(f"--- the stack's log ({running.log_path}), last lines:")
                print(running.log_tail(120))
        assert running.processes() == [], "the stack left processes behind"
    finally:
        client.flushdb()
        client.close()


async def _link_mailed_to(smtp: SmtpServer, address: str) -> str:
    for _ in range(300):
        mails = [e.message for e in smtp.envelopes if address in e.rcpt_tos]
        if mails and (match := LINK.search(_text(mails[-1]))):
            return match.group(1)
        await asyncio.sleep(0.1)
    pytest.fail(f"no sign-in link mailed to {address}")


async def _shoot(page: BrowserPage, name: str) -> None:
    """A screenshot for the README (Playwright makes the directory)."""
    if SCREENSHOTS:
        await page.screenshot(path=f"{SCREENSHOTS}/{name}.png", full_page=True)


async def test_a_price_drop_arrives_in_the_activity_log_of_a_person_signed_in_by_email(
    stack: Stack,
    stack_parts: tuple[Shop, Receiver, SmtpServer],
    browser: Browser,
    console: Console,
) -> None:
    shop, receiver, smtp = stack_parts
    shop.serve("/p/lamp", product_page("Walnut desk lamp", "100.00"))
    context = await browser.new_context(
        locale="en-US", timezone_id="Asia/Tokyo", viewport={"width": 1100, "height": 800}
    )
    page = await context.new_page()
    page.on("response", console.response)
    page.on("console", console.record)
    page.on("pageerror", lambda error: console.errors.append(str(error)))
    page.on("dialog", lambda dialog: dialog.accept())
    web = stack.web_url

    # Sign in by the link the notifier mailed.
    await page.goto(f"{web}/")
    await _shoot(page, "sign-in")
    await page.get_by_label("Email address").fill("ada@example.com")
    await page.get_by_role("button", name="Email me a sign-in link").click()
    await expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    link = await _link_mailed_to(smtp, "ada@example.com")
    assert link.startswith(f"{web}/sign-in/confirm?token=")
    await page.goto(link)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Products")).to_be_visible()

    # Add the shop's product after seeing what PriceAlert reads.
    await page.get_by_role("link", name="Add a product").click()
    await page.get_by_label("Product page URL").fill(shop.url("/p/lamp"))
    await page.get_by_role("button", name="Read the page").click()
    await expect(page.get_by_test_id("preview-price")).to_have_text("$100.00")
    await _shoot(page, "add-product")
    await page.get_by_role("button", name="Watch this product").click()
    await expect(page.get_by_role("status")).to_contain_text("The product is watched")
    product_url = page.url.split("?")[0]
    for _ in range(100):  # the first check: the scraper works, the page shows it on reload
        if await page.get_by_test_id("current-price").inner_text() == "$100.00":
            break
        await page.wait_for_timeout(300)
        await page.goto(product_url)
    await expect(page.get_by_test_id("current-price")).to_have_text("$100.00")

    # A signed webhook (its secret, shown once, goes to the receiver) and an alert.
    await page.get_by_role("link", name="Channels").click()
    await page.get_by_label("Kind").select_option("webhook")
    await page.get_by_label("Address, number or URL").fill(receiver.url)
    await page.get_by_role("button", name="Add channel").click()
    receiver.secret = await page.get_by_test_id("webhook-secret").input_value()
    await page.goto(product_url)
    await page.get_by_label("When").select_option("below")
    await page.get_by_label("Threshold").fill("90")
    await page.get_by_role("button", name="Set alert").click()
    await expect(page.get_by_role("status")).to_contain_text("The alert is set")

    # The activity page is open when the price drops: the alert appears on it by itself.
    await page.get_by_role("link", name="Activity").click()
    await expect(page.locator("tbody")).to_contain_text("Nothing yet")
    shop.serve("/p/lamp", product_page("Walnut desk lamp", "84.90"))
    check = await context.new_page()  # "Check now", from another tab
    await check.goto(product_url)
    await check.get_by_role("button", name="Check now").click()
    # Closed only once the check is queued: a tab closed right after the click may cancel
    # the form's POST before it is sent (then no check runs within the test's minute).
    await expect(check.get_by_role("status")).to_contain_text("A check is on its way")
    await check.close()
    row = page.locator("tbody tr").first
    await expect(row).to_contain_text("Walnut desk lamp", timeout=60_000)
    await expect(row).to_contain_text("$100.00 → $84.90")
    await expect(row).to_contain_text("Sent", timeout=60_000)
    await _shoot(page, "activity")
    [delivery] = receiver.received
    assert delivery.signature_valid is True
    assert delivery.json["data"]["price"]["new"]["amount"] == "84.90"

    # The product page: prices, statistics, the chart drawn, the change-only history.
    await page.goto(product_url)
    await expect(page.get_by_test_id("current-price")).to_have_text("$84.90")
    await expect(page.get_by_test_id("lowest")).to_have_text("$84.90")
    chart = page.locator("figure.chart svg")
    await expect(chart).to_be_visible()
    box = await chart.bounding_box()
    assert box is not None
    assert box["width"] > 300
    assert box["height"] > 100
    await expect(chart).to_have_attribute("aria-label", re.compile(r"\$84\.90"))
    await expect(chart.locator("text", has_text="$84.90").first).to_be_visible()
    history = page.locator("section", has=page.get_by_role("heading", name="Changes"))
    await expect(history.locator("tbody tr")).to_have_count(2)
    await _shoot(page, "product")
    for name, path in (("alerts", "/alerts"), ("channels", "/channels"), ("keys", "/keys")):
        await page.goto(f"{web}{path}")
        await _shoot(page, name)

    # In Japanese: words, amounts and the chart's dates as a Japanese reader writes them.
    await page.goto(product_url)
    await page.get_by_role("button", name="日本語").click()
    await expect(page.get_by_role("heading", name="価格の推移")).to_be_visible()
    await expect(page.get_by_test_id("current-price")).to_have_text("$84.90")
    await expect(page.locator("figure.chart svg text", has_text="月").first).to_be_attached()
    await _shoot(page, "product-ja")
    await context.close()
    assert console.errors == [], console.errors
