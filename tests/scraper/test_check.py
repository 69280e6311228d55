"""One product check against a real shop and the real database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from arq.connections import ArqRedis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pricealert.models import PriceHistory, Product
from pricealert.queues import EVALUATE_QUEUE
from pricealert_ops.devtools.shop import Page, Shop
from services.scraper.check import ProductCheck
from tests.scraper.conftest import add_product, product_page


async def _history(session: AsyncSession, product_id: int) -> list[PriceHistory]:
    rows = await session.scalars(
        select(PriceHistory)
        .where(PriceHistory.product_id == product_id)
        .order_by(PriceHistory.first_seen_at, PriceHistory.id)
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def _product(session: AsyncSession, product_id: int) -> Product:
    product = await session.get(Product, product_id, populate_existing=True)
    assert product is not None
    return product


async def test_first_check_records_the_state_and_queues_one_evaluation(
    product_check: ProductCheck, shop: Shop, db_session: AsyncSession, queue: ArqRedis
) -> None:
    shop.serve("/kettle", product_page("1,280"))
    product = await add_product(db_session, shop.url("/kettle"))
    assert await product_check.run(product.id) == "changed"
    rows = await _history(db_session, product.id)
    assert [(r.price, r.currency, r.in_stock) for r in rows] == [(Decimal(1280), "JPY", True)]
    stored = await _product(db_session, product.id)
    assert (stored.price, stored.currency, stored.status, stored.title) == (
        Decimal(1280), "JPY", "active", "Electric kettle",
    )  # fmt: skip
    assert stored.lease_token is None
    assert stored.next_check_at > datetime.now(UTC) + timedelta(seconds=3000)
    assert await queue.zscore(EVALUATE_QUEUE, f"evaluate:{rows[0].id}") is not None


async def test_an_unchanged_price_extends_the_row_and_queues_nothing(
    product_check: ProductCheck, shop: Shop, db_session: AsyncSession, queue: ArqRedis
) -> None:
    shop.serve("/kettle", product_page("1280"))
    product = await add_product(db_session, shop.url("/kettle"))
    await product_check.run(product.id)
    await queue.flushdb()
    assert await product_check.run(product.id) == "unchanged"
    rows = await _history(db_session, product.id)
    assert len(rows) == 1
    assert rows[0].checks == 2
    assert rows[0].last_seen_at > rows[0].first_seen_at
    assert await queue.zcard(EVALUATE_QUEUE) == 0


async def test_a_change_closes_nothing_and_opens_a_new_row(
    product_check: ProductCheck, shop: Shop, db_session: AsyncSession
) -> None:
    shop.serve(
        "/kettle",
        product_page("1280"),
        product_page("1180"),
        product_page("1180", availability="OutOfStock"),
    )
    product = await add_product(db_session, shop.url("/kettle"))
    results = [await product_check.run(product.id) for _ in range(3)]
    assert results == ["changed", "changed", "changed"]
    rows = await _history(db_session, product.id)
    assert [(r.price, r.in_stock) for r in rows] == [
        (Decimal(1280), True), (Decimal(1180), True), (Decimal(1180), False),
    ]  # fmt: skip


async def test_a_304_counts_as_not_modified_and_costs_no_parse(
    product_check: ProductCheck, shop: Shop, db_session: AsyncSession
) -> None:
    page = product_page("980")
    shop.serve("/kettle", Page(body=page.body, etag='"v1"'))
    product = await add_product(db_session, shop.url("/kettle"))
    assert await product_check.run(product.id) == "changed"
    assert await product_check.run(product.id) == "not_modified"
    assert shop.requests_to("/kettle")[1].headers["if-none-match"] == '"v1"'
    rows = await _history(db_session, product.id)
    assert rows[0].checks == 2


async def test_a_block_page_is_recorded_as_blocked_never_as_a_price(
    product_check: ProductCheck, shop: Shop, db_session: AsyncSession
) -> None:
    shop.serve(
        "/kettle",
        Page.html(
            "<html><head><title>Attention Required! | Cloudflare</title></head>"
            "<body><div id='cf-challenge'>Please complete the security check (captcha)"
            "</div></body></html>"
        ),
    )
    product = await add_product(
        db_session, shop.url("/kettle"), price=Decimal(1000), currency="JPY"
    )
    assert await product_check.run(product.id) == "blocked"
    stored = await _product(db_session, product.id)
    assert stored.status == "failing"
    assert stored.last_error is not None
    assert stored.last_error.startswith("blocked")
    assert stored.price == Decimal(1000)
    assert await _history(db_session, product.id) == []


async def test_failures_back_off_honour_retry_after_and_finally_pause(
    product_check: ProductCheck, shop: Shop, db_session: AsyncSession
) -> None:
    shop.serve("/gone", Page(status=404))
    shop.serve("/busy", Page.retry_after("7200"))
    shop.serve("/other", product_page("100"))
    gone = await add_product(db_session, shop.url("/gone"), interval=600)
    busy = await add_product(db_session, shop.url("/busy"), interval=600)
    other = await add_product(db_session, shop.url("/other"), interval=600)

    assert await product_check.run(gone.id) == "http_error"
    first = await _product(db_session, gone.id)
    assert first.consecutive_failures == 1
    assert "404" in (first.last_error or "")
    first_delay = first.next_check_at - datetime.now(UTC)
    assert await product_check.run(gone.id) == "http_error"
    second_delay = (await _product(db_session, gone.id)).next_check_at - datetime.now(UTC)
    assert second_delay > first_delay * 1.8  # doubled

    product_check.settings.pause_after_failures = 3
    assert await product_check.run(gone.id) == "http_error"
    assert (await _product(db_session, gone.id)).status == "paused"

    assert await product_check.run(busy.id) == "http_error"
    later = datetime.now(UTC) + timedelta(hours=1.9)
    assert (await _product(db_session, busy.id)).next_check_at > later
    # The whole shop asked for a pause: its other products wait too, without a failure.
    assert await product_check.run(other.id) == "deferred"
    deferred = await _product(db_session, other.id)
    assert deferred.consecutive_failures == 0
    assert deferred.next_check_at > datetime.now(UTC) + timedelta(minutes=50)
    assert shop.requests_to("/other") == []


async def test_a_recovered_product_is_active_again(
    product_check: ProductCheck, shop: Shop, db_session: AsyncSession
) -> None:
    # 503 is retried twice within one check; the next check finds the shop recovered.
    shop.serve("/kettle", Page(status=503), Page(status=503), Page(status=503), product_page("500"))
    product = await add_product(db_session, shop.url("/kettle"))
    assert await product_check.run(product.id) == "http_error"
    assert await product_check.run(product.id) == "changed"
    stored = await _product(db_session, product.id)
    assert (stored.status, stored.consecutive_failures, stored.last_error) == ("active", 0, None)


async def test_an_implausible_jump_is_recorded_only_when_a_second_fetch_confirms_it(
    product_check: ProductCheck, shop: Shop, db_session: AsyncSession
) -> None:
    shop.serve("/glitch", product_page("12"), product_page("12800"))
    shop.serve("/real", product_page("99"))
    glitch = await add_product(
        db_session, shop.url("/glitch"), price=Decimal(12800), currency="JPY"
    )
    real = await add_product(db_session, shop.url("/real"), price=Decimal(12800), currency="JPY")

    assert await product_check.run(glitch.id) == "unconfirmed"
    assert await _history(db_session, glitch.id) == []
    assert (await _product(db_session, glitch.id)).price == Decimal(12800)

    assert await product_check.run(real.id) == "changed"
    rows = await _history(db_session, real.id)
    assert [(r.price, r.suspicious) for r in rows] == [(Decimal(99), True)]
    assert len(shop.requests_to("/real")) == 2


def _slow_page(price: str, delay: float, arrived: asyncio.Event) -> Callable[[object], Page]:
    """A page answered after `delay`; `arrived` is set once the request is in."""

    def answer(_request: object) -> Page:
        arrived.set()
        return Page(body=product_page(price).body, delay=delay)

    return answer


async def test_a_check_that_lost_its_lease_writes_nothing(
    product_check: ProductCheck, shop: Shop, db_session: AsyncSession
) -> None:
    arrived = asyncio.Event()
    shop.handle("/slow", _slow_page("100", 0.5, arrived))
    product = await add_product(db_session, shop.url("/slow"))
    check = asyncio.create_task(product_check.run(product.id))
    await arrived.wait()
    # Another check takes the product over while this one waits for the shop.
    await db_session.execute(
        update(Product).where(Product.id == product.id).values(lease_token="someone-else")
    )
    assert await check == "lease_lost"
    assert await _history(db_session, product.id) == []


async def test_a_refused_address_is_a_named_failure(
    product_check: ProductCheck, db_session: AsyncSession
) -> None:
    product = await add_product(db_session, "http://169.254.169.254/latest/meta-data/")
    assert await product_check.run(product.id) == "refused"
    stored = await _product(db_session, product.id)
    assert stored.last_error is not None
    assert stored.last_error.startswith("blocked_address")


def test_a_lease_shorter_than_a_killed_job_stays_in_progress_is_refused() -> None:
    import pytest
    from pydantic import ValidationError

    from services.scraper.settings import ScraperSettings

    with pytest.raises(ValidationError, match="PRICEALERT_LEASE_SECONDS"):
        ScraperSettings(lease_seconds=60, check_timeout_seconds=120)
    assert ScraperSettings(lease_seconds=30, check_timeout_seconds=20).lease_seconds == 30


async def test_a_state_written_without_the_lease_mid_check_is_recorded_against(
    product_check: ProductCheck, shop: Shop, db_session: AsyncSession
) -> None:
    arrived = asyncio.Event()
    shop.serve("/kettle", product_page("1000"))
    product = await add_product(db_session, shop.url("/kettle"))
    assert await product_check.run(product.id) == "changed"
    shop.handle("/kettle", _slow_page("1280", 0.3, arrived))
    check = asyncio.create_task(product_check.run(product.id))
    await arrived.wait()
    # Someone (an operator, say) writes the product while the check holds its lease.
    await db_session.execute(
        update(Product).where(Product.id == product.id).values(price=Decimal(1100))
    )
    assert await check == "changed"
    assert [r.price for r in await _history(db_session, product.id)] == [Decimal(1000),
                                                                        Decimal(1280)]  # fmt: skip
    stored = await _product(db_session, product.id)
    assert (stored.price, stored.last_result, stored.lease_token) == (
        Decimal(1280),
        "changed",
        None,
    )


async def test_check_now_records_a_change_of_availability_alone_as_a_change(
    product_check: ProductCheck, shop: Shop, db_session: AsyncSession, queue: ArqRedis
) -> None:
    shop.serve("/kettle", product_page("1280", availability="PreOrder"), product_page("1280"))
    product = await add_product(db_session, shop.url("/kettle"))
    assert await product_check.run(product.id) == "changed"
    assert await product_check.run(product.id) == "changed"
    rows = await _history(db_session, product.id)
    assert [(r.price, r.availability, r.in_stock) for r in rows] == [
        (Decimal(1280), "PreOrder", False), (Decimal(1280), "InStock", True),
    ]  # fmt: skip
    assert await queue.zscore(EVALUATE_QUEUE, f"evaluate:{rows[1].id}") is not None
    # One fetch each: a change of availability is no implausible jump to confirm.
    assert len(shop.requests_to("/kettle")) == 2
