"""Languages, amounts and times as the reader writes them. Pure.

- The UI speaks English and Japanese. A reader's language is, in order: the one they
  switched to in this browser (`pa_lang` cookie), the one their account chose, the first
  of their browser's `Accept-Language` we speak, English.
- Words come from gettext catalogues (`locales/<lang>/LC_MESSAGES/messages.po`, read with
  babel): English is the source text, Japanese the catalogue; a test extracts every
  string the templates and pages mark and requires a translation for each.
- Amounts and dates use CLDR (babel) in the reader's *format locale*: their language with
  the region of their browser when CLDR knows the pair (`en-GB` → `3 Dec 2026`, `JP¥`), else
  `en_US` / `ja_JP` (`¥1,280`, `￥1,280`, `€22.90`). The chart gets the same locale, so it
  and the page agree.
- Times are shown in the account's IANA time zone.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import DateTimePattern, get_time_format
from babel.messages.pofile import read_po
from babel.numbers import NumberPattern, get_currency_precision

from pricealert.money import format_money, parse_locale, preferred_languages

LANGUAGES: Final = ("en", "ja")
DEFAULT_LANGUAGE: Final = "en"
_DEFAULT_REGION: Final = {"en": "en_US", "ja": "ja_JP"}
LOCALES_DIR: Final = Path(__file__).parent / "locales"


def negotiate(chosen: str | None, account: str | None, accept_language: str) -> str:
    """The language to speak (see the module doc)."""
    for candidate in (chosen, account):
        if candidate in LANGUAGES:
            return str(candidate)
    for tag in preferred_languages(accept_language):
        language = tag.split("-")[0].split("_")[0].lower()
        if language in LANGUAGES:
            return language
    return DEFAULT_LANGUAGE


def format_locale(language: str, accept_language: str) -> str:
    """The CLDR locale amounts and dates are written in: `language` with the browser's
    region when CLDR knows the pair, else the language's usual one."""
    for tag in preferred_languages(accept_language):
        parts = tag.replace("_", "-").split("-")
        if len(parts) >= 2 and len(parts[-1]) == 2 and parts[-1].isalpha():
            candidate = f"{language}_{parts[-1].upper()}"
            if parse_locale(candidate) is not None:
                return candidate
    return _DEFAULT_REGION.get(language, "en_US")


@lru_cache(maxsize=len(LANGUAGES))
def catalogue(language: str) -> dict[str, str]:
    """msgid → translation for `language` (empty for English, the source language)."""
    path = LOCALES_DIR / language / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    return {
        str(message.id): str(message.string)
        for message in catalog
        if message.id and isinstance(message.id, str) and message.string and not message.fuzzy
    }


def translate(language: str, text: str, **values: object) -> str:
    """`text` in `language`, with `%(name)s` placeholders filled."""
    translated = catalogue(language).get(text, text)
    return translated % values if values else translated


def zone(name: str) -> ZoneInfo:
    """The time zone called `name`; UTC when the name is unknown here."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@lru_cache(maxsize=32)
def _patterns(locale: str) -> tuple[Locale, DateTimePattern, DateTimePattern, NumberPattern]:
    """A locale's CLDR patterns, parsed once: a page formats hundreds of amounts and times,
    and babel's one-call functions look each pattern up again every time."""
    cldr = Locale.parse(locale)
    day = cldr.datetime_skeletons["yMMMd"]
    assert isinstance(day, DateTimePattern)
    time_pattern = get_time_format("short", locale=cldr)
    currency = cldr.currency_formats["standard"]
    assert isinstance(currency, NumberPattern)
    return cldr, day, time_pattern, currency


class Formatter:
    """Amounts and times for one reader (the same text as `pricealert.money.format_money`
    and babel's date functions give, from patterns parsed once per locale)."""

    def __init__(self, locale: str, time_zone: str) -> None:
        self.locale = locale
        self.zone = zone(time_zone)
        self._cldr, self._day, self._time, self._currency = _patterns(locale)

    def money(self, amount: Decimal | str | None, currency: str | None) -> str:
        if amount is None or amount == "":
            return "—"
        value = Decimal(str(amount))
        if not currency:
            return format(value, "f")
        code = currency.upper()
        try:
            get_currency_precision(code)
        except Exception:  # an unknown code: babel's own function says it its way
            return format_money(value, code, self.locale)
        return str(self._currency.apply(value, self._cldr, currency=code, currency_digits=True))

    def when(self, at: datetime | str | None) -> str:
        """A date and time in the reader's zone: `Dec 3, 2026 6:05 PM`, `2026年12月3日 18:05`."""
        if at is None or at == "":
            return "—"
        moment = datetime.fromisoformat(at) if isinstance(at, str) else at
        local = moment.astimezone(self.zone)
        return f"{self._day.apply(local, self._cldr)} {self._time.apply(local, self._cldr)}"

    def day(self, at: datetime | str | None) -> str:
        if at is None or at == "":
            return "—"
        moment = datetime.fromisoformat(at) if isinstance(at, str) else at
        return str(self._day.apply(moment.astimezone(self.zone), self._cldr))
