"""Alert rules on watched products."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from pricealert.models import AlertRule
from pricealert.repositories.alerts import AlertRepository
from pricealert.repositories.channels import ChannelRepository
from pricealert.repositories.products import ProductRepository
from services.api.alerts.schemas import AlertCreate, AlertOut, AlertUpdate
from services.api.alerts.service import check_threshold, initial_state
from services.api.deps import CurrentPrincipal, SessionDep
from services.api.schemas import MAX_PAGE_SIZE, PageOut

router = APIRouter(prefix="/alerts", tags=["alerts"])


def alert_out(rule: AlertRule, channel_ids: list[uuid.UUID]) -> AlertOut:
    return AlertOut(
        id=rule.id,
        product_id=rule.watch_id,
        kind=rule.kind,
        threshold=rule.threshold,
        channel_ids=channel_ids,
        cooldown_seconds=rule.cooldown_seconds,
        enabled=rule.enabled,
        last_fired_at=rule.last_fired_at,
        created_at=rule.created_at,
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=AlertOut)
async def create_alert(
    body: AlertCreate, principal: CurrentPrincipal, session: SessionDep
) -> AlertOut:
    """Alert me through these channels when this happens to this product."""
    threshold = check_threshold(body.kind, body.threshold)
    watched = await ProductRepository(session).get(principal.user_id, body.product_id)
    channels = await ChannelRepository(session).owned(principal.user_id, body.channel_ids)
    channel_ids = sorted({c.id for c in channels})
    rule = await AlertRepository(session).create(
        user_id=principal.user_id,
        watch_id=watched.watch.id,
        product_id=watched.product.id,
        kind=body.kind,
        threshold=threshold,
        cooldown_seconds=body.cooldown_seconds,
        channel_ids=channel_ids,
        state=initial_state(watched.product),
    )
    return alert_out(rule, channel_ids)


@router.get("", response_model=PageOut[AlertOut])
async def list_alerts(
    principal: CurrentPrincipal,
    session: SessionDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> PageOut[AlertOut]:
    alerts = AlertRepository(session)
    page = await alerts.list_page(principal.user_id, cursor, limit)
    channel_ids = await alerts.channel_ids([r.id for r in page.items])
    return PageOut(
        items=[alert_out(r, channel_ids[r.id]) for r in page.items], next_cursor=page.next_cursor
    )


@router.get("/{alert_id}", response_model=AlertOut)
async def get_alert(
    alert_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> AlertOut:
    alerts = AlertRepository(session)
    rule = await alerts.get(principal.user_id, alert_id)
    return alert_out(rule, (await alerts.channel_ids([rule.id]))[rule.id])


@router.patch("/{alert_id}", response_model=AlertOut)
async def update_alert(
    alert_id: uuid.UUID, body: AlertUpdate, principal: CurrentPrincipal, session: SessionDep
) -> AlertOut:
    """Change the threshold, channels, cooldown, or pause the alert."""
    alerts = AlertRepository(session)
    rule = await alerts.get(principal.user_id, alert_id)
    fields = body.model_fields_set
    if "threshold" in fields:
        rule.threshold = check_threshold(rule.kind, body.threshold)
    if body.cooldown_seconds is not None:
        rule.cooldown_seconds = body.cooldown_seconds
    if body.enabled is not None:
        rule.enabled = body.enabled
    if body.channel_ids is not None:
        channels = await ChannelRepository(session).owned(principal.user_id, body.channel_ids)
        await alerts.set_channels(rule.id, sorted({c.id for c in channels}))
    await session.flush()
    await session.refresh(rule)
    return alert_out(rule, (await alerts.channel_ids([rule.id]))[rule.id])


@router.delete("/{alert_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_alert(
    alert_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> None:
    alerts = AlertRepository(session)
    await alerts.delete(await alerts.get(principal.user_id, alert_id))
