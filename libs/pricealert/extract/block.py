"""Recognising block pages: captchas and bot walls that shops serve with 200 OK.

Such a page must never yield a price (a wrong alert is worse than a late one).
Two kinds of signal:

- Strong, checked on every page: a bot-wall vendor's challenge marker in the
  bytes (Cloudflare `_cf_chl_opt`, PerimeterX `px-captcha`, DataDome
  `captcha-delivery.com`, Imperva `_Incapsula_Resource`, Amazon
  `validateCaptcha`), a `cf-mitigated: challenge` header, or a `<title>` that is
  a block page's title ("Just a moment...", "Access Denied", "Robot Check",
  "アクセスが集中しています", ...). Vendor markers are chosen from the challenge
  page only: the sensor scripts those vendors inject into ordinary pages
  (`/cdn-cgi/challenge-platform/`, `js.datadome.co`) are not signals.
- Weak, checked only when a page gave no product data at all and has little
  text: phrases such as "verify you are human", "unusual traffic",
  "ロボットではありません". An ordinary product page that mentions reCAPTCHA in
  its footer is therefore not blocked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_VENDOR_MARKERS = (
    (b"_cf_chl_opt", "cloudflare_challenge"),
    (b"cf-browser-verification", "cloudflare_challenge"),
    (b"cf-error-details", "cloudflare_block"),
    (b"px-captcha", "perimeterx"),
    (b"captcha-delivery.com", "datadome"),
    (b"_Incapsula_Resource", "imperva"),
    (b"validateCaptcha", "amazon_captcha"),
    (b"sec-if-cpt-container", "akamai"),
)

_BLOCK_TITLE = re.compile(
    r"just a moment|attention required|access denied|access to this page has been denied"
    r"|robot check|are you a (?:robot|human)|pardon our interruption|security check"
    r"|verify you are human|human verification|bot verification|captcha|request unsuccessful"
    r"|^\s*403\b|403 forbidden|too many requests|ddos-guard|sucuri website firewall"
    r"|アクセスが集中|アクセス集中|アクセス制限|ロボットではありません|不正なアクセス|認証が必要",
    re.I,
)

_BLOCK_TEXT = re.compile(
    r"verify you are (?:a )?human|unusual traffic|are you a robot|not a robot|enable (?:javascript|"
    r"cookies) (?:and cookies )?to continue|complete the security check|access (?:to this page )?"
    r"(?:has been )?denied|you don't have permission to access|request blocked|captcha"
    r"|アクセスが集中|ロボットではありません|不正なアクセス|アクセスが制限|しばらく時間をおいて",
    re.I,
)

_MARKER_WINDOW = 48 * 1024

# Block pages are short; a long page without product data is a page, not a wall.
_WEAK_TEXT_LIMIT = 6000

_TITLE_REASONS = (
    ("just a moment", "cloudflare_challenge"),
    ("attention required", "cloudflare_block"),
    ("robot check", "amazon_captcha"),
    ("アクセスが集中", "busy_page"),
    ("アクセス集中", "busy_page"),
)


def strong_block_reason(
    body: bytes, title: str | None, headers: Mapping[str, str] | None
) -> str | None:
    """The reason a page is certainly a block page, or None."""
    if headers:
        for key, value in headers.items():
            if key.lower() == "cf-mitigated" and value.strip().lower() == "challenge":
                return "cloudflare_challenge"
    # Bot walls are small pages (1-40 KB); on a large page the challenge markup
    # would sit in its first or last bytes, so a 300 KB product page is not
    # scanned eight times over.
    if len(body) > 2 * _MARKER_WINDOW:
        body = body[:_MARKER_WINDOW] + b"\n" + body[-_MARKER_WINDOW:]
    for marker, reason in _VENDOR_MARKERS:
        if marker in body:
            return reason
    if title and _BLOCK_TITLE.search(title):
        lowered = title.lower()
        for phrase, reason in _TITLE_REASONS:
            if phrase in lowered:
                return reason
        return "block_title"
    return None


def weak_block_reason(body_text: str) -> str | None:
    """The reason a short page without product data looks like a block page, or None."""
    if len(body_text) > _WEAK_TEXT_LIMIT:
        return None
    match = _BLOCK_TEXT.search(body_text)
    if match is None:
        return None
    return "captcha" if "captcha" in match.group(0).lower() else "block_text"
