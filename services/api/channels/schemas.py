from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Literal

from pydantic import EmailStr, Field, TypeAdapter, ValidationError, model_validator

from pricealert.errors import PriceAlertError
from pricealert.urls import normalise_url
from services.api.schemas import RequestModel, ResponseModel

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_EMAIL: TypeAdapter[str] = TypeAdapter(EmailStr)

ChannelKind = Literal["email", "sms", "slack", "webhook"]


class ChannelCreate(RequestModel):
    kind: ChannelKind
    target: str = Field(
        max_length=2048,
        description="email: an address; sms: an E.164 number (+819012345678); "
        "slack: an incoming-webhook URL; webhook: your endpoint URL.",
    )

    @model_validator(mode="after")
    def _target_fits_kind(self) -> ChannelCreate:
        target = self.target.strip()
        if self.kind == "email":
            try:
                self.target = _EMAIL.validate_python(target).lower()
            except ValidationError as exc:
                raise ValueError("target is not a valid email address") from exc
        elif self.kind == "sms":
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
    kind: str
    target: str
    enabled: bool
    disabled_reason: str | None
    created_at: datetime


class ChannelCreated(ChannelOut):
    secret: str | None = Field(
        description="Webhook signing secret (whsec_...), shown once; null for other kinds."
    )


class TestQueued(ResponseModel):
    notification_id: uuid.UUID
    status: str = "queued"
