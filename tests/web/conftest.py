"""Web UI fixtures: the real API and the real web service, each served over HTTP on
loopback in the test's loop, on a database of the test's own (committed for real: the web
makes concurrent API calls, as a browser's pages do); the notifier's token sender run in
process against a real SMTP server (aiosmtpd) to mail sign-in links; Debian's chromium
driven by Playwright.

    async def test_x(web: WebUnderTest, browser_page: Page) -> None:
        await sign_in(browser_page, web, "ada@example.com")   # by the emailed link
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from playwright.async_api import Browser, ConsoleMessage, Page, Response, async_playwright
from sqlalchemy import select

from pricealert.http import GuardedClient
from pricealert.models import Product
from services.api.main import create_app as create_api
from services.api.settings import ApiSettings
from services.scraper.check import ProductCheck
from services.scraper.fetch import ShopFetcher
from services.scraper.settings import ScraperSettings
from services.web.main import create_app as create_web
from services.web.settings import WebSettings
from tests.api.outbox import Outbox, aws, smtp
from tests.support.smtp import SmtpServer
from tests.web.servers import serve

__all__ = ["aws", "smtp"]

CHROMIUM = os.environ.get("PRICEALERT_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--disable-dev-shm-usage",
]  # fmt: skip
LINK = re.compile(r"(http://\S+/sign-in/confirm\?token=pat_[0-9a-f]{32}[A-Za-z0-9_-]{43})")


@dataclass
class WebUnderTest:
    api_url: str
    url: str
    api_app: FastAPI
    web_app: FastAPI
    outbox: Outbox

    async def sign_in_link(self, email: str, within: float = 10.0) -> str:
        """Send the queued sign-in email (as the notifier would) and read its link. The API
        issues the token after answering, so this waits for it."""
        before = len(self.outbox.emails_to(email))
        deadline = time.monotonic() + within
        while len(self.outbox.emails_to(email)) <= before:
            assert time.monotonic() < deadline, f"no sign-in email to {email}"
            await self.outbox.run()
            await asyncio.sleep(0.05)
        texts = [_text(m) for m in self.outbox.emails_to(email)]
        match = LINK.search(texts[-1])
        assert match, texts[-1]
        return match.group(1)

    async def check_products(self) -> list[str]:
        """Check every product now, as the scraper would (it does not run here)."""
        settings = ScraperSettings(
            environment="test", fetch_allowed_hosts=["127.0.0.1"], respect_robots=False,
            per_domain_delay_seconds=0.0,
        )  # fmt: skip
        sessionmaker = self.api_app.state.sessionmaker
        async with sessionmaker() as session:
            ids = list(await session.scalars(select(Product.id).order_by(Product.id)))
        async with GuardedClient.from_settings(settings) as client:
            check = ProductCheck(
                sessionmaker, self.api_app.state.redis,
                ShopFetcher(client, settings.fetch_policy()), settings,
            )  # fmt: skip
            return [await check.run(product_id) for product_id in ids]


def _text(message: Any) -> str:
    from tests.api.outbox import text_of

    return text_of(message)


def web_settings(**overrides: Any) -> WebSettings:
    values: dict[str, Any] = {"environment": "test", "log_level": "WARNING"}
    values.update(overrides)
    return WebSettings(**values)


@pytest.fixture
async def web(
    fresh_database_url: str, redis_url: str, smtp: SmtpServer, aws: None
) -> AsyncIterator[WebUnderTest]:
    api_app = create_api(
        ApiSettings(
            environment="test", database_url=fresh_database_url, redis_url=redis_url,
            log_level="WARNING", business_metrics_interval_seconds=3600,
            fetch_allowed_hosts=["127.0.0.1"],
        )
    )  # fmt: skip
    async with serve(api_app) as api_url:
        web_app = create_web(web_settings(api_url=api_url))
        async with serve(web_app) as web_url:
            outbox = Outbox(api_app, smtp)
            outbox.sender.settings = outbox.settings.model_copy(update={"web_base_url": web_url})
            try:
                yield WebUnderTest(api_url, web_url, api_app, web_app, outbox)
            finally:
                await outbox.aclose()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    args = [*CHROMIUM_ARGS, *(["--no-sandbox"] if os.geteuid() == 0 else [])]
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        yield launched
        await launched.close()


@dataclass
class Console:
    """What the page said on its console: errors fail the test that opened it. A page
    answered 4xx on purpose (a form sent back with its errors: 422) is what the test looks
    at, not an error; a failed image, script or fetch is."""

    errors: list[str] = field(default_factory=list)
    documents: set[str] = field(default_factory=set)

    def record(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        failed_url = message.location.get("url", "")
        if message.text.startswith("Failed to load resource") and failed_url in self.documents:
            return
        self.errors.append(f"{message.text} ({failed_url})")

    def response(self, response: Response) -> None:
        if response.request.resource_type == "document" and 400 <= response.status < 500:
            self.documents.add(response.url)


@pytest.fixture
async def console() -> Console:
    return Console()


@pytest.fixture
async def page(browser: Browser, console: Console) -> AsyncIterator[Page]:
    context = await browser.new_context(locale="en-US", timezone_id="Asia/Tokyo")
    opened = await context.new_page()
    opened.on("response", console.response)
    opened.on("console", console.record)
    opened.on("pageerror", lambda error: console.errors.append(str(error)))
    opened.on("dialog", lambda dialog: dialog.accept())
    yield opened
    await context.close()
    assert console.errors == [], f"the page logged errors: {console.errors}"


async def sign_in(page: Page, web: WebUnderTest, email: str) -> None:
    """Sign in as a person does: ask for a link, open it from the email, confirm."""
    await page.goto(f"{web.url}/sign-in")
    await page.get_by_label("Email address").fill(email)
    await page.get_by_role("button", name="Email me a sign-in link").click()
    await page.get_by_role("heading", name="Check your email").wait_for()
    await page.goto(await web.sign_in_link(email))
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("heading", name="Products").wait_for()


@pytest.fixture
async def http(web: WebUnderTest) -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client of the web service (no browser), cookies kept."""
    async with httpx.AsyncClient(base_url=web.url, follow_redirects=False) as client:
        yield client
