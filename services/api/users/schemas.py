from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import EmailStr, Field

from services.api.schemas import RequestModel, ResponseModel


class UserCreate(RequestModel):
    email: EmailStr = Field(max_length=320)


class UserCreated(ResponseModel):
    id: uuid.UUID
    email: str
    api_key: str = Field(description="Shown once: store it now.")


class UserOut(ResponseModel):
    id: uuid.UUID
    email: str
    created_at: datetime


class ApiKeyCreate(RequestModel):
    name: str | None = Field(default=None, max_length=100)
    expires_at: datetime | None = Field(
        default=None, description="When the key stops working (UTC); never by default."
    )


class ApiKeyOut(ResponseModel):
    id: uuid.UUID
    prefix: str = Field(description="The first characters of the key, to recognise it.")
    name: str | None
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    api_key: str = Field(description="Shown once: store it now.")
