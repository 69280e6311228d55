"""Currencies: codes, symbols and words to ISO 4217, and what a page's locale implies.

The codes are every currency in use today according to CLDR (Babel's data,
the maintained source the browsers' `Intl` also follows): 178 codes, with
their minor units (`ZERO_DECIMAL`: JPY, KRW, CLP, ... carry none). Codes that
shops still write for a current currency map to it: `RUR` (the pre-1998 rouble
code, which Russian shops and feeds still use) → RUB; and common non-ISO names
(`RMB` → CNY, `NIS` → ILS, `NTD` → TWD). Other withdrawn codes (DEM, FRF) are
not a currency: a page that says so is not read as pricing in one.

Symbols that only one currency uses (`€`, `₹`, `円`, `zł`) map directly. A symbol
several currencies share (`$`, `¥`, `kr`) is read by the page's locale: it is
the page's currency (from the country domain, else `<html lang>`'s region) when
that currency is written with that symbol where it is used, by CLDR's locale
data (`$` on a `.ca` or `lang="en-CA"` page is CAD, on `.com.ar` ARS, `kr` on
`.se` SEK, `¥` on a Chinese page CNY); else its most common reading (`$` USD,
`¥` JPY, `kr` none). A Japanese page (`lang="ja"`) prices in JPY and a Chinese
one (`lang="zh"`, outside .tw/.hk) in CNY.
"""

from __future__ import annotations

import string
import unicodedata
from decimal import Decimal
from functools import cache
from urllib.parse import urlsplit

from babel import Locale
from babel.core import get_global
from babel.localedata import locale_identifiers
from babel.numbers import get_currency_precision, get_territory_currencies


def _current_codes() -> frozenset[str]:
    codes: set[str] = set()
    for spans in get_global("territory_currencies").values():
        codes.update(code for code, _start, end, _tender in spans if end is None)
    return frozenset(codes)


#: Every ISO 4217 currency in use today (CLDR).
ISO_CODES = _current_codes()

#: Currencies that have no minor unit: amounts are whole numbers.
ZERO_DECIMAL = frozenset(code for code in ISO_CODES if get_currency_precision(code) == 0)

#: Codes and names shops write for a current currency.
LEGACY_CODES = {"RUR": "RUB", "RMB": "CNY", "NIS": "ILS", "NTD": "TWD", "UKP": "GBP"}

#: Codes that are also common words; in free text they are not read as a currency.
WORD_CODES = frozenset({"ALL", "TOP", "CUP", "MOP", "BOB", "PEN", "SOS", "MAD", "NAD", "GEL"})

# Symbols and words only one currency uses (after NFKC, so full-width forms are folded).
_SYMBOLS = {
    "€": "EUR", "£": "GBP", "円": "JPY", "元": "CNY", "zł": "PLN", "zl": "PLN", "fr.": "CHF",
    "₹": "INR", "rs": "INR", "rs.": "INR", "r$": "BRL", "us$": "USD", "c$": "CAD", "ca$": "CAD",
    "a$": "AUD", "au$": "AUD", "nz$": "NZD", "hk$": "HKD", "s$": "SGD", "nt$": "TWD",
    "mx$": "MXN", "₩": "KRW", "₽": "RUB", "руб": "RUB", "руб.": "RUB", "₺": "TRY", "₫": "VND",
    "₱": "PHP", "₪": "ILS", "฿": "THB", "kč": "CZK", "ft": "HUF", "lei": "RON", "₴": "UAH",
    "грн": "UAH", "₦": "NGN", "₡": "CRC", "₲": "PYG", "₸": "KZT", "₾": "GEL", "₼": "AZN",
    "лв": "BGN", "лв.": "BGN", "rp": "IDR", "rm": "MYR",
}  # fmt: skip

#: Symbols several currencies share, and their reading when the page's locale says nothing.
_SHARED_SYMBOLS: dict[str, str | None] = {"$": "USD", "¥": "JPY", "kr": None, "kr.": None}

_TERRITORY_BY_TLD = {"uk": "GB", "eu": "DE"}  # .co.uk is Great Britain; .eu prices in euro


def tld_of(url: str) -> str:
    """The last label of the URL's host (`jp` for `www.example.co.jp`)."""
    host = urlsplit(url).hostname or ""
    return host.rsplit(".", 1)[-1]


def territory_of(url: str, lang: str | None) -> str | None:
    """The page's country: a country domain's, else `<html lang>`'s region (`en-CA`).

    The domain goes first: templates often keep a default `lang="en-US"`.
    """
    tld = tld_of(url)
    if tld in _TERRITORY_BY_TLD:
        return _TERRITORY_BY_TLD[tld]
    if len(tld) == 2 and tld.isalpha():
        return tld.upper()
    if lang:
        parts = lang.replace("_", "-").split("-")
        region = next((p for p in parts[1:] if len(p) == 2 and p.isalpha()), None)
        if region:
            return region.upper()
    return None


def currency_of_territory(territory: str | None) -> str | None:
    """The currency a country prices in today (the first CLDR lists as tender)."""
    if not territory:
        return None
    try:
        current = get_territory_currencies(territory, tender=True)
    except Exception:  # Babel raises plain errors for unknown territory codes
        return None
    return current[0] if current else None


def page_currency(url: str, lang: str | None) -> str | None:
    """The currency a page most likely prices in, from its language and domain."""
    low = (lang or "").lower()
    if low.startswith("zh"):
        return "CNY" if tld_of(url) not in ("tw", "hk") else currency_of_territory(tld_of(url))
    if low.startswith("ja"):
        return "JPY"
    return currency_of_territory(territory_of(url, lang))


def to_iso(token: str, *, default: str | None = None, in_text: bool = False) -> str | None:
    """Map a currency code, symbol or word to ISO 4217, or None.

    A symbol that several currencies share (`$`, `¥`, `kr`) becomes `default`
    when `default` is written with that symbol where it is used, else its
    most common reading. `in_text` refuses codes that are also words (`ALL`).
    """
    raw = unicodedata.normalize("NFKC", token).strip()
    upper = raw.upper()
    if len(upper) == 3 and upper.isalpha():
        if in_text and upper in WORD_CODES:
            return None
        if upper in ISO_CODES:
            return upper
        if upper in LEGACY_CODES:
            return LEGACY_CODES[upper]
    key = raw.lower()
    if key in _SHARED_SYMBOLS:
        if default is not None and key in local_symbols(default):
            return default
        return _SHARED_SYMBOLS[key]
    return _SYMBOLS.get(key)


@cache
def local_symbols(currency: str) -> frozenset[str]:
    """How a currency is written where it is used (CLDR), long and short (`HK$`, `$`)."""
    territories = [
        territory
        for territory, spans in get_global("territory_currencies").items()
        if any(code == currency and end is None for code, _s, end, _t in spans)
    ]
    symbols: set[str] = set()
    for identifier in locale_identifiers():
        language, _, territory = identifier.rpartition("_")
        if not language or territory not in territories:
            continue
        symbol = Locale.parse(identifier).currency_symbols.get(currency)
        if not symbol:
            continue
        symbol = unicodedata.normalize("NFKC", symbol).lower()
        symbols.add(symbol)
        short = symbol.lstrip(string.ascii_lowercase)
        if short and short != symbol:
            symbols.add(short)
    return frozenset(symbols)


def normalize_amount(amount: Decimal, currency: str | None) -> Decimal:
    """Whole-number currencies carry no fraction digits (¥1280, not ¥1280.00)."""
    if currency in ZERO_DECIMAL and amount == amount.to_integral_value():
        return amount.quantize(Decimal(1))
    return amount
