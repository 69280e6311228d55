"""The scraper's polite fetcher against a real local shop: robots, politeness, 304, retries."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from pricealert.http import GuardedClient
from pricealert.metrics import registry
from pricealert_ops.devtools.shop import Page, Shop, running_shop
from services.scraper.fetch import FetchPolicy, ShopFetcher, parse_retry_after

FAST = FetchPolicy(per_domain_delay=0.0, backoff_base=0.01, backoff_max=0.05)


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    """One shop on two loopback addresses: two domains."""
    async for running in running_shop("127.0.0.2", "127.0.0.3"):
        yield running


@pytest.fixture
async def client(shop: Shop) -> AsyncIterator[GuardedClient]:
    async with GuardedClient(
        allowed_hosts=[shop.netloc(0), shop.netloc(1)], read_timeout=0.3, total_timeout=3.0
    ) as guarded:
        yield guarded


def fetcher(client: GuardedClient, **policy: object) -> ShopFetcher:
    return ShopFetcher(client, replace(FAST, **policy))  # type: ignore[arg-type]


async def test_page_is_fetched_with_an_honest_user_agent(client: GuardedClient, shop: Shop) -> None:
    shop.serve(
        "/p", Page.html("<p>price</p>", etag='"v1"', last_modified="Mon, 01 Jan 2024 00:00:00 GMT")
    )
    outcome = await fetcher(client).fetch(shop.url("/p"))
    assert outcome.ok
    assert (outcome.status, outcome.body, outcome.attempts) == (200, b"<p>price</p>", 1)
    assert (outcome.etag, outcome.last_modified) == ('"v1"', "Mon, 01 Jan 2024 00:00:00 GMT")
    agent = shop.requests_to("/p")[0].headers["user-agent"]
    assert agent.startswith("PriceAlert/")
    assert "(+https://" in agent


async def test_fetch_records_duration_and_bytes(client: GuardedClient, shop: Shop) -> None:
    shop.serve("/p", Page.html("x" * 1234))
    bytes_before = registry.get_sample_value("pricealert_fetch_bytes_total") or 0.0
    count_before = registry.get_sample_value("pricealert_fetch_duration_seconds_count") or 0.0
    await fetcher(client).fetch(shop.url("/p"))
    assert registry.get_sample_value("pricealert_fetch_bytes_total") == bytes_before + 1234
    assert registry.get_sample_value("pricealert_fetch_duration_seconds_count") == count_before + 1


async def test_conditional_request_answered_304_is_not_modified_without_body(
    client: GuardedClient, shop: Shop
) -> None:
    shop.serve("/p", Page.html("body", etag='"v2"'))
    outcome = await fetcher(client).fetch(shop.url("/p"), etag='"v2"', last_modified="yesterday")
    assert outcome.ok
    assert outcome.not_modified
    assert (outcome.status, outcome.body, outcome.etag) == (304, b"", '"v2"')
    assert outcome.last_modified == "yesterday"  # a 304 without validators keeps ours
    sent = shop.requests_to("/p")[0].headers
    assert (sent["if-none-match"], sent["if-modified-since"]) == ('"v2"', "yesterday")


async def test_changed_page_answers_200_despite_an_old_etag(
    client: GuardedClient, shop: Shop
) -> None:
    shop.serve("/p", Page.html("new", etag='"v3"'))
    outcome = await fetcher(client).fetch(shop.url("/p"), etag='"v2"')
    assert not outcome.not_modified
    assert (outcome.body, outcome.etag) == (b"new", '"v3"')


async def test_robots_txt_is_obeyed_and_fetched_once_per_origin(
    client: GuardedClient, shop: Shop
) -> None:
    shop.serve(
        "/robots.txt", Page(body=b"User-agent: *\nDisallow: /cart\n", content_type="text/plain")
    )
    shop.serve("/p", Page.html("ok"))
    shop.serve("/cart", Page.html("secret"))
    polite = fetcher(client)
    assert (await polite.fetch(shop.url("/p"))).ok
    assert (await polite.fetch(shop.url("/p?colour=red"))).ok
    refused = await polite.fetch(shop.url("/cart"))
    assert (refused.error, refused.status) == ("robots_disallowed", None)
    assert shop.requests_to("/cart") == []
    assert len(shop.requests_to("/robots.txt")) == 1


async def test_robots_rules_for_our_agent_win_over_the_wildcard(
    client: GuardedClient, shop: Shop
) -> None:
    robots = b"User-agent: *\nDisallow:\n\nUser-agent: PriceAlert\nDisallow: /\n"
    shop.serve("/robots.txt", Page(body=robots, content_type="text/plain"))
    assert (await fetcher(client).fetch(shop.url("/p"))).error == "robots_disallowed"


@pytest.mark.parametrize(
    ("robots", "allowed"),
    [
        (Page(status=404), True),
        (Page(status=410), True),
        (Page(status=401), False),
        (Page(status=403), False),
        (Page(status=500), True),
        (Page(status=503), True),
        (Page.html("User-agent: *\nDisallow: /", delay=1.0), True),  # unreachable: read timeout
        (Page.redirect("http://169.254.169.254/robots.txt"), False),  # refused, like the page
    ],
)
async def test_robots_answer_decides_as_documented(
    client: GuardedClient, shop: Shop, robots: Page, allowed: bool
) -> None:
    shop.serve("/robots.txt", robots)
    shop.serve("/p", Page.html("ok"))
    outcome = await fetcher(client).fetch(shop.url("/p"))
    assert outcome.ok is allowed
    assert len(shop.requests_to("/p")) == (1 if allowed else 0)


async def test_requests_to_one_domain_start_at_least_the_delay_apart(
    client: GuardedClient, shop: Shop
) -> None:
    shop.serve("/p", Page.html("ok"))
    polite = fetcher(client, per_domain_delay=0.25)
    await asyncio.gather(*(polite.fetch(shop.url("/p")) for _ in range(3)))
    starts = sorted(r.at for r in shop.requests_to("/p"))
    assert [later - earlier >= 0.2 for earlier, later in itertools.pairwise(starts)] == [True, True]


async def test_another_domain_does_not_wait_for_the_first_ones_delay(
    client: GuardedClient, shop: Shop
) -> None:
    shop.serve("/p", Page.html("ok"))
    polite = fetcher(client, per_domain_delay=0.5, respect_robots=False)
    first, second = shop.url("/p", origin=0), shop.url("/p", origin=1)
    await asyncio.gather(polite.fetch(first), polite.fetch(first), polite.fetch(second))
    # the second domain was served without waiting for the first domain's delay
    order = [r.server for r in shop.requests_to("/p")]
    assert sorted(order[:2]) == sorted([shop.netloc(0), shop.netloc(1)])
    assert order[2] == shop.netloc(0)


async def test_at_most_the_concurrency_limit_of_requests_run_on_one_domain(
    client: GuardedClient, shop: Shop
) -> None:
    shop.serve("/slow", Page.html("ok", delay=0.2))
    polite = fetcher(client, per_domain_concurrency=2)
    outcomes = await asyncio.gather(*(polite.fetch(shop.url("/slow")) for _ in range(4)))
    assert all(outcome.ok for outcome in outcomes)
    starts = sorted(r.at for r in shop.requests_to("/slow"))
    # the third and fourth had to wait for one of the first two to finish (0.2 s each)
    assert starts[2] - starts[0] >= 0.15
    assert starts[3] - starts[1] >= 0.15


async def test_429_returns_retry_at_pauses_the_domain_and_is_not_retried(
    client: GuardedClient, shop: Shop
) -> None:
    shop.serve("/p", Page.retry_after("1"), Page.html("ok"))
    polite = fetcher(client)
    before = datetime.now(UTC)
    limited = await polite.fetch(shop.url("/p"))
    assert (limited.status, limited.error, limited.attempts) == (429, "http_status", 1)
    assert limited.retry_after is not None
    assert (
        before + timedelta(seconds=1)
        <= limited.retry_after
        <= datetime.now(UTC) + timedelta(seconds=1)
    )
    assert (await polite.fetch(shop.url("/p"))).ok
    first, second = shop.requests_to("/p")
    assert second.at - first.at >= 0.9  # the domain waited out the shop's Retry-After


async def test_503_with_an_http_date_is_honoured_not_retried(
    client: GuardedClient, shop: Shop
) -> None:
    shop.serve("/p", Page.retry_after("Wed, 21 Oct 2099 07:28:00 GMT", status=503))
    outcome = await fetcher(client, max_domain_pause=0.01).fetch(shop.url("/p"))
    assert outcome.retry_after == datetime(2099, 10, 21, 7, 28, tzinfo=UTC)
    assert (outcome.status, outcome.attempts) == (503, 1)


async def test_429_without_retry_after_backs_off_by_the_default(
    client: GuardedClient, shop: Shop
) -> None:
    shop.serve("/p", Page(status=429))
    outcome = await fetcher(client, default_retry_after=120, max_domain_pause=0.01).fetch(
        shop.url("/p")
    )
    assert outcome.retry_after is not None
    assert outcome.retry_after - datetime.now(UTC) > timedelta(seconds=100)


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_transient_statuses_are_retried_until_success(
    client: GuardedClient, shop: Shop, status: int
) -> None:
    shop.serve("/p", Page(status=status), Page(status=status), Page.html("ok"))
    outcome = await fetcher(client).fetch(shop.url("/p"))
    assert (outcome.ok, outcome.attempts, outcome.body) == (True, 3, b"ok")


async def test_retries_are_bounded(client: GuardedClient, shop: Shop) -> None:
    shop.serve("/p", Page(status=502))
    outcome = await fetcher(client, max_retries=2).fetch(shop.url("/p"))
    assert (outcome.error, outcome.status, outcome.attempts) == ("http_status", 502, 3)
    assert len(shop.requests_to("/p")) == 3


async def test_timeouts_are_retried(client: GuardedClient, shop: Shop) -> None:
    shop.serve("/p", Page.html("late", delay=1.0), Page.html("ok"))
    outcome = await fetcher(client).fetch(shop.url("/p"))
    assert (outcome.ok, outcome.attempts) == (True, 2)


async def test_refused_connections_are_retried_then_reported(
    client: GuardedClient, shop: Shop
) -> None:
    # domain 1's port on domain 0's address: nothing listens there
    url = f"http://127.0.0.2:{shop.netloc(1).rsplit(':', 1)[1]}/p"
    async with GuardedClient(allowed_hosts=["127.0.0.2"]) as open_client:
        outcome = await fetcher(open_client, respect_robots=False).fetch(url)
    assert (outcome.error, outcome.attempts) == ("connection_error", 3)


@pytest.mark.parametrize(
    ("page", "error"),
    [
        (Page(status=404), "http_status"),
        (Page(status=500), "http_status"),
        (Page(status=403), "http_status"),
        (Page.huge(6_000_000), "too_large"),
        (Page.redirect("http://10.0.0.1/"), "blocked_address"),
    ],
)
async def test_final_failures_are_not_retried(
    client: GuardedClient, shop: Shop, page: Page, error: str
) -> None:
    shop.serve("/p", page)
    outcome = await fetcher(client).fetch(shop.url("/p"))
    assert (outcome.error, outcome.attempts) == (error, 1)
    assert len(shop.requests_to("/p")) == 1


async def test_bad_and_refused_urls_are_outcomes_not_exceptions(client: GuardedClient) -> None:
    polite = fetcher(client)
    assert (await polite.fetch("javascript:alert(1)")).error == "bad_url"
    assert (await polite.fetch("http://[::1")).error == "bad_url"
    refused = await polite.fetch("http://169.254.169.254/latest/meta-data/")
    assert (refused.error, refused.attempts) == ("blocked_address", 0)


async def test_redirected_page_reports_its_final_url(client: GuardedClient, shop: Shop) -> None:
    shop.serve("/old", Page.redirect("/new", status=301))
    shop.serve("/new", Page.html("moved"))
    outcome = await fetcher(client).fetch(shop.url("/old"))
    assert (outcome.final_url, outcome.body) == (shop.url("/new"), b"moved")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", datetime(2030, 1, 1, 0, 2, tzinfo=UTC)),
        (" 0 ", datetime(2030, 1, 1, tzinfo=UTC)),
        ("Tue, 01 Jan 2030 01:00:00 GMT", datetime(2030, 1, 1, 1, tzinfo=UTC)),
        ("Mon, 01 Jan 2001 00:00:00 GMT", datetime(2030, 1, 1, tzinfo=UTC)),  # past: now
        ("soon", None),
        ("-5", None),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(value: str, expected: datetime | None) -> None:
    assert parse_retry_after(value, datetime(2030, 1, 1, tzinfo=UTC)) == expected
