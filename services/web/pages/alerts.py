"""Alerts of all five kinds: create, edit, pause and resume, delete."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from pricealert.kinds import RuleKind
from services.web.api_client import ApiError
from services.web.pages.auth import local_path
from services.web.pages.lists import all_items
from services.web.visit import SignedInDep, Visit, one

router = APIRouter()

#: The rule kinds in the order the form offers them (most asked for first).
KINDS = (
    RuleKind.BELOW, RuleKind.DROP_PERCENT, RuleKind.LOWEST_EVER, RuleKind.BACK_IN_STOCK,
    RuleKind.CHANGE,
)  # fmt: skip
#: Kinds whose rule has a threshold (an amount, or a percentage).
THRESHOLD_KINDS = (RuleKind.BELOW, RuleKind.DROP_PERCENT)


async def _lists(visit: Visit) -> dict[str, Any]:
    alerts, products, channels = await asyncio.gather(
        all_items(visit, "/v1/alerts"),
        all_items(visit, "/v1/products"),
        all_items(visit, "/v1/channels"),
    )
    return {
        "alerts": alerts,
        "products": products,
        "product_names": {p["id"]: p for p in products},
        "channels": channels,
        "channel_names": {c["id"]: c for c in channels},
        "kinds": KINDS,
    }


def _alert_body(fields: dict[str, list[str]], kind: str) -> dict[str, Any]:
    body: dict[str, Any] = {"channel_ids": [c for c in fields.get("channel_ids", []) if c]}
    if kind in THRESHOLD_KINDS:
        body["threshold"] = one(fields, "threshold")
    cooldown = one(fields, "cooldown_hours", "0")
    try:
        body["cooldown_seconds"] = round(float(cooldown) * 3600)
    except (ValueError, OverflowError):  # the API names what is wrong with it
        body["cooldown_seconds"] = cooldown
    return body


@router.get("/alerts")
async def alerts_page(visit: SignedInDep, done: str = "") -> Response:
    return visit.render("alerts.html", done=done, new_alert={}, errors={}, **await _lists(visit))


@router.post("/alerts")
async def create_alert(visit: SignedInDep) -> Response:
    fields = await visit.form()
    kind = one(fields, "kind")
    body = {"product_id": one(fields, "product_id"), "kind": kind, **_alert_body(fields, kind)}
    back = local_path(one(fields, "back"), "/alerts")
    try:
        await visit.api("POST", "/v1/alerts", body)
    except ApiError as error:
        if error.status not in (400, 404, 409, 422):
            raise
        errors = error.field_errors() or {"form": error.detail}
        if error.status == 409:
            errors = {"form": visit._("You already have this alert.")}
        form = {
            **body,
            "threshold": one(fields, "threshold"),
            "cooldown_hours": one(fields, "cooldown_hours"),
        }
        return visit.render(
            "alerts.html",
            status=error.status,
            done="",
            new_alert=form,
            errors=errors,
            **await _lists(visit),
        )
    return visit.redirect(f"{back}{'&' if '?' in back else '?'}done=alert_created")


@router.get("/alerts/{alert_id}/edit")
async def edit_alert(alert_id: uuid.UUID, visit: SignedInDep) -> Response:
    alert, lists = await asyncio.gather(visit.api("GET", f"/v1/alerts/{alert_id}"), _lists(visit))
    return visit.render(
        "alert_edit.html",
        alert=alert,
        errors={},
        **{k: v for k, v in lists.items() if k != "alerts"},
    )


@router.post("/alerts/{alert_id}")
async def save_alert(alert_id: uuid.UUID, visit: SignedInDep) -> Response:
    fields = await visit.form()
    alert = await visit.api("GET", f"/v1/alerts/{alert_id}")
    body = _alert_body(fields, alert["kind"])
    body["enabled"] = one(fields, "enabled") == "on"
    try:
        await visit.api("PATCH", f"/v1/alerts/{alert_id}", body)
    except ApiError as error:
        if error.status not in (400, 409, 422):
            raise
        errors = error.field_errors() or {"form": error.detail}
        if error.status == 409:
            errors = {"form": visit._("You already have this alert.")}
        lists = await _lists(visit)
        edited = {**alert, **body, "threshold": one(fields, "threshold")}
        return visit.render(
            "alert_edit.html",
            status=error.status,
            alert=edited,
            errors=errors,
            **{k: v for k, v in lists.items() if k != "alerts"},
        )
    return visit.redirect("/alerts?done=alert_saved")


@router.post("/alerts/{alert_id}/pause")
async def pause_alert(alert_id: uuid.UUID, visit: SignedInDep) -> Response:
    return await _set_enabled(visit, alert_id, enabled=False)


@router.post("/alerts/{alert_id}/resume")
async def resume_alert(alert_id: uuid.UUID, visit: SignedInDep) -> Response:
    return await _set_enabled(visit, alert_id, enabled=True)


async def _set_enabled(visit: Visit, alert_id: uuid.UUID, *, enabled: bool) -> Response:
    fields = await visit.form()
    await visit.api("PATCH", f"/v1/alerts/{alert_id}", {"enabled": enabled})
    back = local_path(one(fields, "back"), "/alerts")
    done = "alert_resumed" if enabled else "alert_paused"
    return visit.redirect(f"{back}{'&' if '?' in back else '?'}done={done}")


@router.post("/alerts/{alert_id}/delete")
async def delete_alert(alert_id: uuid.UUID, visit: SignedInDep) -> Response:
    fields = await visit.form()
    await visit.api("DELETE", f"/v1/alerts/{alert_id}")
    back = local_path(one(fields, "back"), "/alerts")
    return visit.redirect(f"{back}{'&' if '?' in back else '?'}done=alert_deleted")
