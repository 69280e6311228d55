"""One request as the pages see it: who is visiting, in which language, their forms'
CSRF token, their API calls, and the page they get back.

    VisitDep      anyone (signed in or not)
    SignedInDep   a signed-in visitor; anyone else is sent to /sign-in (`SignInRequired`)

`visit.api(...)` calls the API as the visitor; `visit.render(...)` answers a page with
the security headers, the CSRF cookie when it is new, and `Cache-Control: no-store`
(pages hold the user's data). `await visit.form()` reads a submitted form and refuses it
(`CsrfRefused`, 403) without a valid token.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment

from services.web.api_client import ApiClient
from services.web.i18n import Formatter, format_locale, negotiate, translate
from services.web.session import (
    CSRF_COOKIE,
    CSRF_FIELD,
    LANG_COOKIE,
    SESSION_COOKIE,
    Session,
    SessionCodec,
    new_seed,
)
from services.web.settings import WebSettings

#: Content-Security-Policy of every page: everything from this origin, nothing inline.
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)


class SignInRequired(Exception):
    """The page needs a signed-in visitor."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRefused(Exception):
    """A form arrived without a valid CSRF token, or from another site."""


class FormTooLarge(Exception):
    """A form body over the limit."""


@dataclass
class Visit:
    request: Request
    settings: WebSettings
    codec: SessionCodec
    client: ApiClient
    templates: Environment
    session: Session | None
    language: str
    locale: str
    csrf_seed: str
    seed_is_new: bool
    request_id: str
    #: Cookies to set (name → value, or None to delete) on the response.
    cookies: dict[str, str | None] = field(default_factory=dict)

    @property
    def fmt(self) -> Formatter:
        return Formatter(self.locale, self.session.time_zone if self.session else "UTC")

    @property
    def csrf_token(self) -> str:
        return self.codec.csrf_token(self.csrf_seed, self.session)

    def _(self, text: str, **values: object) -> str:
        return translate(self.language, text, **values)

    @property
    def client_address(self) -> str:
        client = self.request.client
        return client.host if client else "unknown"

    async def api(
        self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        """Call the API as this visitor (with their session key, when signed in)."""
        return await self.client.call(
            method, path, key=self.session.api_key if self.session else None, body=body,
            params=params, client_address=self.client_address, request_id=self.request_id,
        )  # fmt: skip

    async def form(self) -> dict[str, list[str]]:
        """The submitted form (urlencoded), after its CSRF check."""
        if self.request.headers.get("sec-fetch-site") == "cross-site":
            raise CsrfRefused
        body = b""
        async for chunk in self.request.stream():
            body += chunk
            if len(body) > self.settings.max_form_bytes:
                raise FormTooLarge
        fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
        token = one(fields, CSRF_FIELD) or None
        if self.seed_is_new or not self.codec.csrf_ok(token, self.csrf_seed, self.session):
            raise CsrfRefused
        return fields

    async def form_values(self, *names: str) -> dict[str, str]:
        """The submitted form's value of each of `names` (`one`: '' when absent), after its
        CSRF check."""
        fields = await self.form()
        return {name: one(fields, name) for name in names}

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        page = template.removesuffix(".html")
        issued, nonce = int(time.time()), secrets.token_hex(8)
        html = self.templates.get_template(template).render(
            visit=self,
            page=page,
            lang=self.language,
            _=self._,
            fmt=self.fmt,
            csrf_token=self.csrf_token,
            session=self.session,
            beacon=f"{issued}.{nonce}.{self.codec.beacon_token(page, issued, nonce)}",
            **context,
        )
        response = HTMLResponse(html, status_code=status)
        self.finish(response)
        return response

    def redirect(self, path: str) -> RedirectResponse:
        """See Other: after a form, the browser GETs the result (no re-submission)."""
        response = RedirectResponse(path, status_code=303)
        self.finish(response)
        return response

    def finish(self, response: Response) -> Response:
        secure = self.settings.secure_cookies
        if self.seed_is_new:
            self.cookies.setdefault(CSRF_COOKIE, self.csrf_seed)
        for name, value in self.cookies.items():
            if value is None:
                response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="lax")
            else:
                max_age = None
                if name == SESSION_COOKIE and self.session is not None:
                    max_age = max(0, int(self.session.expires_at - time.time()))
                elif name == LANG_COOKIE:
                    max_age = 365 * 24 * 3600
                response.set_cookie(
                    name, value, max_age=max_age, path="/", secure=secure, httponly=True,
                    samesite="lax",
                )  # fmt: skip
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    def sign_in_as(self, session: Session) -> None:
        """From now on this browser is `session` (and gets a fresh CSRF seed)."""
        self.session = session
        self.csrf_seed, self.seed_is_new = new_seed(), False
        self.cookies[CSRF_COOKIE] = self.csrf_seed
        self.cookies[SESSION_COOKIE] = self.codec.seal(session)

    def sign_out(self) -> None:
        self.session = None
        self.cookies[SESSION_COOKIE] = None


def _visit(request: Request) -> Visit:
    state = request.app.state
    settings: WebSettings = state.settings
    codec: SessionCodec = state.codec
    session = codec.open(request.cookies.get(SESSION_COOKIE))
    seed = request.cookies.get(CSRF_COOKIE)
    seed_is_new = not seed or len(seed) > 64
    accept = request.headers.get("accept-language", "")
    language = negotiate(
        request.cookies.get(LANG_COOKIE), session.locale if session else None, accept
    )
    visit = Visit(
        request=request,
        settings=settings,
        codec=codec,
        client=state.api,
        templates=state.templates,
        session=session,
        language=language,
        locale=format_locale(language, accept),
        csrf_seed=new_seed() if seed_is_new else str(seed),
        seed_is_new=seed_is_new,
        request_id=str(request.scope.get("state", {}).get("request_id") or uuid.uuid4().hex),
    )
    if session is None and SESSION_COOKIE in request.cookies:
        visit.cookies[SESSION_COOKIE] = None  # expired or tampered with: drop it
    return visit


async def visit_dep(request: Request) -> Visit:
    return _visit(request)


async def signed_in_dep(request: Request) -> Visit:
    visit = _visit(request)
    if visit.session is None:
        path = request.url.path
        if request.url.query:
            path += "?" + request.url.query
        raise SignInRequired(path if request.method == "GET" else "/products")
    return visit


VisitDep = Annotated[Visit, Depends(visit_dep)]
SignedInDep = Annotated[Visit, Depends(signed_in_dep)]


def one(fields: dict[str, list[str]], name: str, default: str = "") -> str:
    """The first value of a form field, stripped."""
    return (fields.get(name) or [default])[0].strip()
