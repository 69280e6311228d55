"""A person in a real browser (Debian's chromium) against the real API and web service:
sign in by the emailed link, add a product from a loopback shop after seeing what
PriceAlert reads from it (and, on a page without structured data, picking a suggested
selector), add a webhook and see its secret once, set an alert and edit, pause and
delete it, manage API keys (never the last one), switch to Japanese, sign out.

The scraper, evaluator and notifier do not run here (see test_stack.py for the whole
stack, where a price drop arrives in the notification log)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, expect
from playwright.async_api import Page as BrowserPage

from pricealert_ops.devtools.receiver import Receiver
from pricealert_ops.devtools.shop import Page, Shop
from tests.web.conftest import WebUnderTest, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.browser]

STRUCTURED = Page.html(
    "<html><head><title>Kettle</title>"
    '<script type="application/ld+json">{"@context":"https://schema.org","@type":"Product",'
    '"name":"Copper kettle","offers":{"@type":"Offer","price":"1280","priceCurrency":"JPY",'
    '"availability":"https://schema.org/InStock"}}</script></head>'
    "<body><h1>Copper kettle</h1></body></html>"
)
TEXT_ONLY = Page.html(
    "<html><head><title>Teapot | Shop</title></head><body><main>"
    '<h1 class="product-title">Cast iron teapot</h1>'
    '<div class="buy-box"><span class="price-now">$42.50</span>'
    "<button>Add to cart</button></div></main></body></html>"
)


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    async with Shop(record=False) as running:
        await running.listen("127.0.0.1")
        running.serve("/kettle", STRUCTURED)
        running.serve("/teapot", TEXT_ONLY)
        yield running


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as hook:
        await hook.start()
        yield hook


async def test_a_product_is_added_after_seeing_what_pricealert_reads(
    web: WebUnderTest, page: BrowserPage, shop: Shop
) -> None:
    await sign_in(page, web, "ada@example.com")
    await page.get_by_role("link", name="Add a product").click()
    await page.get_by_label("Product page URL").fill(shop.url("/kettle"))
    await page.get_by_role("button", name="Read the page").click()

    found = page.locator(".facts")
    await expect(found).to_contain_text("Copper kettle")
    await expect(page.get_by_test_id("preview-price")).to_have_text("¥1,280")
    await expect(found).to_contain_text("JPY")
    await expect(found).to_contain_text("In stock")
    await page.get_by_label("Check it").select_option(label="Every 6 hours")
    await page.get_by_role("button", name="Watch this product").click()

    await expect(page.get_by_role("status")).to_contain_text("The product is watched")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Untitled product")
    await expect(page.get_by_label("Check it")).to_have_value(str(6 * 3600))
    await page.get_by_role("button", name="Check now").click()
    await expect(page.get_by_role("status")).to_contain_text("A check is on its way")
    await page.get_by_role("link", name="Products", exact=True).click()
    await expect(page.locator("table")).to_contain_text(shop.url("/kettle"))


async def test_a_page_without_structured_data_offers_selectors_to_pick_from(
    web: WebUnderTest, page: BrowserPage, shop: Shop
) -> None:
    await sign_in(page, web, "ada@example.com")
    await page.goto(f"{web.url}/products/new")
    await page.get_by_label("Product page URL").fill(shop.url("/teapot"))
    await page.get_by_role("button", name="Read the page").click()

    await expect(page.get_by_test_id("preview-price")).to_have_text("No price found")
    choices = page.get_by_role("radio")
    await expect(choices.first).to_be_checked()
    first = page.locator("label.candidate").first
    await expect(first).to_contain_text("$42.50")
    selector = await choices.first.get_attribute("value")
    await page.get_by_role("button", name="Watch this product").click()

    await expect(page.get_by_role("status")).to_contain_text("The product is watched")
    await expect(page.locator("body")).to_contain_text(f"Price selector: {selector}")


async def test_a_refused_url_is_said_next_to_the_field(
    web: WebUnderTest, page: BrowserPage
) -> None:
    await sign_in(page, web, "ada@example.com")
    await page.goto(f"{web.url}/products/new")
    await page.get_by_label("Product page URL").fill("http://169.254.169.254/latest/")
    await page.get_by_role("button", name="Read the page").click()
    await expect(page.locator("#url-error")).to_contain_text("169.254.169.254")
    await expect(page.get_by_label("Product page URL")).to_have_attribute("aria-invalid", "true")


async def test_webhook_secret_shown_once_and_alerts_of_every_kind_managed(
    web: WebUnderTest, page: BrowserPage, shop: Shop, receiver: Receiver
) -> None:
    await sign_in(page, web, "ada@example.com")
    await page.goto(f"{web.url}/products/new")
    await page.get_by_label("Product page URL").fill(shop.url("/kettle"))
    await page.get_by_role("button", name="Read the page").click()
    await page.get_by_role("button", name="Watch this product").click()
    await expect(page.get_by_role("status")).to_contain_text("The product is watched")
    assert await web.check_products() == ["changed"]

    await page.get_by_role("link", name="Channels").click()
    await page.get_by_label("Kind").select_option("webhook")
    await page.get_by_label("Address, number or URL").fill(receiver.url)
    await page.get_by_role("button", name="Add channel").click()
    secret = await page.get_by_test_id("webhook-secret").input_value()
    assert secret.startswith("whsec_")
    await page.get_by_role("link", name="Done").click()
    await expect(page.locator(".cards")).to_contain_text("Active")
    assert secret not in await page.content()  # never shown again

    await page.get_by_role("link", name="Alerts").click()
    for kind, threshold in (
        ("below", "1000"), ("drop_percent", "10"), ("lowest_ever", ""),
        ("back_in_stock", ""), ("change", ""),
    ):  # fmt: skip
        await page.get_by_label("When").select_option(kind)
        await page.get_by_label("Threshold").fill(threshold)
        await page.get_by_role("button", name="Set alert").click()
        await expect(page.get_by_role("status")).to_contain_text("The alert is set")
    rows = page.locator("table tbody tr")
    await expect(rows).to_have_count(5)
    await expect(page.locator("table")).to_contain_text("Price at or below ¥1,000")
    await expect(page.locator("table")).to_contain_text("Price drops by 10 %")

    # A threshold the currency cannot have is refused with the API's reason, in place.
    await page.get_by_label("When").select_option("below")
    await page.get_by_label("Threshold").fill("12.5")
    await page.get_by_role("button", name="Set alert").click()
    await expect(page.locator("#threshold-error")).to_contain_text("JPY has no minor unit")

    first = rows.first
    await first.get_by_role("button", name="Pause").click()
    await expect(page.get_by_role("status")).to_contain_text("The alert is paused")
    await expect(rows.first).to_contain_text("Paused")
    await rows.first.get_by_role("link", name="Edit").click()
    await page.get_by_label("Threshold").fill("900")
    await page.get_by_label("Active (uncheck to pause)").check()
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_contain_text("The alert is saved")
    await expect(page.locator("table")).to_contain_text("Price at or below ¥900")
    await rows.first.get_by_role("button", name="Delete").click()
    await expect(page.get_by_role("status")).to_contain_text("The alert is deleted")
    await expect(rows).to_have_count(4)


async def test_api_keys_are_shown_once_and_the_last_one_stays(
    web: WebUnderTest, page: BrowserPage
) -> None:
    await sign_in(page, web, "ada@example.com")
    await page.get_by_role("link", name="API keys").click()
    await expect(page.locator("table").first).to_contain_text("No API key")
    await page.get_by_label("Name").fill("my script")
    await page.get_by_role("button", name="Create key").click()
    first_key = await page.get_by_test_id("new-key").input_value()
    assert first_key.startswith("pa_")
    await page.get_by_role("button", name="Create key").click()
    await expect(page.locator("table").first.locator("tbody tr")).to_have_count(2)

    revoke = page.locator("table").first.get_by_role("button", name="Revoke")
    await revoke.first.click()
    await expect(page.get_by_role("status")).to_contain_text("The key is revoked")
    await page.locator("table").first.get_by_role("button", name="Revoke").click()
    await expect(page.get_by_role("alert")).to_contain_text("This is your last working API key")
    await expect(page.locator("table").first.locator("tbody tr")).to_have_count(1)
    await expect(page.locator("body")).to_contain_text("(this browser)")
    assert first_key not in await page.content()


async def test_japanese_is_switched_to_and_remembered_and_signing_out_ends_the_session(
    web: WebUnderTest, page: BrowserPage
) -> None:
    await sign_in(page, web, "ada@example.com")
    await page.get_by_role("button", name="日本語").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("商品")
    await page.get_by_role("link", name="設定").click()
    await expect(page.get_by_label("言語")).to_have_value("ja")
    await expect(page.get_by_label("タイムゾーン")).to_have_value("Asia/Tokyo")
    await page.get_by_label("タイムゾーン").select_option("Europe/Paris")
    await page.get_by_role("button", name="保存").click()
    await expect(page.get_by_role("status")).to_have_text("保存しました。")
    await expect(page.locator("footer")).to_contain_text("Europe/Paris")

    await page.get_by_role("button", name="サインアウト").click()
    await expect(page.get_by_role("status")).to_have_text("サインアウトしました。")
    await page.goto(f"{web.url}/products")
    await expect(page).to_have_url(f"{web.url}/sign-in")


async def test_every_essential_action_works_without_javascript(
    web: WebUnderTest, browser: Browser, shop: Shop, receiver: Receiver
) -> None:
    context = await browser.new_context(java_script_enabled=False, locale="en-US")
    page = await context.new_page()
    try:
        await sign_in(page, web, "ada@example.com")
        await page.goto(f"{web.url}/products/new")
        await page.get_by_label("Product page URL").fill(shop.url("/kettle"))
        await page.get_by_role("button", name="Read the page").click()
        await expect(page.get_by_test_id("preview-price")).to_have_text("¥1,280")
        await page.get_by_role("button", name="Watch this product").click()
        await expect(page.get_by_role("status")).to_contain_text("The product is watched")

        await page.get_by_role("link", name="Channels").click()
        await page.get_by_label("Kind").select_option("webhook")
        await page.get_by_label("Address, number or URL").fill(receiver.url)
        await page.get_by_role("button", name="Add channel").click()
        await expect(page.get_by_test_id("webhook-secret")).to_have_value(re.compile("^whsec_"))

        await page.get_by_role("link", name="Alerts").click()
        await page.get_by_label("When").select_option("back_in_stock")
        await page.get_by_role("button", name="Set alert").click()
        await expect(page.get_by_role("status")).to_contain_text("The alert is set")
        await page.locator("table tbody tr").first.get_by_role("button", name="Delete").click()
        await expect(page.get_by_role("status")).to_contain_text("The alert is deleted")

        await page.get_by_role("link", name="Activity").click()
        await expect(page.locator("tbody")).to_contain_text("Nothing yet")
        await page.get_by_role("button", name="Sign out").click()
        await expect(page.get_by_role("status")).to_have_text("You are signed out.")
    finally:
        await context.close()


async def test_a_failing_product_says_why_on_its_page(
    web: WebUnderTest, page: BrowserPage, shop: Shop
) -> None:
    shop.serve("/flaky", STRUCTURED)
    await sign_in(page, web, "ada@example.com")
    await page.goto(f"{web.url}/products/new")
    await page.get_by_label("Product page URL").fill(shop.url("/flaky"))
    await page.get_by_role("button", name="Read the page").click()
    await page.get_by_role("button", name="Watch this product").click()
    await expect(page.get_by_role("status")).to_contain_text("The product is watched")
    shop.serve("/flaky", Page(status=404))
    assert await web.check_products() != ["changed"]

    await page.reload()
    await expect(page.locator(".summary .badge")).to_have_text("Failing")
    await expect(page.get_by_test_id("last-error")).to_contain_text("Last check failed:")
    await expect(page.get_by_test_id("last-error")).to_contain_text("404")
