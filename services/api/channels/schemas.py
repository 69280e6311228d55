from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Final

from pydantic import EmailStr, Field, TypeAdapter, ValidationError, model_validator

from pricealert.errors import PriceAlertError
from pricealert.kinds import ChannelKind, ChannelStatus
from pricealert.models import Channel
from pricealert.repositories.verification import HELD_MAX_AGE
from pricealert.urls import normalise_url
from services.api.schemas import RequestModel, ResponseModel

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_EMAIL: TypeAdapter[str] = TypeAdapter(EmailStr)

HELD_MAX_AGE_HOURS = int(HELD_MAX_AGE.total_seconds() // 3600)

#: Where each channel kind delivers, as the API reference says it.
CHANNEL_KIND_DOCS: Final[dict[ChannelKind, str]] = {
    ChannelKind.EMAIL: "a message to an address (verified by a code first)",
    ChannelKind.SMS: "a text to a phone number (verified by a code first)",
    ChannelKind.SLACK: "a post to a Slack incoming webhook",
    ChannelKind.WEBHOOK: "a signed JSON POST to your endpoint",
}
_KIND_DOC = "; ".join(f"`{kind}`: {doc}" for kind, doc in CHANNEL_KIND_DOCS.items()) + "."


class ChannelCreate(RequestModel):
    kind: ChannelKind = Field(description=_KIND_DOC, examples=["email"])
    target: str = Field(
        max_length=2048,
        description="email: an address; sms: an E.164 number (+819012345678); "
        "slack: an incoming-webhook URL; webhook: your endpoint URL.",
    )

    @model_validator(mode="after")
    def _target_fits_kind(self) -> ChannelCreate:
        target = self.target.strip()
        if self.kind is ChannelKind.EMAIL:
            try:
                self.target = _EMAIL.validate_python(target).lower()
            except ValidationError as exc:
                raise ValueError("target is not a valid email address") from exc
        elif self.kind is ChannelKind.SMS:
            if not _E164.match(target):
                raise ValueError("target must be a phone number in E.164 form, e.g. +819012345678")
            self.target = target
        else:
            try:
                self.target = normalise_url(target)
            except PriceAlertError as exc:
                raise ValueError(f"target: {exc.detail}") from exc
        return self


class ChannelOut(ResponseModel):
    id: uuid.UUID
    kind: ChannelKind = Field(description=_KIND_DOC)
    target: str
    status: ChannelStatus = Field(
        description="`pending_verification`: an email or SMS channel whose target has not "
        "entered the 6-digit code sent to it (POST /v1/channels/{id}/verify); deliveries to "
        "it are recorded `held` and go out once it is verified. `disabled`: see "
        "`disabled_reason`. `active` otherwise."
    )
    enabled: bool
    disabled_reason: str | None
    verified_at: datetime | None
    created_at: datetime

    @model_validator(mode="before")
    @classmethod
    def _status(cls, data: Any) -> Any:
        if isinstance(data, Channel):
            return {
                "id": data.id, "kind": data.kind, "target": data.target,
                "status": channel_status(data), "enabled": data.enabled,
                "disabled_reason": data.disabled_reason, "verified_at": data.verified_at,
                "created_at": data.created_at,
            }  # fmt: skip
        return data


def channel_status(channel: Channel) -> ChannelStatus:
    """What the user sees of a channel's state."""
    if channel.verified_at is None:
        return ChannelStatus.PENDING_VERIFICATION
    return ChannelStatus.ACTIVE if channel.enabled else ChannelStatus.DISABLED


class ChannelCreated(ChannelOut):
    secret: str | None = Field(
        description="Webhook signing secret (whsec_...), shown once; null for other kinds."
    )


class ChannelVerified(ChannelOut):
    released: int = Field(description="Held deliveries now on their way.")
    expired: int = Field(
        description="Held deliveries too old to send (detected more than "
        f"{HELD_MAX_AGE_HOURS} h ago), recorded `expired`."
    )


class TestQueued(ResponseModel):
    notification_id: uuid.UUID
    status: str = "queued"
