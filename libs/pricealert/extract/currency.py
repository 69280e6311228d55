"""Currencies: symbols and words to ISO 4217 codes, and what a page's domain implies.

The yen sign is shared by the Japanese yen and the Chinese yuan. The rule:
`¥`/`￥` is CNY only when the page is Chinese (its `<html lang>` starts with
`zh`, or its host ends in `.cn`) and JPY everywhere else; `円` is always JPY and
`元`/`RMB` always CNY. `$` and `kr` follow the shop's country domain
(`.ca` → CAD, `.com.au` → AUD, `.se` → SEK, ...), else `$` is USD and `kr` unknown.
"""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlsplit

#: Currencies that have no minor unit: amounts are whole numbers.
ZERO_DECIMAL = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "UGX", "PYG", "XOF", "XAF"})

ISO_CODES = frozenset(
    ("USD", "EUR", "GBP", "JPY", "CNY", "CHF", "PLN", "INR", "BRL", "CAD", "AUD", "NZD", "SEK",
     "NOK", "DKK", "CZK", "HUF", "RON", "BGN", "TRY", "RUB", "UAH", "KRW", "TWD", "HKD", "SGD",
     "MYR", "THB", "IDR", "PHP", "VND", "MXN", "ARS", "CLP", "COP", "PEN", "ZAR", "ILS", "AED",
     "SAR", "ISK")
)  # fmt: skip

# Unambiguous symbols and words (after NFKC, so full-width forms are already folded).
_SYMBOLS = {
    "€": "EUR",
    "£": "GBP",
    "円": "JPY",
    "元": "CNY",
    "rmb": "CNY",
    "zł": "PLN",
    "zl": "PLN",
    "chf": "CHF",
    "fr.": "CHF",
    "₹": "INR",
    "rs": "INR",
    "rs.": "INR",
    "r$": "BRL",
    "us$": "USD",
    "c$": "CAD",
    "ca$": "CAD",
    "a$": "AUD",
    "au$": "AUD",
    "nz$": "NZD",
    "hk$": "HKD",
    "s$": "SGD",
    "nt$": "TWD",
    "mx$": "MXN",
    "₩": "KRW",
    "₽": "RUB",
    "₺": "TRY",
    "₫": "VND",
    "₱": "PHP",
    "₪": "ILS",
    "฿": "THB",
    "kč": "CZK",
    "ft": "HUF",
    "lei": "RON",
}

_DOLLAR_BY_TLD = {
    "ca": "CAD", "au": "AUD", "nz": "NZD", "hk": "HKD", "sg": "SGD", "tw": "TWD", "mx": "MXN",
}  # fmt: skip
_KRONA_BY_TLD = {"se": "SEK", "no": "NOK", "dk": "DKK", "is": "ISK"}
_CURRENCY_BY_TLD = {
    "jp": "JPY", "de": "EUR", "fr": "EUR", "it": "EUR", "es": "EUR", "nl": "EUR", "be": "EUR",
    "at": "EUR", "ie": "EUR", "fi": "EUR", "pt": "EUR", "gr": "EUR", "sk": "EUR", "pl": "PLN",
    "ch": "CHF", "in": "INR", "br": "BRL", "uk": "GBP", "cn": "CNY", "cz": "CZK", "hu": "HUF",
    "ro": "RON", "kr": "KRW", "us": "USD", **_DOLLAR_BY_TLD, **_KRONA_BY_TLD,
}  # fmt: skip


def tld_of(url: str) -> str:
    """The last label of the URL's host (`jp` for `www.example.co.jp`)."""
    host = urlsplit(url).hostname or ""
    return host.rsplit(".", 1)[-1]


def currency_for_domain(url: str) -> str | None:
    """The currency a shop on this domain most likely prices in, if its TLD says."""
    return _CURRENCY_BY_TLD.get(tld_of(url))


_SHARED_SYMBOLS = {
    "$": ("USD", frozenset({"USD", "CAD", "AUD", "NZD", "HKD", "SGD", "TWD", "MXN"})),
    "¥": ("JPY", frozenset({"JPY", "CNY"})),
    "kr": (None, frozenset({"SEK", "NOK", "DKK", "ISK"})),
    "kr.": (None, frozenset({"SEK", "NOK", "DKK", "ISK"})),
}


def to_iso(token: str, *, default: str | None = None) -> str | None:
    """Map a currency code, symbol or word to ISO 4217, or None.

    A symbol that several currencies share (`$`, `¥`, `kr`) becomes `default`
    when `default` is one of them, else its most common reading.
    """
    raw = token.strip()
    upper = raw.upper()
    if len(upper) == 3 and upper.isalpha() and upper in ISO_CODES:
        return upper
    key = raw.lower()
    shared = _SHARED_SYMBOLS.get(key)
    if shared is not None:
        usual, members = shared
        return default if default in members else usual
    return _SYMBOLS.get(key)


def page_currency(url: str, lang: str | None) -> str | None:
    """The currency a page most likely prices in, from its language and domain."""
    if lang and lang.lower().startswith("zh"):
        return "CNY" if tld_of(url) not in ("tw", "hk") else currency_for_domain(url)
    if lang and lang.lower().startswith("ja"):
        return "JPY"
    return currency_for_domain(url)


def normalize_amount(amount: Decimal, currency: str | None) -> Decimal:
    """Whole-number currencies carry no fraction digits (¥1280, not ¥1280.00)."""
    if currency in ZERO_DECIMAL and amount == amount.to_integral_value():
        return amount.quantize(Decimal(1))
    return amount
