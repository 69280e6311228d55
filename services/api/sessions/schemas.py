from __future__ import annotations

from pydantic import EmailStr, Field

from pricealert.kinds import Locale
from pricealert.tokens import TOKEN_TTL
from services.api.schemas import RequestModel, ResponseModel
from services.api.users.schemas import ApiKeyCreated, TimeZone, UserOut

TOKEN_TTL_MINUTES = int(TOKEN_TTL.total_seconds() // 60)


class SignInRequest(RequestModel):
    email: EmailStr = Field(max_length=320)
    locale: Locale | None = Field(
        default=None,
        description="The language of a new account (and of its sign-in email); an existing "
        "account keeps its own.",
    )
    time_zone: TimeZone | None = Field(
        default=None, description="The time zone of a new account; an existing one keeps its own."
    )


class SignInAccepted(ResponseModel):
    status: str = "accepted"
    detail: str = Field(
        default="A sign-in link is on its way to this address (an account is made for it "
        f"if it has none). It works once, for {TOKEN_TTL_MINUTES} minutes.",
        description="The same answer whether or not the address has an account.",
    )


class SignInConfirm(RequestModel):
    token: str = Field(max_length=200, description="The `pat_...` token from the sign-in link.")
    name: str | None = Field(
        default=None, max_length=100, description="What to call this session (e.g. the browser)."
    )


class SessionCreated(ApiKeyCreated):
    """A session key (`kind: session`), shown once, with its user."""

    user: UserOut
