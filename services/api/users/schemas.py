from __future__ import annotations

import uuid
import zoneinfo
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, EmailStr, Field

from pricealert.kinds import ApiKeyKind, Locale
from pricealert.tokens import TOKEN_TTL
from services.api.schemas import RequestModel, ResponseModel

TOKEN_TTL_MINUTES = int(TOKEN_TTL.total_seconds() // 60)


def _known_time_zone(value: str) -> str:
    """An IANA time zone name this server's tz database knows (`Asia/Tokyo`, `UTC`)."""
    if value not in _TIME_ZONES:
        raise ValueError("not an IANA time zone name (such as Asia/Tokyo, Europe/Paris or UTC)")
    return value


_TIME_ZONES = frozenset(zoneinfo.available_timezones())
TimeZone = Annotated[
    str,
    Field(max_length=64, description="An IANA time zone name: `Asia/Tokyo`, `UTC`."),
    AfterValidator(_known_time_zone),
]


class UserCreate(RequestModel):
    email: EmailStr = Field(max_length=320)


class UserCreated(ResponseModel):
    id: uuid.UUID
    email: str
    api_key: str = Field(description="Shown once: store it now.")
    email_verified_at: datetime | None = Field(
        default=None,
        description="Null until the 6-digit code mailed to `email` is entered "
        "(POST /v1/users/me/verify); key recovery mails only verified addresses.",
    )


#: Bounds of the daily caps a user may set (a cap of 0 SMS turns SMS off).
MAX_DAILY_NOTIFICATIONS = 1000
MAX_DAILY_SMS = 100


class UserOut(ResponseModel):
    id: uuid.UUID
    email: str
    created_at: datetime
    daily_notification_cap: int = Field(
        description="Notifications created per rolling 24 hours over every channel; more "
        "are recorded as `capped`, not sent."
    )
    daily_sms_cap: int = Field(
        description="SMS per rolling 24 hours (SMS costs money); counted within the overall cap."
    )
    email_verified_at: datetime | None = Field(
        description="When the user entered the code mailed to `email` (or opened a sign-in "
        "link sent there); null until then."
    )
    time_zone: str = Field(description="IANA time zone the web UI shows times in.")
    locale: Locale | None = Field(
        description="The language the user picked; null: the browser's (Accept-Language)."
    )


class UserUpdate(RequestModel):
    """The caps, time zone and language the user sets for themself; a field left out keeps
    its value."""

    daily_notification_cap: int | None = Field(default=None, ge=1, le=MAX_DAILY_NOTIFICATIONS)
    daily_sms_cap: int | None = Field(default=None, ge=0, le=MAX_DAILY_SMS)
    time_zone: TimeZone | None = None
    locale: Locale | None = None


class ApiKeyCreate(RequestModel):
    name: str | None = Field(default=None, max_length=100)
    expires_at: datetime | None = Field(
        default=None, description="When the key stops working (UTC); never by default."
    )


class ApiKeyOut(ResponseModel):
    id: uuid.UUID
    prefix: str = Field(description="The first characters of the key, to recognise it.")
    kind: ApiKeyKind = Field(
        description="`api`: a key you made (or got at sign-up or recovery); `session`: a "
        "browser's sign-in (POST /v1/sign-in/confirm), expiring on its own. Revoking a "
        "session signs that browser out; sessions never count as your last working key."
    )
    name: str | None
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    api_key: str = Field(description="Shown once: store it now.")


class CodeIn(RequestModel):
    code: str = Field(
        min_length=6, max_length=6, pattern=r"^[0-9]{6}$", description="The 6-digit code."
    )


class CodeSent(ResponseModel):
    status: str = "sent"
    expires_at: datetime = Field(description="The code works until then (UTC).")


class RecoveryRequest(RequestModel):
    email: EmailStr = Field(max_length=320)


class RecoveryAccepted(ResponseModel):
    status: str = "accepted"
    detail: str = Field(
        default="If this address belongs to an account whose email is verified, a recovery "
        f"token is on its way to it. It works once, for {TOKEN_TTL_MINUTES} minutes: POST it "
        "to /v1/users/recover/confirm.",
        description="The same answer whether or not the address has an account.",
    )


class RecoveryConfirm(RequestModel):
    token: str = Field(max_length=200, description="The `pat_...` token from the email.")
