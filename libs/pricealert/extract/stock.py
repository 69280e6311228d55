"""Availability from machine-readable values and from stock words a selector points at.

`read_availability` reads what structured data says (`https://schema.org/InStock`,
OpenGraph's `in stock`, `oos`) and `text_availability` reads the words a shop
shows where a configured stock selector points (`在庫あり`, `Sold out`). Both
answer an `Availability` (see `pricealert.availability` for what counts as in
stock) or None. Values outside the ten PriceAlert records are mapped to the
nearest one: MadeToOrder and OpenGraph's "available for order" are orders
that wait (BackOrder), Reserved is OutOfStock. Free text is read only where a
configured stock selector points; machine-readable availability is read
everywhere.

Stock words: 在庫あり/in stock → InStock; 残りわずか/only 3 left → LimitedAvailability;
予約受付中/pre-order → PreOrder; お取り寄せ/back-order → BackOrder (ordered in, so
it waits); 売り切れ/完売/sold out → SoldOut; 在庫切れ/品切れ/入荷待ち/out of stock →
OutOfStock (入荷待ち, "awaiting delivery", takes no orders); 販売終了/discontinued
→ Discontinued. Negative words are checked first: "在庫なし" must not be read as "在庫".
"""

from __future__ import annotations

import re
import unicodedata

from pricealert.availability import Availability

_SCHEMA_PREFIX = re.compile(r"^(?:https?://)?(?:www\.)?schema\.org/|^schema:", re.I)

_MACHINE = {
    "instock": Availability.IN_STOCK,
    "limitedavailability": Availability.LIMITED_AVAILABILITY,
    "onlineonly": Availability.ONLINE_ONLY,
    "instoreonly": Availability.IN_STORE_ONLY,
    "preorder": Availability.PRE_ORDER,
    "presale": Availability.PRE_SALE,
    "backorder": Availability.BACK_ORDER,
    "madetoorder": Availability.BACK_ORDER,
    "availablefororder": Availability.BACK_ORDER,
    "available": Availability.IN_STOCK,
    "outofstock": Availability.OUT_OF_STOCK,
    "soldout": Availability.SOLD_OUT,
    "discontinued": Availability.DISCONTINUED,
    "reserved": Availability.OUT_OF_STOCK,
    "oos": Availability.OUT_OF_STOCK,
    "unavailable": Availability.OUT_OF_STOCK,
}

# In order: the first pattern that matches names the availability.
_WORDS: tuple[tuple[re.Pattern[str], Availability], ...] = (
    (
        re.compile(
            r"販売終了|販売を終了|取扱終了|取り扱い終了|生産終了|no longer available|discontinued"
            r"|nicht mehr (?:lieferbar|erhältlich)",
            re.I,
        ),
        Availability.DISCONTINUED,
    ),
    (
        re.compile(
            r"売り切れ|売切れ|売切|完売|sold out|ausverkauft|épuisé|esgotado|agotado|wyprzedany",
            re.I,
        ),
        Availability.SOLD_OUT,
    ),
    (
        re.compile(
            r"在庫切れ|在庫なし|在庫無し|在庫がありません|品切れ|品切|入荷待ち|予約受付終了|予約終了"
            r"|out of stock|currently unavailable|not available|unavailable|nicht lieferbar"
            r"|nicht verfügbar|rupture de stock|indisponível|niedostępny|brak w magazynie",
            re.I,
        ),
        Availability.OUT_OF_STOCK,
    ),
    (
        re.compile(r"予約受付中|予約受付|予約可|予約販売|pre-?order|vorbestell", re.I),
        Availability.PRE_ORDER,
    ),
    (re.compile(r"お取り寄せ|取り寄せ|back-?order", re.I), Availability.BACK_ORDER),
    (
        re.compile(
            r"残りわずか|残り\d+|在庫僅少|在庫残り|only \d+ left|low stock|limited stock", re.I
        ),
        Availability.LIMITED_AVAILABILITY,
    ),
    (
        re.compile(
            r"在庫あり|在庫有り|在庫有|即納|即日発送|当日発送|販売中|カートに入れる|in stock"
            r"|available|add to (?:cart|bag|basket)|auf lager|lieferbar|verfügbar|en stock"
            r"|disponible|em estoque|disponível|dostępny|na stanie",
            re.I,
        ),
        Availability.IN_STOCK,
    ),
)


def read_availability(value: object) -> Availability | None:
    """Read a schema.org/OpenGraph availability (`https://schema.org/InStock`, `oos`)."""
    if not isinstance(value, str):
        return None
    key = _SCHEMA_PREFIX.sub("", value.strip())
    key = "".join(ch for ch in key.lower() if ch.isalnum())
    return _MACHINE.get(key)


def text_availability(text: str) -> Availability | None:
    """Read stock words a shop shows (`在庫あり`, `Sold out`) where a selector points."""
    text = unicodedata.normalize("NFKC", text).strip()
    if not text:
        return None
    machine = read_availability(text)
    if machine is not None:
        return machine
    for pattern, availability in _WORDS:
        if pattern.search(text):
            return availability
    return None
