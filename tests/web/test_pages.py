"""The web service over plain HTTP: security headers and cookie flags, CSRF refusals, a
session that is tampered with, revoked or expired, the page-load beacon, the API away,
and Japanese by Accept-Language."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest

from pricealert import metrics
from services.web.main import create_app
from services.web.pages.auth import local_path
from tests.web.conftest import WebUnderTest, web_settings
from tests.web.servers import serve

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')
BEACON = re.compile(r'data-page="(\w+)" data-beacon="([0-9]+\.[0-9a-f]{16}\.[0-9a-f]{32})"')


def _csrf(page: httpx.Response) -> str:
    match = CSRF.search(page.text)
    assert match, page.text[:500]
    return match.group(1)


async def _sign_in(http: httpx.AsyncClient, web: WebUnderTest, email: str) -> None:
    form = await http.get("/sign-in")
    asked = await http.post("/sign-in", data={"email": email, "csrf_token": _csrf(form)})
    assert asked.status_code == 200
    assert "Check your email" in asked.text
    link = await web.sign_in_link(email)
    confirm = await http.get(link)
    token = re.search(r'name="token" value="([^"]+)"', confirm.text)
    assert token
    done = await http.post(
        "/sign-in/confirm", data={"token": token.group(1), "csrf_token": _csrf(confirm)}
    )
    assert (done.status_code, done.headers["location"]) == (303, "/products")


async def test_pages_carry_security_headers_and_cookies_a_script_cannot_read(
    http: httpx.AsyncClient, web: WebUnderTest
) -> None:
    page = await http.get("/sign-in")
    assert page.status_code == 200
    headers = page.headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert (headers["x-frame-options"], headers["x-content-type-options"]) == ("DENY", "nosniff")
    assert headers["cache-control"] == "no-store"
    csrf_cookie = headers["set-cookie"]
    assert "pa_csrf=" in csrf_cookie
    assert "HttpOnly" in csrf_cookie
    assert "SameSite=lax" in csrf_cookie

    await _sign_in(http, web, "ada@example.com")
    products = await http.get("/products")
    assert products.status_code == 200
    assert "ada@example.com" in products.text
    session = next(c for c in http.cookies.jar if c.name == "pa_session")
    assert session.has_nonstandard_attr("HttpOnly")
    assert session.expires is not None  # ends with the session key, 14 days on
    assert 13 * 86400 < session.expires - time.time() <= 14 * 86400
    assert "pa_" not in str(session.value)  # the API key inside is sealed, not readable


async def test_cookies_are_secure_outside_development(web: WebUnderTest) -> None:
    secure_app = create_app(web_settings(api_url=web.api_url, cookie_secure=True))
    async with serve(secure_app) as url, httpx.AsyncClient(base_url=url) as client:
        page = await client.get("/sign-in")
    assert "Secure" in page.headers["set-cookie"]
    assert web_settings(environment="production", secret_key="x" * 32).secure_cookies


async def test_a_form_without_its_token_or_from_another_site_is_refused(
    http: httpx.AsyncClient, web: WebUnderTest
) -> None:
    form = await http.get("/sign-in")
    token = _csrf(form)
    missing = await http.post("/sign-in", data={"email": "ada@example.com"})
    wrong = await http.post("/sign-in", data={"email": "ada@example.com", "csrf_token": "0" * 64})
    cross = await http.post(
        "/sign-in",
        data={"email": "ada@example.com", "csrf_token": token},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    for refused in (missing, wrong, cross):
        assert refused.status_code == 403
        assert "The form has expired" in refused.text
    assert web.outbox.emails_to("ada@example.com") == []

    # A token from before signing in does not work after it (bound to the session).
    await _sign_in(http, web, "ada@example.com")
    stale = await http.post("/sign-out", data={"csrf_token": token})
    assert stale.status_code == 403


async def test_a_session_cookie_that_was_changed_or_revoked_is_no_session(
    http: httpx.AsyncClient, web: WebUnderTest
) -> None:
    await _sign_in(http, web, "ada@example.com")
    sealed = http.cookies["pa_session"]
    http.cookies.set(
        "pa_session", sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    )
    tampered = await http.get("/products")
    assert (tampered.status_code, tampered.headers["location"]) == (303, "/sign-in")
    assert 'pa_session=""' in tampered.headers["set-cookie"]  # dropped

    http.cookies.set("pa_session", sealed)
    keys = await http.get("/keys")
    session_id = re.search(r'action="/keys/([0-9a-f-]{36})/revoke"', keys.text)
    assert session_id
    async with httpx.AsyncClient(base_url=web.api_url) as api:
        # Signed out elsewhere (another browser revoked this session).
        other = await _api_session(api, web, "ada@example.com")
        revoked = await api.delete(f"/v1/api-keys/{session_id.group(1)}", headers=other)
        assert revoked.status_code == 204
    gone = await http.get("/products")
    assert (gone.status_code, gone.headers["location"]) == (303, "/sign-in?expired=1")


async def _api_session(api: httpx.AsyncClient, web: WebUnderTest, email: str) -> dict[str, str]:
    await api.post("/v1/sign-in", json={"email": email})
    link = await web.sign_in_link(email)
    token = link.split("token=")[1]
    created = await api.post("/v1/sign-in/confirm", json={"token": token})
    return {"Authorization": f"Bearer {created.json()['api_key']}"}


def _loads(page: str) -> float:
    sample = metrics.registry.get_sample_value(
        "pricealert_web_page_load_seconds_count", {"page": page}
    )
    return sample or 0.0


def _refused(reason: str) -> float:
    sample = metrics.registry.get_sample_value(
        "pricealert_web_beacons_refused_total", {"reason": reason}
    )
    return sample or 0.0


async def test_the_beacon_counts_page_loads_this_service_served_and_nothing_else(
    http: httpx.AsyncClient,
) -> None:
    match = BEACON.search((await http.get("/sign-in")).text)
    assert match
    page, token = match.groups()
    assert page == "sign_in"
    before, refused = (
        _loads("sign_in"),
        {
            r: _refused(r)
            for r in ("bad_token", "unknown_page", "out_of_range", "malformed", "replayed")
        },
    )

    async def beacon(body: object) -> httpx.Response:
        return await http.post(
            "/rum", content=json.dumps(body), headers={"Content-Type": "text/plain"}
        )

    assert (await beacon({"page": page, "token": token, "load": 0.42})).status_code == 204
    await beacon({"page": page, "token": token, "load": 9.5})  # the same page load again
    again = BEACON.search((await http.get("/sign-in")).text)
    assert again
    assert again.group(2) != token  # another load, even within the same second
    await beacon({"page": page, "token": again.group(2), "load": 0.5})
    await beacon({"page": "products", "token": token, "load": 0.42})
    await beacon({"page": "nosuch", "token": token, "load": 0.42})
    await beacon({"page": page, "token": token, "load": -1})
    await beacon({"page": page, "token": token, "load": "NaN"})
    await http.post("/rum", content=b"not json")
    await http.post("/rum", content=b"x" * 5000)

    assert _loads("sign_in") == before + 2
    assert _refused("replayed") == refused["replayed"] + 1
    assert _refused("bad_token") == refused["bad_token"] + 1  # another page's token
    assert _refused("unknown_page") == refused["unknown_page"] + 1
    assert _refused("out_of_range") == refused["out_of_range"] + 2
    assert _refused("malformed") == refused["malformed"] + 2
    exported = (await http.get("/metrics")).text
    assert 'pricealert_web_page_load_seconds_bucket{le="2.0",page="sign_in"}' in exported


async def test_without_the_api_pages_say_so_and_readiness_fails(web: WebUnderTest) -> None:
    lost = create_app(web_settings(api_url="http://127.0.0.1:9", api_timeout_seconds=2))
    async with serve(lost) as url, httpx.AsyncClient(base_url=url) as client:
        form = await client.get("/sign-in")
        assert form.status_code == 200  # the form needs no API
        sent = await client.post(
            "/sign-in", data={"email": "ada@example.com", "csrf_token": _csrf(form)}
        )
        ready = await client.get("/readyz")
        alive = await client.get("/healthz")
    assert sent.status_code == 503
    assert "PriceAlert is having trouble" in sent.text
    assert "Traceback" not in sent.text
    assert (ready.status_code, ready.json()["checks"]["api"]) == (503, "error: ConnectError")
    assert alive.status_code == 200


async def test_japanese_comes_from_accept_language_and_unknown_pages_are_a_page(
    http: httpx.AsyncClient,
) -> None:
    page = await http.get("/sign-in", headers={"Accept-Language": "ja-JP,ja;q=0.9"})
    assert '<html lang="ja">' in page.text
    assert "PriceAlert にサインイン" in page.text
    missing = await http.get("/no/such/page")
    assert (missing.status_code, "Not found" in missing.text) == (404, True)
    bad_id = await http.get("/products/not-a-uuid")
    assert bad_id.status_code in (303, 404)  # signed out: to sign-in; never a 500


@pytest.mark.parametrize(
    ("back", "expected"),
    [
        ("/alerts", "/alerts"),
        ("/products/1?done=x", "/products/1?done=x"),
        ("//evil.example/x", "/products"),
        ("/\\evil.example", "/products"),
        ("https://evil.example/", "/products"),
        ("", "/products"),
    ],
)
def test_going_back_never_leaves_the_site(back: str, expected: str) -> None:
    assert local_path(back) == expected


@pytest.fixture
async def signed_in(http: httpx.AsyncClient, web: WebUnderTest) -> httpx.AsyncClient:
    await _sign_in(http, web, "ada@example.com")
    return http


async def test_a_product_that_is_not_yours_is_not_found(signed_in: httpx.AsyncClient) -> None:
    other = await signed_in.get("/products/00000000-0000-4000-8000-000000000000")
    assert other.status_code == 404
    assert "There is nothing here, or it is not yours." in other.text


async def _channel_post(http: httpx.AsyncClient, path: str, data: dict[str, str]) -> httpx.Response:
    page = await http.get("/channels")
    return await http.post(path, data={**data, "csrf_token": _csrf(page)})


async def test_a_channels_resend_and_test_redirect_or_show_the_apis_refusal_by_the_channel(
    signed_in: httpx.AsyncClient,
) -> None:
    for target in ("ada@example.com", "bob@example.com"):
        added = await _channel_post(signed_in, "/channels", {"kind": "email", "target": target})
        assert added.status_code == 303
    page = (await signed_in.get("/channels")).text
    ids = {
        target: channel_id
        for channel_id, target in re.findall(
            r'id="channel-([0-9a-f-]{36})".*?<span class="target">([^<]+)</span>', page, re.S
        )
    }
    ada, bob = ids["ada@example.com"], ids["bob@example.com"]  # ada's address is proven

    tested = await _channel_post(signed_in, f"/channels/{ada}/test", {})
    assert (tested.status_code, tested.headers["location"]) == (303, "/activity?done=test_queued")
    unverified = await _channel_post(signed_in, f"/channels/{bob}/test", {})
    assert unverified.status_code == 409
    assert f'id="channel-{bob}"' in unverified.text
    assert "waiting for its code" in unverified.text

    resent = await _channel_post(signed_in, f"/channels/{bob}/resend", {})
    assert (resent.status_code, resent.headers["location"]) == (303, "/channels?done=code_sent")
    too_soon = await _channel_post(signed_in, f"/channels/{bob}/resend", {})
    assert too_soon.status_code == 429
    assert 'role="alert"' in too_soon.text
    verified = await _channel_post(signed_in, f"/channels/{ada}/resend", {})
    assert verified.status_code == 409
    assert "already verified" in verified.text
