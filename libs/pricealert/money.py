"""Amounts people type and read: which are acceptable, and how they look. Pure.

Minor units and formats are CLDR's (through babel), not a table of ours: JPY has none,
USD and EUR two, KWD three. An amount a user gives (an alert's threshold) has at most
`MAX_INTEGER_DIGITS` digits before the point and no more after it than its currency has
minor units (`MAX_SCALE` when the currency is not known yet: the most any ISO 4217
currency has); the database column holds exactly that (NUMERIC(16, 4)).
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.core import get_global
from babel.dates import format_skeleton
from babel.numbers import format_currency, get_currency_precision, is_currency

MAX_INTEGER_DIGITS = 12
MAX_SCALE = 4
#: The largest amount accepted: 12 nines before the point, 4 after.
MAX_AMOUNT = Decimal(10) ** MAX_INTEGER_DIGITS - Decimal(10) ** -MAX_SCALE


class AmountRefused(ValueError):
    """Why an amount is refused: `rule` (a stable name) and `reason` (for a person)."""

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(reason)
        self.rule = rule
        self.reason = reason


def minor_units(currency: str) -> int:
    """Digits after the point in `currency` (ISO 4217, per CLDR): 0 for JPY, 2 for EUR."""
    return int(get_currency_precision(currency.upper()))


def known_currency(currency: str) -> bool:
    """Whether `currency` is an ISO 4217 code CLDR knows."""
    return bool(is_currency(currency.upper()))


def _places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def check_amount(value: Decimal, currency: str | None) -> Decimal:
    """`value` as an amount of `currency` (None: not known yet), or `AmountRefused` naming
    the first rule it breaks. Trailing zeros are fine (`1280.00` yen is 1280 yen)."""
    if not value.is_finite():
        raise AmountRefused("finite_number", "must be a finite number")
    if value <= 0:
        raise AmountRefused("greater_than", "must be greater than 0")
    if value.adjusted() >= MAX_INTEGER_DIGITS:
        raise AmountRefused(
            "max_integer_digits", f"at most {MAX_INTEGER_DIGITS} digits before the point"
        )
    places = _places(value)
    if currency is not None and known_currency(currency):
        allowed = minor_units(currency)
        if places > allowed:
            code = currency.upper()
            if allowed == 0:
                reason = f"{code} has no minor unit: give a whole amount"
            else:
                reason = (
                    f"{code} has {allowed} minor unit{'s' if allowed > 1 else ''}: "
                    f"at most {allowed} digit{'s' if allowed > 1 else ''} after the point"
                )
            raise AmountRefused("currency_minor_units", reason)
        return value.quantize(Decimal(1).scaleb(-allowed))
    if places > MAX_SCALE:
        raise AmountRefused("max_decimal_places", f"at most {MAX_SCALE} digits after the point")
    return value


def plain(value: Decimal) -> Decimal:
    """`value` without padding zeros (`90.0000` → `90`, `12.5000` → `12.5`), never in
    exponent form: the spelling a person gave, whatever scale a column keeps."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


# -- how amounts and dates look --------------------------------------------------------

#: The euro has no home territory; its format defaults to its largest member's.
_SUPRANATIONAL_HOME = {"EUR": "DE"}


@lru_cache(maxsize=256)
def home_locale(currency: str) -> str:
    """The locale a currency's own users write it in, when the reader's is not known:
    the main language of the territory its ISO 4217 code is named after (JPY → ja_JP,
    USD → en_US, GBP → en_GB; EUR → de_DE), English elsewhere."""
    code = currency.upper()
    territory = _SUPRANATIONAL_HOME.get(code, code[:2])
    languages = get_global("territory_languages").get(territory, {})
    official = [
        (info.get("population_percent", 0), language)
        for language, info in languages.items()
        if info.get("official_status") in ("official", "de_facto_official")
    ]
    for _, language in sorted(official, reverse=True):
        candidate = f"{language}_{territory}"
        if parse_locale(candidate) is not None:
            return candidate
    return "en"


#: What a locale tag looks like (`de`, `de-DE`, `zh_Hant_TW`): nothing else reaches babel.
LOCALE_TAG = r"^[A-Za-z]{2,8}([-_][A-Za-z0-9]{1,8}){0,3}$"


@lru_cache(maxsize=256)
def parse_locale(tag: str) -> Locale | None:
    """A CLDR locale for a BCP 47 tag or babel identifier (`de-DE`, `ja_JP`), or None."""
    if re.match(LOCALE_TAG, tag) is None:
        return None
    try:
        return Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return None


def format_money(amount: Decimal, currency: str, locale: str) -> str:
    """`¥1,280`, `22,90 €`, `$1,299.00`: the amount as `locale` writes `currency`."""
    return str(format_currency(amount, currency.upper(), locale=locale))


def format_day(at: datetime, locale: str, *, with_year: bool = False) -> str:
    """A short date as `locale` writes it: `Mar 3`, `3. März`, `3月3日`."""
    return str(format_skeleton("yMMMd" if with_year else "MMMd", at, locale=locale))


def format_month(at: datetime, locale: str) -> str:
    """A month as `locale` writes it: `Mar 2026`, `März 2026`, `2026年3月`."""
    return str(format_skeleton("yMMM", at, locale=locale))


def format_time(at: datetime, locale: str) -> str:
    """A time of day as `locale` writes it: `14:00`, `2:00 PM`."""
    return str(format_skeleton("Hm", at, locale=locale))


def preferred_languages(accept_language: str) -> list[str]:
    """The language tags of an Accept-Language header, most wanted first (`*` and q=0 out)."""
    weighted = []
    for index, item in enumerate(accept_language.split(",")[:20]):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, index, tag.strip()))
    return [tag for _, _, tag in sorted(weighted)]
