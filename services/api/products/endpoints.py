"""Watched products, their history, statistics and chart."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import TypeAdapter, ValidationError
from pydantic_core import to_json

from pricealert.charts import (
    DEFAULT_DAYS,
    DEFAULT_HEIGHT,
    DEFAULT_WIDTH,
    MAX_DAYS,
    MAX_HEIGHT,
    MAX_WIDTH,
    MIN_DAYS,
    MIN_HEIGHT,
    MIN_WIDTH,
    price_chart_svg,
)
from pricealert.errors import InvalidInput
from pricealert.http import refusal_reason
from pricealert.money import LOCALE_TAG, parse_locale, preferred_languages
from pricealert.queues import CheckProduct, enqueue_after_commit
from pricealert.repositories.alerts import AlertRepository
from pricealert.repositories.driver import Readable
from pricealert.repositories.prices import (
    MAX_HISTORY_ROWS,
    PriceRepository,
    watched_history,
    watched_stats,
)
from pricealert.repositories.products import (
    ProductRepository,
    WatchedProduct,
    watched_products_page,
    watched_row,
)
from pricealert.repositories.users import Principal
from pricealert.urls import normalise_url
from services.api.deps import (
    CurrentPrincipal,
    ReadConnectionDep,
    ReadSessionDep,
    RedisDep,
    SessionDep,
    SettingsDep,
    authenticate,
    bearer_token,
    read_connection,
)
from services.api.fastroute import canonical_uuid, fast_path, plain_int, plain_query
from services.api.problems import problem_response
from services.api.products import service
from services.api.products.schemas import (
    CheckQueued,
    PreviewOut,
    PreviewRequest,
    PriceHistoryOut,
    PriceStatsOut,
    ProductCreate,
    ProductOut,
    ProductUpdate,
)
from services.api.ratelimit import enforce
from services.api.schemas import (
    DEFAULT_PAGE_SIZE,
    MAX_CURSOR_LENGTH,
    MAX_PAGE_SIZE,
    PageOut,
    Paging,
)

router = APIRouter(prefix="/products", tags=["products"])


def product_out(watched: WatchedProduct) -> ProductOut:
    product, watch = watched.product, watched.watch
    return ProductOut(
        id=watch.id,
        url=product.url,
        selector=product.selector or None,
        stock_selector=product.stock_selector or None,
        check_interval_seconds=watch.check_interval_seconds,
        title=product.title,
        price=product.price,
        currency=product.currency,
        availability=product.availability,
        in_stock=product.in_stock,
        status=product.status,
        last_checked_at=product.last_checked_at,
        last_changed_at=product.last_changed_at,
        last_error=product.last_error,
        created_at=watch.created_at,
    )


def _interval(requested: int | None, settings: SettingsDep) -> int:
    interval = requested or settings.default_check_interval_seconds
    if interval < settings.min_check_interval_seconds:
        raise InvalidInput(
            f"check_interval_seconds must be at least {settings.min_check_interval_seconds}",
            field="check_interval_seconds",
            rule="greater_than_equal",
        )
    return interval


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ProductOut,
    responses={200: {"model": ProductOut, "description": "You already watch this product."}},
)
async def watch_product(
    body: ProductCreate,
    principal: CurrentPrincipal,
    session: SessionDep,
    redis: RedisDep,
    settings: SettingsDep,
    response: Response,
) -> ProductOut:
    """Watch a product page; two users adding the same page share one product underneath."""
    url = normalise_url(body.url)
    if reason := refusal_reason(url, settings.fetch_allowed_hosts):
        raise InvalidInput(f"this URL can never be fetched: {reason}", field="url")
    watched, created = await ProductRepository(session).watch(
        principal.user_id,
        url,
        selector=body.selector or "",
        stock_selector=body.stock_selector or "",
        check_interval_seconds=_interval(body.check_interval_seconds, settings),
    )
    if created and watched.product.last_checked_at is None:
        # A new product gets its first check now rather than at the next scheduler tick.
        enqueue_after_commit(session, redis, CheckProduct(product_id=watched.product.id))
    if not created:
        response.status_code = status.HTTP_200_OK
    return product_out(watched)


async def _list_products_fast(request: Request) -> Response | None:
    """`list_products` without FastAPI's dependency solving (`services.api.fastroute`)."""
    query = plain_query(request, "cursor", "limit")
    if query is None:
        return None
    cursor = query.get("cursor")
    limit = plain_int(query.get("limit"), DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    if limit is None or (cursor is not None and len(cursor) > MAX_CURSOR_LENGTH):
        return None
    principal = await authenticate(request, bearer_token(request))
    async with read_connection(request) as connection:
        page = await watched_products_page(connection, principal.user_id, cursor, limit)
    return _json({"items": page.items, "next_cursor": page.next_cursor})


@router.get("", response_model=PageOut[ProductOut])
@fast_path(_list_products_fast)
async def list_products(
    principal: CurrentPrincipal, connection: ReadConnectionDep, paging: Paging
) -> Response:
    """The user's watched products, oldest first."""
    page = await watched_products_page(connection, principal.user_id, paging.cursor, paging.limit)
    return _json({"items": page.items, "next_cursor": page.next_cursor})


async def _get_product_fast(request: Request) -> Response | None:
    """`get_product` without FastAPI's dependency solving (`services.api.fastroute`)."""
    product_id = canonical_uuid(request.path_params["product_id"])
    if product_id is None:
        return None  # the endpoint validates it (422) after authenticating, as always
    principal = await authenticate(request, bearer_token(request))
    async with read_connection(request) as connection:
        row = await watched_row(connection, principal.user_id, product_id)
    return _json(row)


@router.get("/{product_id}", response_model=ProductOut)
@fast_path(_get_product_fast)
async def get_product(
    product_id: uuid.UUID, principal: CurrentPrincipal, connection: ReadConnectionDep
) -> Response:
    row = await watched_row(connection, principal.user_id, product_id)
    return _json(row)


@router.patch("/{product_id}", response_model=ProductOut)
async def update_product(
    product_id: uuid.UUID,
    body: ProductUpdate,
    principal: CurrentPrincipal,
    session: SessionDep,
    settings: SettingsDep,
) -> ProductOut:
    """Change how often the product is checked for you."""
    products = ProductRepository(session)
    watched = await products.get(principal.user_id, product_id)
    await products.set_interval(watched, _interval(body.check_interval_seconds, settings))
    return product_out(watched)


@router.delete("/{product_id}", status_code=status.HTTP_204_NO_CONTENT)
async def unwatch_product(
    product_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> None:
    """Stop watching (your alert rules on it go too)."""
    await ProductRepository(session).unwatch(principal.user_id, product_id)


@router.post("/{product_id}/check", status_code=status.HTTP_202_ACCEPTED)
async def check_now(
    product_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep, redis: RedisDep
) -> CheckQueued:
    """Check the product now (queues a scrape)."""
    products = ProductRepository(session)
    watched = await products.get(principal.user_id, product_id)
    await products.request_check(watched.product.id)
    enqueue_after_commit(session, redis, CheckProduct(product_id=watched.product.id))
    return CheckQueued()


async def _price_history_fast(request: Request) -> Response | None:
    """`price_history` without FastAPI's dependency solving (`services.api.fastroute`)."""
    product_id = canonical_uuid(request.path_params["product_id"])
    query = plain_query(request, "since", "until", "limit")
    if product_id is None or query is None:
        return None
    limit = plain_int(query.get("limit"), MAX_HISTORY_ROWS, 1, MAX_HISTORY_ROWS)
    since, until = _query_time(query.get("since")), _query_time(query.get("until"))
    if limit is None or since is _UNREAD or until is _UNREAD:
        return None
    principal = await authenticate(request, bearer_token(request))
    async with read_connection(request) as connection:
        return await _history(connection, principal, product_id, since, until, limit)


@router.get("/{product_id}/prices", response_model=PriceHistoryOut)
@fast_path(_price_history_fast)
async def price_history(
    product_id: uuid.UUID,
    principal: CurrentPrincipal,
    connection: ReadConnectionDep,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=MAX_HISTORY_ROWS,
            description="Only the newest this many rows (still listed oldest first): a page "
            "showing the latest changes need not read a year of them.",
        ),
    ] = MAX_HISTORY_ROWS,
) -> Response:
    """The change-only history: each row is one state, from first to last seen."""
    return await _history(connection, principal, product_id, since, until, limit)


async def _history(
    connection: Readable,
    principal: Principal,
    product_id: uuid.UUID,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> Response:
    since, until = _aware(since, "since"), _aware(until, "until")
    if since and until and since > until:
        raise InvalidInput("since must not be after until", field="since", rule="ordered")
    rows = await watched_history(connection, principal.user_id, product_id, since, until, limit)
    return _json({"product_id": product_id, "items": rows})


#: What `_query_time` gives for a value it cannot read as the endpoint would.
_UNREAD: Any = object()
_QUERY_TIME: TypeAdapter[datetime] = TypeAdapter(datetime)


def _query_time(text: str | None) -> datetime | None:
    """A time query parameter read by the same validator FastAPI uses for the endpoint's
    `datetime | None`; `_UNREAD` where it refuses it (the endpoint's 422 then says why)."""
    if text is None:
        return None
    try:
        return _QUERY_TIME.validate_python(text)
    except ValidationError:
        return _UNREAD  # type: ignore[no-any-return]


async def _price_stats_fast(request: Request) -> Response | None:
    """`price_stats` without FastAPI's dependency solving (`services.api.fastroute`)."""
    product_id = canonical_uuid(request.path_params["product_id"])
    if product_id is None or plain_query(request) is None:
        return None
    principal = await authenticate(request, bearer_token(request))
    async with read_connection(request) as connection:
        return await _stats(connection, principal, product_id)


@router.get("/{product_id}/stats", response_model=PriceStatsOut)
@fast_path(_price_stats_fast)
async def price_stats(
    product_id: uuid.UUID, principal: CurrentPrincipal, connection: ReadConnectionDep
) -> Response:
    """Current, lowest and highest ever, and the 30/90-day low and mean."""
    return await _stats(connection, principal, product_id)


async def _stats(connection: Readable, principal: Principal, product_id: uuid.UUID) -> Response:
    return _json(await watched_stats(connection, principal.user_id, product_id, datetime.now(UTC)))


def _json(body: dict[str, Any]) -> Response:
    """A body of plain values (rows as the repository gives them, in the response model's
    field order) as JSON, serialised once in Rust. pydantic-core writes each value as the
    declared model's serialiser would (Decimal and UUID as strings, datetimes in ISO 8601
    with `Z` for UTC, enum names as their strings): the same bytes, without building and
    validating a model object per row (tests/api pin the equality)."""
    return Response(to_json(body), media_type="application/json")


@router.get(
    "/{product_id}/chart.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}, "description": "The chart, as SVG."}},
)
async def price_chart(
    product_id: uuid.UUID,
    request: Request,
    principal: CurrentPrincipal,
    session: ReadSessionDep,
    days: Annotated[int, Query(ge=MIN_DAYS, le=MAX_DAYS, description="How far back.")] = (
        DEFAULT_DAYS
    ),
    width: Annotated[int, Query(ge=MIN_WIDTH, le=MAX_WIDTH, description="Pixels.")] = (
        DEFAULT_WIDTH
    ),
    height: Annotated[int, Query(ge=MIN_HEIGHT, le=MAX_HEIGHT, description="Pixels.")] = (
        DEFAULT_HEIGHT
    ),
    locale: Annotated[
        str | None,
        Query(
            max_length=35,
            pattern=LOCALE_TAG,
            description="How to write amounts and dates (`de-DE`, `ja`); default: the "
            "request's Accept-Language, else the currency's home locale (¥1,280 / "
            "22,90 € / $1,299.00).",
        ),
    ] = None,
    tz: Annotated[
        str,
        Query(
            max_length=64,
            description="The IANA time zone the time axis is read in (`Asia/Tokyo`); UTC "
            "by default.",
        ),
    ] = "UTC",
) -> Response:
    """The price history as a chart a person reads at a glance: dates, prices in the
    currency's format, out-of-stock spans shaded, the lowest price ever and your "below"
    alerts on this product as lines, the current price labelled. Times are UTC unless `tz`
    names another zone."""
    zone = _zone(tz)
    watched = await ProductRepository(session).get(principal.user_id, product_id)
    now = datetime.now(UTC)
    rows = await PriceRepository(session).history(
        watched.product.id, now - timedelta(days=days), None
    )
    stats = await PriceRepository(session).stats(watched.product, now)
    thresholds = await AlertRepository(session).below_thresholds(watched.watch.id)
    svg = price_chart_svg(
        rows,
        now=now,
        days=days,
        width=width,
        height=height,
        thresholds=thresholds,
        lowest_ever=stats.lowest,
        locale=_chart_locale(locale, request.headers.get("accept-language")),
        title=watched.product.title,
        zone=zone,
    )
    return Response(svg, media_type="image/svg+xml")


def _zone(name: str) -> ZoneInfo:
    """The time zone called `name`, or a 422 naming the parameter."""
    try:
        if name in _TIME_ZONES:
            return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        pass
    raise InvalidInput(
        f"unknown time zone {name!r}: give an IANA name such as Asia/Tokyo or UTC",
        field="tz", rule="time_zone", location="query",
    )  # fmt: skip


_TIME_ZONES = frozenset(available_timezones())


def _chart_locale(requested: str | None, accept_language: str | None) -> str | None:
    """The reader's locale: `?locale=` (refused when CLDR does not know it), else the
    first Accept-Language entry CLDR knows, else None (the currency's home locale)."""
    if requested is not None:
        if parse_locale(requested) is None:
            raise InvalidInput(
                f"unknown locale {requested!r}", field="locale", rule="locale", location="query"
            )
        return requested.replace("-", "_")
    for tag in preferred_languages(accept_language or ""):
        if parse_locale(tag) is not None:
            return tag.replace("-", "_")
    return None


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise InvalidInput(
            f"{field} must carry a timezone (e.g. 2026-01-31T00:00:00Z)",
            field=field,
            rule="timezone_aware",
        )
    try:
        # PostgreSQL is sent the time in UTC: 0001-01-01T00:00:00+05:00 has none (was a 500).
        value.astimezone(UTC)
    except OverflowError as exc:
        raise InvalidInput(
            f"{field} is out of range: in UTC it must fall in the years 1 to 9999",
            field=field,
            rule="datetime_range",
        ) from exc
    return value


@router.post(
    "/preview",
    response_model=PreviewOut,
    responses={
        422: problem_response(
            "Invalid input, or a URL the fetch policy refuses (`code` says why)."
        ),
        502: problem_response("The shop failed or answered an error (`code` says how)."),
        504: problem_response("The shop did not answer in time."),
    },
)
async def preview_product(
    body: PreviewRequest, principal: CurrentPrincipal, settings: SettingsDep, request: Request
) -> PreviewOut:
    """Read a page as PriceAlert would, with selector suggestions; stores nothing."""
    # Each preview costs a fetch from a shop: its own limit, on top of the key's.
    await enforce(
        request, f"preview:{principal.key_id}", settings.preview_limit_per_minute, 60,
        what="previews",
    )  # fmt: skip
    return await service.preview(body, settings)
