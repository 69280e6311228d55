"""Languages, amounts and times as the reader writes them; a catalogue with every string."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.web.catalogue import marked_strings
from services.web.i18n import Formatter, catalogue, format_locale, negotiate, translate


@pytest.mark.parametrize(
    ("chosen", "account", "accept", "expected"),
    [
        (None, None, "ja-JP,ja;q=0.9,en;q=0.8", "ja"),
        (None, None, "fr-FR,fr;q=0.9", "en"),  # a language we do not speak: English
        (None, None, "fr;q=0.9,ja;q=0.5", "ja"),  # the first one we speak
        (None, "ja", "en-US", "ja"),  # the account's choice beats the browser
        ("en", "ja", "ja", "en"),  # this browser's switch beats the account
        ("xx", None, "", "en"),  # a made-up cookie is ignored
    ],
)
def test_the_language_is_the_switch_then_the_account_then_the_browser(
    chosen: str | None, account: str | None, accept: str, expected: str
) -> None:
    assert negotiate(chosen, account, accept) == expected


@pytest.mark.parametrize(
    ("language", "accept", "yen", "euro"),
    [
        ("en", "en-US", "¥1,280", "€22.90"),
        ("ja", "ja-JP", "￥1,280", "€22.90"),
        ("en", "en-DE,de;q=0.8", "1.280 JP¥", "22,90 €"),  # English words, German numbers
        ("en", "", "¥1,280", "€22.90"),
    ],
)
def test_amounts_are_written_as_the_reader_writes_them(
    language: str, accept: str, yen: str, euro: str
) -> None:
    fmt = Formatter(format_locale(language, accept), "UTC")
    assert fmt.money(Decimal("1280"), "JPY").replace("\xa0", " ") == yen
    assert fmt.money("22.90", "EUR").replace("\xa0", " ") == euro
    assert fmt.money(None, "JPY") == "—"


def test_times_are_shown_in_the_accounts_zone() -> None:
    at = datetime(2026, 12, 3, 9, 5, tzinfo=UTC)
    assert Formatter("en_US", "Asia/Tokyo").when(at) == "Dec 3, 2026 6:05\u202fPM"
    assert Formatter("ja_JP", "Asia/Tokyo").when(at.isoformat()) == "2026年12月3日 18:05"
    assert Formatter("en_GB", "Europe/London").when(at) == "3 Dec 2026 09:05"
    assert Formatter("en_US", "No/Such_Zone").when(at).endswith("9:05\u202fAM")  # UTC


def test_every_marked_string_has_a_japanese_translation_with_the_same_placeholders() -> None:
    japanese = catalogue("ja")
    missing = sorted(marked_strings() - japanese.keys())
    assert missing == [], f"untranslated (run python -m services.web.catalogue): {missing}"
    for text, translated in japanese.items():
        assert set(re.findall(r"%\(\w+\)s", text)) == set(re.findall(r"%\(\w+\)s", translated)), (
            text
        )
    assert translate("ja", "Sign in") == "サインイン"
    assert translate("ja", "%(n)s days", n=30) == "30 日"
    assert translate("en", "%(n)s days", n=30) == "30 days"
