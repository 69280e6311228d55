"""Alert rules on watched products."""

from __future__ import annotations

import uuid
from decimal import Decimal

from fastapi import APIRouter, Request, status

from pricealert.errors import Conflict
from pricealert.models import AlertRule
from pricealert.repositories.alerts import AlertRepository
from pricealert.repositories.channels import ChannelRepository
from pricealert.repositories.products import ProductRepository
from services.api.alerts.schemas import AlertCreate, AlertOut, AlertUpdate
from services.api.alerts.service import check_threshold, initial_state
from services.api.deps import CurrentPrincipal, OwnPaging, SessionDep
from services.api.schemas import DecimalJSONRoute, PageOut, page_out

# DecimalJSONRoute: thresholds arrive as exact decimals, never through a float.
router = APIRouter(prefix="/alerts", tags=["alerts"], route_class=DecimalJSONRoute)


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


async def _refuse_duplicate(
    request: Request,
    alerts: AlertRepository,
    watch_id: uuid.UUID,
    kind: str,
    threshold: Decimal | None,
    channel_ids: list[uuid.UUID],
    other_than: uuid.UUID | None = None,
) -> None:
    """409 pointing at the user's existing rule with the same product, kind, threshold and
    channels: a second one would only send every alert twice."""
    same = await alerts.find_same(watch_id, kind, threshold, channel_ids, other_than=other_than)
    if same is not None:
        raise Conflict(
            "you already have this alert (same product, kind, threshold and channels)",
            existing_id=str(same.id),
            existing_url=str(request.url_for("get_alert", alert_id=same.id)),
        )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=AlertOut,
    responses={409: {"description": "The same alert exists: `existing_id`, `existing_url`."}},
)
async def create_alert(
    body: AlertCreate, request: Request, principal: CurrentPrincipal, session: SessionDep
) -> AlertOut:
    """Alert me through these channels when this happens to this product."""
    watched = await ProductRepository(session).get(principal.user_id, body.product_id)
    threshold = check_threshold(body.kind, body.threshold, watched.product.currency)
    channels = await ChannelRepository(session).owned(principal.user_id, body.channel_ids)
    channel_ids = sorted({c.id for c in channels})
    alerts = AlertRepository(session)
    await _refuse_duplicate(request, alerts, watched.watch.id, body.kind, threshold, channel_ids)
    rule = await alerts.create(
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
async def list_alerts(paging: OwnPaging, session: SessionDep) -> PageOut[AlertOut]:
    alerts = AlertRepository(session)
    page = await paging.read(alerts.list_page)
    channel_ids = await alerts.channel_ids([r.id for r in page.items])
    return page_out(page, lambda rule: alert_out(rule, channel_ids[rule.id]))


@router.get("/{alert_id}", response_model=AlertOut)
async def get_alert(
    alert_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> AlertOut:
    alerts = AlertRepository(session)
    rule = await alerts.get(principal.user_id, alert_id)
    return alert_out(rule, (await alerts.channel_ids([rule.id]))[rule.id])


@router.patch(
    "/{alert_id}",
    response_model=AlertOut,
    responses={409: {"description": "It would become the same as another of your alerts."}},
)
async def update_alert(
    alert_id: uuid.UUID,
    body: AlertUpdate,
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
) -> AlertOut:
    """Change the threshold, channels, cooldown, or pause the alert."""
    alerts = AlertRepository(session)
    rule = await alerts.get(principal.user_id, alert_id)
    fields = body.model_fields_set
    threshold = rule.threshold
    if "threshold" in fields:
        threshold = check_threshold(rule.kind, body.threshold, await alerts.product_currency(rule))
    channel_ids = (await alerts.channel_ids([rule.id]))[rule.id]
    if body.channel_ids is not None:
        channels = await ChannelRepository(session).owned(principal.user_id, body.channel_ids)
        channel_ids = sorted({c.id for c in channels})
    if "threshold" in fields or body.channel_ids is not None:
        await _refuse_duplicate(
            request, alerts, rule.watch_id, rule.kind, threshold, channel_ids, rule.id
        )
    rule.threshold = threshold
    if body.cooldown_seconds is not None:
        rule.cooldown_seconds = body.cooldown_seconds
    if body.enabled is not None:
        rule.enabled = body.enabled
    if body.channel_ids is not None:
        await alerts.set_channels(rule.id, channel_ids)
    await session.flush()
    await session.refresh(rule)
    return alert_out(rule, (await alerts.channel_ids([rule.id]))[rule.id])


@router.delete("/{alert_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_alert(
    alert_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> None:
    await AlertRepository(session).delete(principal.user_id, alert_id)
