"""Watched products: the list, adding one by URL (with what PriceAlert reads from it first),
one product's page (prices, statistics, chart, history, status, its alerts), its chart."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from markupsafe import Markup

from services.web.api_client import ApiError
from services.web.pages.lists import all_items
from services.web.visit import SignedInDep, Visit, one

router = APIRouter()

#: How often a product may be checked, as the add and edit forms offer it.
INTERVALS = (900, 3600, 6 * 3600, 24 * 3600)
CHART_DAYS = (30, 90, 365)
#: Changes listed under the chart unless all are asked for (a year can hold thousands).
HISTORY_ROWS = 100


@router.get("/products")
async def products(visit: SignedInDep, done: str = "", cursor: str = "") -> Response:
    params: dict[str, Any] = {"limit": 100}
    if cursor:
        params["cursor"] = cursor[:200]
    page = await visit.api("GET", "/v1/products", params=params)
    return visit.render(
        "products.html", products=page["items"], next_cursor=page["next_cursor"], done=done
    )


@router.get("/products/new")
async def new_product(visit: SignedInDep, url: str = "") -> Response:
    return visit.render(
        "product_new.html", form={"url": url[:4096]}, preview=None, errors={}, intervals=INTERVALS
    )


@router.post("/products/preview")
async def preview(visit: SignedInDep) -> Response:
    """What PriceAlert reads from the page (and selectors to pick from), before saving."""
    form = await visit.form_values("url", "selector", "stock_selector", "interval")
    body = {"url": form["url"]}
    for name in ("selector", "stock_selector"):
        if form[name]:
            body[name] = form[name]
    try:
        found = await visit.api("POST", "/v1/products/preview", body)
    except ApiError as error:
        if error.status not in (400, 422, 429, 502, 504):
            raise
        errors = error.field_errors() or {"url": error.detail}
        if error.status in (502, 504):
            errors = {
                "url": visit._(
                    "The shop did not answer as expected: %(detail)s", detail=error.detail
                )
            }
        return visit.render(
            "product_new.html",
            status=error.status if error.status < 500 else 200,
            form=form,
            preview=None,
            errors=errors,
            intervals=INTERVALS,
        )
    return visit.render(
        "product_new.html", form=form, preview=found, errors={}, intervals=INTERVALS
    )


@router.post("/products")
async def add_product(visit: SignedInDep) -> Response:
    form = await visit.form_values(
        "url", "selector", "stock_selector", "interval", "custom_selector"
    )
    selector = form["custom_selector"] or form["selector"]
    body: dict[str, Any] = {"url": form["url"]}
    if selector:
        body["selector"] = selector
    if form["stock_selector"]:
        body["stock_selector"] = form["stock_selector"]
    if form["interval"].isdigit():
        body["check_interval_seconds"] = int(form["interval"])
    try:
        product = await visit.api("POST", "/v1/products", body)
    except ApiError as error:
        if error.status not in (400, 409, 422):
            raise
        return visit.render(
            "product_new.html",
            status=error.status,
            form=form,
            preview=None,
            errors=error.field_errors() or {"url": error.detail},
            intervals=INTERVALS,
        )
    return visit.redirect(f"/products/{product['id']}?done=added")


async def product_view(
    visit: Visit, product_id: uuid.UUID, days: int, every_change: bool
) -> dict[str, Any]:
    """Everything the product page shows, asked of the API at once — the chart too: drawn
    into the page, it costs no second round trip after the HTML (the SLO counts the load
    event, which would wait for an image)."""
    base = f"/v1/products/{product_id}"
    history_params = {} if every_change else {"limit": HISTORY_ROWS + 1}
    assert visit.session is not None
    product, stats, history, alerts, channels, chart = await asyncio.gather(
        visit.api("GET", base),
        visit.api("GET", f"{base}/stats"),
        visit.api("GET", f"{base}/prices", params=history_params),
        all_items(visit, "/v1/alerts"),
        all_items(visit, "/v1/channels"),
        visit.client.raw(
            "GET", f"{base}/chart.svg",
            params={
                "days": days, "width": 760, "height": 300, "locale": visit.locale,
                "tz": visit.session.time_zone,
            },
            key=visit.session.api_key, client_address=visit.client_address,
            request_id=visit.request_id,
        ),
    )  # fmt: skip
    changes = list(reversed(history["items"]))
    return {
        "product": product,
        "stats": stats,
        "history": changes[:HISTORY_ROWS] if not every_change else changes,
        "more_history": not every_change and len(changes) > HISTORY_ROWS,
        "alerts": [a for a in alerts if a["product_id"] == str(product_id)],
        "channels": channels,
        "channel_names": {c["id"]: c for c in channels},
        "intervals": INTERVALS,
        "chart_days": CHART_DAYS,
        # The API's own SVG (amounts and text escaped by it); under this page's CSP no
        # script or inline handler could run from it even if one slipped in.
        "chart_svg": Markup(chart.text) if chart.text.startswith("<svg") else "",  # noqa: S704
    }


@router.get("/products/{product_id}")
async def product_page(
    product_id: uuid.UUID,
    visit: SignedInDep,
    done: str = "",
    days: int = 90,
    all: str = "",
) -> Response:
    days = days if days in CHART_DAYS else 90
    view = await product_view(visit, product_id, days, every_change=bool(all))
    return visit.render("product.html", done=done, days=days, new_alert={}, errors={}, **view)


@router.post("/products/{product_id}/check")
async def check_now(product_id: uuid.UUID, visit: SignedInDep) -> Response:
    await visit.form()
    await visit.api("POST", f"/v1/products/{product_id}/check")
    return visit.redirect(f"/products/{product_id}?done=check_queued")


@router.post("/products/{product_id}/interval")
async def set_interval(product_id: uuid.UUID, visit: SignedInDep) -> Response:
    fields = await visit.form()
    interval = one(fields, "interval")
    await visit.api(
        "PATCH", f"/v1/products/{product_id}",
        {"check_interval_seconds": int(interval) if interval.isdigit() else interval},
    )  # fmt: skip
    return visit.redirect(f"/products/{product_id}?done=saved")


@router.post("/products/{product_id}/delete")
async def unwatch(product_id: uuid.UUID, visit: SignedInDep) -> Response:
    await visit.form()
    await visit.api("DELETE", f"/v1/products/{product_id}")
    return visit.redirect("/products?done=removed")
