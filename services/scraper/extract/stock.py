"""Whether a product can be ordered, from availability values and stock words.

`in_stock` answers "can I order this now?", as a user waiting for a
"back in stock" alert means it:

- True: InStock, LimitedAvailability, OnlineOnly, PreOrder, PreSale,
  BackOrder, MadeToOrder; 在庫あり, 残りわずか, 予約受付中, お取り寄せ. A
  pre-order or back-order is accepted now and secures the item, which is what
  the alert is for; a launch watcher wants the pre-order opening too.
- False: OutOfStock, SoldOut, Discontinued, InStoreOnly (the watched page cannot
  sell it), Reserved; 在庫切れ, 在庫なし, 売り切れ, 品切れ, 完売, 入荷待ち,
  販売終了. 入荷待ち ("awaiting delivery") is False because shops showing it
  do not take orders, unlike お取り寄せ ("ordered in for you").
- None: anything else. Free text is read only where a configured stock
  selector points; machine-readable availability is read everywhere.
"""

from __future__ import annotations

import re
import unicodedata

_SCHEMA_PREFIX = re.compile(r"^(?:https?://)?(?:www\.)?schema\.org/|^schema:", re.I)

_AVAILABILITY = {
    "instock": True,
    "limitedavailability": True,
    "onlineonly": True,
    "preorder": True,
    "presale": True,
    "backorder": True,
    "madetoorder": True,
    "availablefororder": True,
    "available": True,
    "outofstock": False,
    "soldout": False,
    "discontinued": False,
    "instoreonly": False,
    "reserved": False,
    "oos": False,
    "unavailable": False,
    "pending": None,
}

# Checked before the positive words: "在庫なし" must not be read as "在庫".
_NEGATIVE_WORDS = re.compile(
    r"在庫切れ|在庫なし|在庫無し|在庫がありません|売り切れ|売切れ|売切|完売|品切れ|品切|入荷待ち"
    r"|販売終了|販売を終了|取扱終了|取り扱い終了|予約受付終了|予約終了|sold out|out of stock"
    r"|currently unavailable|not available|unavailable|no longer available|discontinued"
    r"|ausverkauft|nicht lieferbar|nicht verfügbar|épuisé|rupture de stock|esgotado|indisponível"
    r"|agotado|niedostępny|wyprzedany|brak w magazynie",
    re.I,
)
_POSITIVE_WORDS = re.compile(
    r"在庫あり|在庫有り|在庫有|在庫残り|残りわずか|残り\d+|在庫僅少|予約受付中|予約受付|予約可|予約販売"
    r"|お取り寄せ|取り寄せ|即納|即日発送|当日発送|販売中|カートに入れる|in stock|only \d+ left"
    r"|available|add to (?:cart|bag|basket)|pre-?order|back-?order|auf lager|lieferbar|verfügbar"
    r"|en stock|disponible|em estoque|disponível|dostępny|na stanie",
    re.I,
)


def availability_to_stock(value: object) -> bool | None:
    """Read a schema.org/OpenGraph availability (`https://schema.org/InStock`, `oos`)."""
    if not isinstance(value, str):
        return None
    key = _SCHEMA_PREFIX.sub("", value.strip())
    key = "".join(ch for ch in key.lower() if ch.isalnum())
    return _AVAILABILITY.get(key)


def text_to_stock(text: str) -> bool | None:
    """Read stock words a shop shows (`在庫あり`, `Sold out`) where a selector points."""
    text = unicodedata.normalize("NFKC", text).strip()
    if not text:
        return None
    machine = availability_to_stock(text)
    if machine is not None:
        return machine
    if _NEGATIVE_WORDS.search(text):
        return False
    if _POSITIVE_WORDS.search(text):
        return True
    return None
