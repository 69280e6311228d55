"""Signing in with an email link: the way a person (the web UI) gets a key.

`POST /v1/sign-in {"email"}` answers 202 the same whether or not the address has an
account, and after the answer: finds the account (or makes one, with no key: the link
is what proves the address), issues a one-time `sign_in` token and has the notifier mail
it as a link to the web UI (`PRICEALERT_WEB_BASE_URL`). `POST /v1/sign-in/confirm
{"token"}` redeems it once: the address is verified (and the user's email channels to
it, releasing what they held) — and, as for key recovery, an account whose address was
never verified is claimed by the link's reader: every key made before (by whoever signed
up with the address) is revoked — and a *session* key is made, expiring after
`PRICEALERT_SESSION_KEY_TTL_HOURS`. Revoking a session key (signing out) is always
allowed and session keys never count as the last working key: a new link signs in again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, BackgroundTasks, FastAPI, Request, status

from pricealert.db import session_scope
from pricealert.logging import get_logger
from pricealert.repositories.tokens import Redeemed, TokenRepository
from pricealert.repositories.users import UserRepository
from pricealert.tokens import parse_token
from services.api.deps import RedisDep, SessionDep, SettingsDep
from services.api.keycache import announce_revocation
from services.api.middleware import client_address
from services.api.ratelimit import enforce
from services.api.sessions.schemas import (
    SessionCreated,
    SignInAccepted,
    SignInConfirm,
    SignInRequest,
)
from services.api.users.endpoints import InvalidToken
from services.api.users.schemas import ApiKeyOut, UserOut
from services.api.users.service import enforce_address_limits, mail_link, verify_and_release

router = APIRouter(prefix="/sign-in", tags=["sessions"])
_security_log = get_logger("pricealert.security")


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=SignInAccepted)
async def sign_in(
    body: SignInRequest, request: Request, settings: SettingsDep, background: BackgroundTasks
) -> SignInAccepted:
    """Mail a one-time sign-in link to this address (an account is made for a new address).
    The answer is the same whether or not the address has an account."""
    email = str(body.email).strip().lower()
    await enforce_address_limits(
        request, "sign-in", email, per_client=settings.sign_in_limit_per_hour,
        per_email=settings.sign_in_limit_per_email_per_hour,
    )  # fmt: skip
    # After the answer is sent: its timing cannot tell whether the address has an account.
    background.add_task(_issue_sign_in_token, request.app, email, body)
    return SignInAccepted()


async def _issue_sign_in_token(app: FastAPI, email: str, body: SignInRequest) -> None:
    try:
        async with session_scope(app.state.sessionmaker) as session:
            users = UserRepository(session)
            user = await users.user_by_email(email)
            if user is None:
                user = await users.create_user(
                    email, time_zone=body.time_zone or "UTC", locale=body.locale
                )
                _security_log.info("user.created", category="security", user_id=str(user.id))
            await mail_link(
                session, app.state.redis, user, purpose="sign_in", event="sign_in.token_issued"
            )
    except Exception:  # after the response: nobody to tell but the log
        _security_log.exception("sign_in.failed", category="security")


@router.post("/confirm", status_code=status.HTTP_201_CREATED, response_model=SessionCreated)
async def confirm_sign_in(
    body: SignInConfirm,
    request: Request,
    session: SessionDep,
    redis: RedisDep,
    settings: SettingsDep,
) -> SessionCreated:
    """Redeem a sign-in link's token (once): the address is verified and a session key,
    shown once, is made for this browser."""
    await enforce(
        request, f"sign-in-confirm:{client_address(request.scope)}",
        settings.sign_in_limit_per_hour, 3600,
    )  # fmt: skip
    invalid = InvalidToken(
        "the sign-in link is unknown, expired or already used: ask for a new one", field="token"
    )
    parsed = parse_token(body.token)
    if parsed is None:
        raise invalid
    now = datetime.now(UTC)
    redemption = await TokenRepository(session).redeem_token(parsed[0], "sign_in", parsed[1], now)
    if redemption.outcome is not Redeemed.OK or redemption.token is None:
        _security_log.warning("sign_in.refused", category="security")
        raise invalid
    token = redemption.token
    users = UserRepository(session)
    user = await users.get_user(token.user_id)
    if user.email_verified_at is None:
        revoked = await users.revoke_all_keys(user.id, now)
        announce_revocation(session, redis, request.app.state.key_cache, user.id)
        if revoked:
            _security_log.warning(
                "account.claimed", category="security", user_id=str(user.id), keys_revoked=revoked
            )
    await verify_and_release(
        session, redis, user.id, "email", token.address, now, purpose="sign_in"
    )
    row, key = await users.create_key(
        token.user_id,
        name=body.name or "web sign-in",
        expires_at=now + timedelta(hours=settings.session_key_ttl_hours),
        kind="session",
    )
    await session.refresh(user)
    _security_log.info(
        "sign_in.confirmed", category="security", user_id=str(token.user_id), key_id=str(row.id)
    )
    return SessionCreated(
        **ApiKeyOut.model_validate(row).model_dump(), api_key=key, user=UserOut.model_validate(user)
    )
