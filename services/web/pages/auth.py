"""Signing in with an emailed link, signing out, the language switch and the user's settings."""

from __future__ import annotations

import zoneinfo
from dataclasses import replace
from datetime import datetime

from fastapi import APIRouter
from fastapi.responses import Response

from services.web.api_client import ApiError
from services.web.i18n import LANGUAGES
from services.web.session import LANG_COOKIE, SESSION_COOKIE, Session
from services.web.visit import SignedInDep, VisitDep, one

router = APIRouter()
TIME_ZONES = sorted(zoneinfo.available_timezones())
_TIME_ZONE_SET = frozenset(TIME_ZONES)


def local_path(value: str, default: str = "/products") -> str:
    """A path on this site to go back to; anything else (another host) is `default`."""
    if value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return default


@router.get("/")
async def home(visit: VisitDep) -> Response:
    if visit.session is not None:
        return visit.redirect("/products")
    return visit.redirect("/sign-in")


@router.get("/sign-in")
async def sign_in_form(visit: VisitDep, signed_out: str = "", expired: str = "") -> Response:
    if visit.session is not None:
        return visit.redirect("/products")
    return visit.render("sign_in.html", signed_out=bool(signed_out), expired=bool(expired))


@router.post("/sign-in")
async def sign_in(visit: VisitDep) -> Response:
    fields = await visit.form()
    email = one(fields, "email")
    time_zone = one(fields, "time_zone")
    body: dict[str, str] = {"email": email, "locale": visit.language}
    if time_zone in _TIME_ZONE_SET:
        body["time_zone"] = time_zone
    elif visit.language == "ja":
        body["time_zone"] = "Asia/Tokyo"
    try:
        await visit.api("POST", "/v1/sign-in", body)
    except ApiError as error:
        if error.status not in (400, 422, 429):
            raise
        message = error.field_errors().get("email") or error.detail
        if error.status == 422:
            message = visit._("Enter an email address, such as you@example.com.")
        return visit.render("sign_in.html", status=error.status, email=email, error=message)
    return visit.render("check_email.html", email=email)


@router.get("/sign-in/confirm")
async def confirm_form(visit: VisitDep, token: str = "", next: str = "") -> Response:
    response = visit.render(
        "confirm_sign_in.html", token=token[:200], next=local_path(next[:500], "/products")
    )
    # The token is in this page's URL: it must not travel on in a Referer.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@router.post("/sign-in/confirm")
async def confirm(visit: VisitDep) -> Response:
    fields = await visit.form()
    token = one(fields, "token")
    next_page = local_path(one(fields, "next"), "/products")
    name = _browser_name(visit.request.headers.get("user-agent", ""))
    try:
        created = await visit.api("POST", "/v1/sign-in/confirm", {"token": token, "name": name})
    except ApiError as error:
        if error.status not in (422, 429):
            raise
        return visit.render(
            "confirm_sign_in.html", status=error.status, token="", error=True, next=next_page
        )
    user = created["user"]
    visit.sign_in_as(
        Session(
            api_key=created["api_key"],
            key_id=created["id"],
            expires_at=datetime.fromisoformat(created["expires_at"]).timestamp(),
            email=user["email"],
            time_zone=user["time_zone"],
            locale=user["locale"],
        )
    )
    visit.cookies.pop(LANG_COOKIE, None)
    return visit.redirect(next_page)


def _browser_name(user_agent: str) -> str:
    """What to call a session in the key list: `Chrome on Linux`."""
    browser = next((name for token, name in _BROWSERS if token in user_agent), "A browser")
    system = next((name for token, name in _SYSTEMS if token in user_agent), "")
    return f"{browser} on {system}" if system else browser


_BROWSERS = (
    ("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari"),
)  # fmt: skip
_SYSTEMS = (
    ("Windows", "Windows"), ("Android", "Android"), ("iPhone", "iOS"), ("Mac OS", "macOS"),
    ("Linux", "Linux"),
)  # fmt: skip


@router.post("/sign-out")
async def sign_out(visit: SignedInDep) -> Response:
    await visit.form()
    assert visit.session is not None
    try:
        await visit.api("DELETE", f"/v1/api-keys/{visit.session.key_id}")
    except ApiError as error:
        if error.status not in (401, 404):  # already gone: signed out all the same
            raise
    visit.sign_out()
    return visit.redirect("/sign-in?signed_out=1")


@router.post("/language")
async def switch_language(visit: VisitDep) -> Response:
    fields = await visit.form()
    language = one(fields, "lang")
    if language in LANGUAGES:
        visit.cookies[LANG_COOKIE] = language
        if visit.session is not None:
            await visit.api("PATCH", "/v1/users/me", {"locale": language})
            visit.session = replace(visit.session, locale=language)
            visit.cookies[SESSION_COOKIE] = visit.codec.seal(visit.session)
    return visit.redirect(local_path(one(fields, "back")))


@router.get("/settings")
async def settings_page(visit: SignedInDep, done: str = "") -> Response:
    me = await visit.api("GET", "/v1/users/me")
    return visit.render("settings.html", me=me, time_zones=TIME_ZONES, done=done, errors={})


@router.post("/settings")
async def save_settings(visit: SignedInDep) -> Response:
    fields = await visit.form()
    body: dict[str, object] = {"time_zone": one(fields, "time_zone")}
    if one(fields, "locale") in LANGUAGES:
        body["locale"] = one(fields, "locale")
    for name in ("daily_notification_cap", "daily_sms_cap"):
        value = one(fields, name)
        body[name] = int(value) if value.isdigit() else value
    try:
        me = await visit.api("PATCH", "/v1/users/me", body)
    except ApiError as error:
        if error.status != 422:
            raise
        me = await visit.api("GET", "/v1/users/me")
        return visit.render(
            "settings.html", status=422, me={**me, **body}, time_zones=TIME_ZONES, done="",
            errors=error.field_errors(),
        )  # fmt: skip
    assert visit.session is not None
    visit.session = replace(visit.session, time_zone=me["time_zone"], locale=me["locale"])
    visit.cookies[SESSION_COOKIE] = visit.codec.seal(visit.session)
    if me["locale"]:
        visit.cookies[LANG_COOKIE] = me["locale"]
    return visit.redirect("/settings?done=saved")
