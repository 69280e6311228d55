"""Sign-up, the user's email verification, API keys and key recovery."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, BackgroundTasks, FastAPI, Request, status

from pricealert.db import session_scope
from pricealert.errors import InvalidInput
from pricealert.logging import get_logger
from pricealert.repositories.tokens import Redeemed, TokenRepository
from pricealert.repositories.users import UserRepository
from pricealert.tokens import parse_token
from services.api.deps import CurrentPrincipal, OwnPaging, RedisDep, SessionDep, SettingsDep
from services.api.keycache import announce_revocation
from services.api.middleware import client_address
from services.api.ratelimit import enforce
from services.api.schemas import PageOut, page_out
from services.api.users.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    CodeIn,
    CodeSent,
    RecoveryAccepted,
    RecoveryConfirm,
    RecoveryRequest,
    UserCreate,
    UserCreated,
    UserOut,
    UserUpdate,
)
from services.api.users.service import (
    AlreadyVerified,
    CodesDep,
    enforce_address_limits,
    mail_link,
    redeem_code,
    verify_and_release,
)

router = APIRouter(tags=["users"])
_security_log = get_logger("pricealert.security")
_RESEND_EMAIL = "ask for a new one with POST /v1/users/me/resend"


class InvalidToken(InvalidInput, code="invalid_token", title="Invalid token"):
    """The sign-in or recovery token is unknown, expired or already used (each works once,
    for 30 minutes): ask for a new link."""


@router.post("/users", status_code=status.HTTP_201_CREATED, response_model=UserCreated)
async def sign_up(
    body: UserCreate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    codes: CodesDep,
) -> UserCreated:
    """Create a user and its first API key (shown once). A 6-digit code is mailed to the
    address: enter it with POST /v1/users/me/verify."""
    await enforce(
        request, f"signup:{client_address(request.scope)}", settings.signup_limit_per_hour, 3600
    )
    users = UserRepository(session)
    user = await users.create_user(str(body.email))
    _, key = await users.create_key(user.id, name="default")
    await codes.send(
        purpose="email_verification", user_id=user.id, via="email", address=user.email,
        limited=False,
    )  # fmt: skip
    _security_log.info("user.created", category="security", user_id=str(user.id))
    return UserCreated(id=user.id, email=user.email, api_key=key)


@router.post("/users/me/verify", response_model=UserOut)
async def verify_email(
    body: CodeIn,
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    redis: RedisDep,
) -> UserOut:
    """Enter the code mailed to your address. It also verifies your email channels to that
    address (and releases their held deliveries)."""
    user = await UserRepository(session).get_user(principal.user_id)
    if user.email_verified_at is None:
        await redeem_code(
            request.app.state.sessionmaker,
            redis,
            user_id=user.id,
            purpose="email_verification",
            code=body.code,
            resend_hint=_RESEND_EMAIL,
        )
        await session.refresh(user)
    return UserOut.model_validate(user)


@router.post("/users/me/resend", status_code=status.HTTP_202_ACCEPTED, response_model=CodeSent)
async def resend_email_code(
    principal: CurrentPrincipal, session: SessionDep, codes: CodesDep
) -> CodeSent:
    """Mail a new code to your address (the previous one stops working)."""
    user = await UserRepository(session).get_user(principal.user_id)
    if user.email_verified_at is not None:
        raise AlreadyVerified("your email is already verified")
    token = await codes.resend(
        resend_key=f"user:{user.id}", purpose="email_verification",
        user_id=user.id, via="email", address=user.email,
    )  # fmt: skip
    return CodeSent(expires_at=token.expires_at)


@router.get("/users/me", response_model=UserOut)
async def me(principal: CurrentPrincipal, session: SessionDep) -> UserOut:
    """The calling user."""
    return UserOut.model_validate(await UserRepository(session).get_user(principal.user_id))


@router.patch("/users/me", response_model=UserOut)
async def update_me(body: UserUpdate, principal: CurrentPrincipal, session: SessionDep) -> UserOut:
    """Set the calling user's daily notification and SMS caps, time zone and language."""
    users = UserRepository(session)
    await users.set_caps(
        principal.user_id,
        daily_notification_cap=body.daily_notification_cap,
        daily_sms_cap=body.daily_sms_cap,
    )
    user = await users.set_preferences(
        principal.user_id, time_zone=body.time_zone, locale=body.locale
    )
    return UserOut.model_validate(user)


@router.get("/api-keys", response_model=PageOut[ApiKeyOut])
async def list_keys(paging: OwnPaging, session: SessionDep) -> PageOut[ApiKeyOut]:
    """The user's keys (by prefix only; revoked ones too), oldest first, a page at a time."""
    page = await paging.read(UserRepository(session).list_keys_page)
    return page_out(page, ApiKeyOut.model_validate)


@router.post("/api-keys", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
async def create_key(
    body: ApiKeyCreate, principal: CurrentPrincipal, session: SessionDep
) -> ApiKeyCreated:
    """Another key for the user (shown once)."""
    expires_at = body.expires_at
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise InvalidInput("expires_at must carry a timezone", field="expires_at")
        if expires_at <= datetime.now(UTC):
            raise InvalidInput("expires_at must be in the future", field="expires_at")
    row, key = await UserRepository(session).create_key(principal.user_id, body.name, expires_at)
    _security_log.info("api_key.created", category="security", key_id=str(row.id))
    return ApiKeyCreated(**ApiKeyOut.model_validate(row).model_dump(), api_key=key)


@router.delete(
    "/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={409: {"description": "It is your last working key: create another first."}},
)
async def revoke_key(
    key_id: uuid.UUID,
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    redis: RedisDep,
) -> None:
    """Revoke a key: it stops working at once. Your last working key cannot be revoked."""
    await UserRepository(session).revoke_key(principal.user_id, key_id, datetime.now(UTC))
    announce_revocation(session, redis, request.app.state.key_cache, principal.user_id)
    _security_log.info("api_key.revoked", category="security", key_id=str(key_id))


@router.post(
    "/users/recover", status_code=status.HTTP_202_ACCEPTED, response_model=RecoveryAccepted
)
async def recover(
    body: RecoveryRequest,
    request: Request,
    settings: SettingsDep,
    background: BackgroundTasks,
) -> RecoveryAccepted:
    """Lost every key? A one-time recovery token is mailed to the account's address. The
    answer is the same whether or not the address has an account.

    Redeeming it proves the address: an account whose address was never verified (someone
    may have signed up with an address that is not theirs) is claimed by the address's
    owner — verified, its other keys revoked."""
    email = str(body.email).strip().lower()
    await enforce_address_limits(
        request, "recover", email, per_client=settings.recovery_limit_per_hour,
        per_email=settings.recovery_limit_per_email_per_hour,
    )  # fmt: skip
    # Looked up after the answer is sent: its timing cannot tell whether the address exists.
    background.add_task(_issue_recovery_token, request.app, email)
    return RecoveryAccepted()


async def _issue_recovery_token(app: FastAPI, email: str) -> None:
    try:
        async with session_scope(app.state.sessionmaker) as session:
            user = await UserRepository(session).user_by_email(email)
            if user is None:
                _security_log.info("recovery.no_account", category="security")
                return
            await mail_link(
                session, app.state.redis, user, purpose="key_recovery",
                event="recovery.token_issued",
            )  # fmt: skip
    except Exception:  # after the response: nobody to tell but the log
        _security_log.exception("recovery.failed", category="security")


@router.post(
    "/users/recover/confirm", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated
)
async def confirm_recovery(
    body: RecoveryConfirm,
    request: Request,
    session: SessionDep,
    redis: RedisDep,
    settings: SettingsDep,
) -> ApiKeyCreated:
    """Redeem a recovery token: a new API key, shown once. Your other keys are left as they
    were (revoke any you think leaked, with the new key) — unless the account's address was
    never verified: then the token proves it is yours, the address is verified and every
    other key is revoked (whoever signed up with your address loses the account)."""
    await enforce(
        request, f"recover-confirm:{client_address(request.scope)}",
        settings.recovery_limit_per_hour, 3600,
    )  # fmt: skip
    invalid = InvalidToken("the token is unknown, expired or already used", field="token")
    parsed = parse_token(body.token)
    if parsed is None:
        raise invalid
    now = datetime.now(UTC)
    redemption = await TokenRepository(session).redeem_token(
        parsed[0], "key_recovery", parsed[1], now
    )
    if redemption.outcome is not Redeemed.OK or redemption.token is None:
        _security_log.warning("recovery.refused", category="security")
        raise invalid
    user_id = redemption.token.user_id
    users = UserRepository(session)
    user = await users.get_user(user_id)
    if user.email_verified_at is None:
        revoked = await users.revoke_all_keys(user_id, now)
        announce_revocation(session, redis, request.app.state.key_cache, user_id)
        await verify_and_release(
            session, redis, user_id, "email", user.email, now, purpose="key_recovery"
        )
        _security_log.warning(
            "account.claimed", category="security", user_id=str(user_id), keys_revoked=revoked
        )
    row, key = await users.create_key(user_id, name=f"recovered {now:%Y-%m-%d %H:%M} UTC")
    _security_log.info(
        "api_key.recovered", category="security", user_id=str(user_id), key_id=str(row.id)
    )
    return ApiKeyCreated(**ApiKeyOut.model_validate(row).model_dump(), api_key=key)
